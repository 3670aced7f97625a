"""Agencies, OAuth clients, the token endpoint and the JWKS."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated
from urllib.parse import unquote_plus

from fastapi import APIRouter, Depends, Request

from govhub_common.contract import ProblemCode, problem_responses
from govhub_common.db import SessionDep
from govhub_common.forms import FORM, MAX_FIELD_CHARACTERS, checked, invalid_request, read_form
from govhub_common.pagination import Page, decode_cursor, page
from govhub_common.persons import (
    ACCESS_TOKEN_TYPE,
    CONSOLE_CLIENT_ID,
    SUBJECT_TOKEN_TYPES,
    TOKEN_EXCHANGE_GRANT,
)
from govhub_common.problems import Problem, forbidden
from govhub_common.security import Operator, Principal, require_scope
from govhub_exchange.deps import DEFAULT_LIMIT, Context, Cursor, Limit, Settings
from govhub_exchange.fields import AgencyPath, ClientPath
from govhub_exchange.identity import persons, service
from govhub_exchange.identity.schemas import (
    SUBJECT_TOKEN_MAX_CHARACTERS,
    TOKEN_EXCHANGE_EXAMPLE,
    TOKEN_REQUEST_EXAMPLE,
    AgencyCreate,
    AgencyPublic,
    AgencyUpdate,
    ClientCreate,
    ClientPublic,
    ClientUpdate,
    ClientWithSecret,
    Jwks,
    TokenRequest,
    TokenResponse,
)
from govhub_exchange.identity.throttle import (
    client_address,
)
from govhub_exchange.state import exchange_state

router = APIRouter(prefix="/v1", tags=["identity"])


@router.post(
    "/agencies",
    status_code=201,
    response_model=AgencyPublic,
    summary="Register an agency",
    responses=problem_responses(ProblemCode.AGENCY_EXISTS),
)
async def create_agency(body: AgencyCreate, session: SessionDep, who: Operator) -> AgencyPublic:
    """Operators register an agency (a bureau of the city) by its code; its OAuth clients
    are created next. A code already taken is a 409 `agency_exists`."""
    return await service.create_agency(session, actor=who.actor, body=body)


@router.get(
    "/agencies",
    response_model=Page[AgencyPublic],
    summary="List agencies",
    responses=problem_responses(ProblemCode.INVALID_CURSOR),
)
async def list_agencies(
    session: SessionDep, who: Operator, cursor: Cursor = None, limit: Limit = DEFAULT_LIMIT
) -> Page[AgencyPublic]:
    """Every agency of the hub, disabled ones included, in the order of their codes."""
    key = decode_cursor(cursor, str)
    rows = await service.list_agencies(session, after=key[0] if key else "", limit=limit + 1)
    return page(rows, limit, key=lambda a: (a.code,), item=lambda a: a)


@router.get("/agencies/{code}", response_model=AgencyPublic, summary="Get an agency")
async def get_agency(code: AgencyPath, session: SessionDep, who: Operator) -> AgencyPublic:
    """One agency by its code."""
    return await service.get_agency(session, code=code)


@router.patch("/agencies/{code}", response_model=AgencyPublic, summary="Update an agency")
async def update_agency(
    code: AgencyPath, body: AgencyUpdate, session: SessionDep, who: Operator, settings: Settings
) -> AgencyPublic:
    """Change an agency's name or contact, or disable it: a disabled agency's clients get no
    more tokens, and the tokens they hold are refused by every service within seconds."""
    return await service.update_agency(
        session,
        actor=who.actor,
        code=code,
        body=body,
        token_ttl_seconds=settings.longest_token_ttl_seconds,
    )


# Data stewards keep their own agency's clients (persons.ROLE_SCOPES); operators any.
ClientKeeper = Annotated[Principal, Depends(require_scope("exchange:clients"))]
# The hub's own clients, kept by the exchange's start (identity/service.py).
_BUILT_IN_CLIENTS = frozenset({service.OPERATOR_CLIENT, CONSOLE_CLIENT_ID})


def _own_agency(who: Principal, code: str) -> None:
    if not who.is_operator and who.agency != code:
        raise forbidden(f"agency {who.agency} may only see and rotate its own clients")


@router.post(
    "/agencies/{code}/clients",
    status_code=201,
    response_model=ClientWithSecret,
    summary="Create an OAuth client",
    responses=problem_responses(ProblemCode.CLIENT_EXISTS),
)
async def create_client(
    code: AgencyPath, body: ClientCreate, session: SessionDep, who: Operator
) -> ClientWithSecret:
    """An OAuth client of the agency with the scopes it may request; its secret is in this
    reply only (the hub keeps a hash). Unknown scopes are a 422, a taken client id a 409."""
    return await service.create_client(session, actor=who.actor, agency=code, body=body)


@router.get(
    "/agencies/{code}/clients",
    response_model=Page[ClientPublic],
    summary="List an agency's OAuth clients",
    responses=problem_responses(ProblemCode.INVALID_CURSOR, ProblemCode.FORBIDDEN),
)
async def list_clients(
    code: AgencyPath,
    session: SessionDep,
    who: ClientKeeper,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Page[ClientPublic]:
    """The agency's clients (never their secrets), in the order of their ids. Operators see
    any agency's; `exchange:clients` (a data steward) its own agency's only (else 403)."""
    _own_agency(who, code)
    key = decode_cursor(cursor, str)
    rows = await service.list_clients(
        session, agency=code, after=key[0] if key else "", limit=limit + 1
    )
    return page(rows, limit, key=lambda c: (c.client_id,), item=lambda c: c)


@router.post(
    "/agencies/{code}/clients/{client_id}/rotate",
    response_model=ClientWithSecret,
    summary="Rotate a client's secret",
    responses=problem_responses(ProblemCode.FORBIDDEN),
)
async def rotate_client(
    code: AgencyPath,
    client_id: ClientPath,
    session: SessionDep,
    who: ClientKeeper,
    settings: Settings,
) -> ClientWithSecret:
    """A new secret for the client, shown in this reply only; the old one stops working at
    once, and tokens issued before are refused by every service within seconds. Operators
    rotate any client; `exchange:clients` (a data steward) its own agency's only (else 403),
    never the hub's built-in `operator` and `console` clients."""
    _own_agency(who, code)
    if not who.is_operator and client_id in _BUILT_IN_CLIENTS:
        raise forbidden(f"only operators may rotate the hub's built-in client {client_id}")
    return await service.rotate_client(
        session,
        actor=who.actor,
        agency=code,
        client_id=client_id,
        token_ttl_seconds=settings.longest_token_ttl_seconds,
    )


@router.patch(
    "/agencies/{code}/clients/{client_id}",
    response_model=ClientPublic,
    summary="Update an OAuth client",
)
async def update_client(
    code: AgencyPath,
    client_id: ClientPath,
    body: ClientUpdate,
    session: SessionDep,
    who: Operator,
    settings: Settings,
) -> ClientPublic:
    """Change a client's scopes or disable it; unknown scopes are a 422. Disabling it or
    taking a scope away revokes the tokens it holds: every service refuses them within
    seconds (a new token has the new scopes)."""
    return await service.update_client(
        session,
        actor=who.actor,
        agency=code,
        client_id=client_id,
        body=body,
        token_ttl_seconds=settings.longest_token_ttl_seconds,
    )


# The token request's fields and the longest value of each: ids are at most 64 characters,
# generated secrets 43; 512 leaves room for an operator's own secret without letting a client
# hand scrypt or the database megabytes; ID tokens and person tokens get room of their own.
_FIELDS = {
    "grant_type": MAX_FIELD_CHARACTERS,
    "scope": MAX_FIELD_CHARACTERS,
    "client_id": MAX_FIELD_CHARACTERS,
    "client_secret": MAX_FIELD_CHARACTERS,
    "subject_token": SUBJECT_TOKEN_MAX_CHARACTERS,
    "subject_token_type": MAX_FIELD_CHARACTERS,
    "requested_token_type": MAX_FIELD_CHARACTERS,
}
_WHAT = "the token request"
_GRANTS = ("client_credentials", TOKEN_EXCHANGE_GRANT)


def _client_credentials(request: Request, form: dict[str, str]) -> tuple[str, str]:
    """HTTP Basic (RFC 6749 section 2.3.1: id and secret form-encoded, then base64) or the
    form's client_id and client_secret."""
    header = request.headers.get("authorization", "")
    if header.lower().startswith("basic "):
        try:
            decoded = base64.b64decode(header[6:].strip(), validate=True).decode()
            client_id, _, secret = decoded.partition(":")
            client_id = unquote_plus(client_id, errors="strict")
            secret = unquote_plus(secret, errors="strict")
        except (binascii.Error, UnicodeDecodeError):
            raise Problem(
                ProblemCode.INVALID_CLIENT, "malformed Basic credentials", error="invalid_client"
            ) from None
        path = "header:$.authorization"
        return checked(client_id, path, what=_WHAT), checked(secret, path, what=_WHAT)
    form_id, form_secret = form.get("client_id"), form.get("client_secret")
    if not form_id or not form_secret:
        raise Problem(
            ProblemCode.INVALID_CLIENT,
            "client_id and client_secret are required (form fields or HTTP Basic)",
            error="invalid_client",
        )
    return form_id, form_secret


@router.post(
    "/oauth/token",
    response_model=TokenResponse,
    response_model_exclude_none=True,
    summary="Get an access token (client credentials, or token exchange for the console)",
    responses=problem_responses(
        ProblemCode.UNSUPPORTED_GRANT_TYPE,
        ProblemCode.INVALID_SCOPE,
        ProblemCode.INVALID_REQUEST,
        ProblemCode.INVALID_GRANT,
        ProblemCode.UNAUTHORIZED_CLIENT,
        ProblemCode.INVALID_CLIENT,
        ProblemCode.UNSUPPORTED_MEDIA_TYPE,
        ProblemCode.RATE_LIMITED,
        ProblemCode.IDENTITY_PROVIDER_UNAVAILABLE,
    ),
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": "Form fields (RFC 6749 section 4.4.2; RFC 8693 section 2.1 for "
            f"token exchange), each at most once and at most {MAX_FIELD_CHARACTERS} "
            f"characters ({SUBJECT_TOKEN_MAX_CHARACTERS} for `subject_token`); unknown "
            "fields are ignored. The client authenticates with HTTP Basic "
            "(`client_id:client_secret`) or with the two form fields.",
            "content": {
                FORM: {
                    "schema": TokenRequest.model_json_schema(),
                    "examples": {
                        "client_credentials": {
                            "summary": "An agency's integration",
                            "value": TOKEN_REQUEST_EXAMPLE,
                        },
                        "token_exchange": {
                            "summary": "The console, for a person signed in with single sign-on",
                            "value": TOKEN_EXCHANGE_EXAMPLE,
                        },
                    },
                }
            },
        }
    },
)
async def issue_token(
    request: Request, session: SessionDep, ctx: Context, settings: Settings
) -> TokenResponse:
    """OAuth 2.0 client credentials grant (RFC 6749 section 4.4): a short-lived signed token
    for the client's agency with the requested scopes (all of the client's when `scope` is
    omitted). Errors are problem+json whose `code` (and `error`) is the RFC's error code.

    Token exchange (RFC 8693, `grant_type=urn:ietf:params:oauth:grant-type:token-exchange`),
    for the console's client `console` only (another client: 400 `unauthorized_client`):
    the `subject_token` names a signed-in person (an ID token of the city's identity
    provider, the console's assertion for a local account, or the person's current token to
    renew it); the reply is the person's token: `sub` = the person's agency, `scope` = the
    scopes of the person's role, and the claims `person`, `person_name`, `role`,
    `auth_time` and `act` = `{"sub": "console"}`, with `issued_token_type`. A subject token
    or a person the hub refuses is a 400 `invalid_grant` saying why.

    Failed authentications, and refused subject tokens, are rate-limited per client id and
    per address (429 `rate_limited` with Retry-After); successful ones are not counted. A
    token is refused by every service within seconds once its client is rotated, loses a
    scope or is disabled, or its agency is disabled."""
    form = await read_form(request, _FIELDS, what=_WHAT)
    grant_type = form.get("grant_type")
    if grant_type not in _GRANTS:
        raise Problem(
            ProblemCode.UNSUPPORTED_GRANT_TYPE,
            f"grant_type must be client_credentials or {TOKEN_EXCHANGE_GRANT}",
            error="unsupported_grant_type",
            errors=[{"path": "$.grant_type", "message": "must be one of " + ", ".join(_GRANTS)}],
        )
    if grant_type == TOKEN_EXCHANGE_GRANT:
        _check_exchange_form(form)
    client_id, secret = _client_credentials(request, form)
    state = exchange_state(ctx)
    throttle = state.token_throttle
    address = client_address(
        request.client.host if request.client else None,
        request.headers.get("x-forwarded-for"),
        state.trusted_proxies,
    )
    wait = throttle.reserve(client_id, address)
    if wait is not None:
        raise Problem(
            ProblemCode.RATE_LIMITED,
            "too many failed attempts for this client or from this address; retry later",
            headers={"Retry-After": str(wait)},
            error="rate_limited",
        )
    issuer, cache = state.issuer, state.secret_cache
    scopes = form.get("scope", "").split() or None
    try:
        if grant_type == TOKEN_EXCHANGE_GRANT:
            issued = await persons.exchange_token(
                session,
                client_id=client_id,
                client_secret=secret,
                subject_token=form["subject_token"],
                subject_token_type=form["subject_token_type"],
                requested_scopes=scopes,
                issuer=issuer,
                verifier=ctx.runtime.verifier,
                oidc=state.oidc,
                cache=cache,
                settings=settings,
            )
        else:
            issued = await service.issue_token(
                session,
                client_id=client_id,
                client_secret=secret,
                requested_scopes=scopes,
                issuer=issuer,
                cache=cache,
                ttl_seconds=settings.token_ttl_seconds,
            )
    except Exception as exc:
        # Only a failed authentication or a refused subject token keeps its reservation (an
        # unknown scope, a person's role or a database outage is not an attempt at guessing).
        counted = isinstance(exc, persons.SubjectRefused) or (
            isinstance(exc, Problem) and exc.code == ProblemCode.INVALID_CLIENT
        )
        if not counted:
            throttle.succeeded(client_id, address)
        raise
    throttle.succeeded(client_id, address)
    return issued


def _check_exchange_form(form: dict[str, str]) -> None:
    """RFC 8693 section 2.1: subject_token and its type are required; only an access token
    is issued."""
    for name in ("subject_token", "subject_token_type"):
        if not form.get(name):
            raise invalid_request(f"$.{name}", "required for token exchange", what=_WHAT)
    if form["subject_token_type"] not in SUBJECT_TOKEN_TYPES:
        raise invalid_request(
            "$.subject_token_type", "must be one of " + ", ".join(SUBJECT_TOKEN_TYPES), what=_WHAT
        )
    requested = form.get("requested_token_type")
    if requested and requested != ACCESS_TOKEN_TYPE:
        raise invalid_request(
            "$.requested_token_type", f"only {ACCESS_TOKEN_TYPE} is issued", what=_WHAT
        )


@router.get("/.well-known/jwks.json", response_model=Jwks, summary="The hub's public keys")
async def get_jwks(ctx: Context) -> Jwks:
    """The public keys (JWKS) that verify the hub's tokens and signed audit checkpoints."""
    return Jwks.model_validate({"keys": [ctx.runtime.keys.jwk()]})
