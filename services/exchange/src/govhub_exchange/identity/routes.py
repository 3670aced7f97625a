"""Agencies, OAuth clients, the token endpoint and the JWKS."""

from __future__ import annotations

import base64
import binascii
from urllib.parse import parse_qsl, unquote_plus

from fastapi import APIRouter, Request

from govhub_common.contract import ProblemCode, problem_responses
from govhub_common.db import SessionDep
from govhub_common.pagination import Page, decode_cursor, page
from govhub_common.problems import Problem
from govhub_common.security import Operator
from govhub_exchange.deps import DEFAULT_LIMIT, Context, Cursor, Limit, Settings
from govhub_exchange.fields import AgencyPath, ClientPath
from govhub_exchange.identity import service
from govhub_exchange.identity.schemas import (
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
    return await service.create_agency(session, actor=who.agency, body=body)


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
        actor=who.agency,
        code=code,
        body=body,
        token_ttl_seconds=settings.token_ttl_seconds,
    )


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
    return await service.create_client(session, actor=who.agency, agency=code, body=body)


@router.get(
    "/agencies/{code}/clients",
    response_model=Page[ClientPublic],
    summary="List an agency's OAuth clients",
    responses=problem_responses(ProblemCode.INVALID_CURSOR),
)
async def list_clients(
    code: AgencyPath,
    session: SessionDep,
    who: Operator,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Page[ClientPublic]:
    """The agency's clients (never their secrets), in the order of their ids."""
    key = decode_cursor(cursor, str)
    rows = await service.list_clients(
        session, agency=code, after=key[0] if key else "", limit=limit + 1
    )
    return page(rows, limit, key=lambda c: (c.client_id,), item=lambda c: c)


@router.post(
    "/agencies/{code}/clients/{client_id}/rotate",
    response_model=ClientWithSecret,
    summary="Rotate a client's secret",
)
async def rotate_client(
    code: AgencyPath, client_id: ClientPath, session: SessionDep, who: Operator, settings: Settings
) -> ClientWithSecret:
    """A new secret for the client, shown in this reply only; the old one stops working at
    once, and tokens issued before are refused by every service within seconds."""
    return await service.rotate_client(
        session,
        actor=who.agency,
        agency=code,
        client_id=client_id,
        token_ttl_seconds=settings.token_ttl_seconds,
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
        actor=who.agency,
        agency=code,
        client_id=client_id,
        body=body,
        token_ttl_seconds=settings.token_ttl_seconds,
    )


# Longest value of a token request's field: ids are at most 64 characters, generated
# secrets 43; the limit leaves room for an operator's own secret without letting a client
# hand scrypt or the database megabytes.
MAX_FIELD_CHARACTERS = 512
_FORM = "application/x-www-form-urlencoded"
_FIELDS = ("grant_type", "scope", "client_id", "client_secret")


def _invalid_request(path: str, message: str) -> Problem:
    return Problem(
        ProblemCode.INVALID_REQUEST,
        f"the token request is malformed: {message}",
        error="invalid_request",
        errors=[{"path": path, "message": message}],
    )


def _checked(value: str, path: str) -> str:
    """A value PostgreSQL can hold and of a sane length (RFC 6749 fields are printable)."""
    if len(value) > MAX_FIELD_CHARACTERS:
        raise _invalid_request(path, f"longer than {MAX_FIELD_CHARACTERS} characters")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        raise _invalid_request(path, "contains a control character")
    return value


def _token_form(raw: bytes) -> dict[str, str]:
    """The form's fields, each at most once (RFC 6749 section 3.2) and checked."""
    try:
        text = raw.decode("utf-8")
        pairs = parse_qsl(text, keep_blank_values=True, errors="strict")
    except UnicodeDecodeError:
        raise _invalid_request("$", "the form is not UTF-8") from None
    form: dict[str, str] = {}
    for name, value in pairs:
        if name not in _FIELDS:
            continue  # RFC 6749 section 3.2: unknown parameters are ignored
        if name in form:
            raise _invalid_request(f"$.{name}", "given more than once")
        form[name] = _checked(value, f"$.{name}")
    return form


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
        return _checked(client_id, path), _checked(secret, path)
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
    summary="Get an access token (client credentials)",
    responses=problem_responses(
        ProblemCode.UNSUPPORTED_GRANT_TYPE,
        ProblemCode.INVALID_SCOPE,
        ProblemCode.INVALID_REQUEST,
        ProblemCode.INVALID_CLIENT,
        ProblemCode.UNSUPPORTED_MEDIA_TYPE,
        ProblemCode.RATE_LIMITED,
    ),
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": "Form fields (RFC 6749 section 4.4.2), each at most once and at "
            f"most {MAX_FIELD_CHARACTERS} characters. The client authenticates with HTTP "
            "Basic (`client_id:client_secret`) or with the two form fields.",
            "content": {
                _FORM: {
                    "schema": TokenRequest.model_json_schema(),
                    "example": TOKEN_REQUEST_EXAMPLE,
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

    Failed authentications are rate-limited per client id and per address (429
    `rate_limited` with Retry-After); successful ones are not counted. A token is refused
    by every service within seconds once its client is rotated, loses a scope or is
    disabled, or its agency is disabled."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != _FORM:
        raise Problem(ProblemCode.UNSUPPORTED_MEDIA_TYPE, f"send {_FORM} fields")
    form = _token_form(await request.body())
    if form.get("grant_type") != "client_credentials":
        raise Problem(
            ProblemCode.UNSUPPORTED_GRANT_TYPE,
            "grant_type must be client_credentials",
            error="unsupported_grant_type",
            errors=[{"path": "$.grant_type", "message": "must be client_credentials"}],
        )
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
        # Only a failed authentication keeps its reservation (an unknown scope or a
        # database outage is not an attempt at guessing).
        if not (isinstance(exc, Problem) and exc.code == "invalid_client"):
            throttle.succeeded(client_id, address)
        raise
    throttle.succeeded(client_id, address)
    return issued


@router.get("/.well-known/jwks.json", response_model=Jwks, summary="The hub's public keys")
async def get_jwks(ctx: Context) -> Jwks:
    """The public keys (JWKS) that verify the hub's tokens and signed audit checkpoints."""
    return Jwks.model_validate({"keys": [ctx.runtime.keys.jwk()]})
