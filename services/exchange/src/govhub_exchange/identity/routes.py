"""Agencies, OAuth clients, the token endpoint and the JWKS."""

from __future__ import annotations

import base64
import binascii
from urllib.parse import parse_qs, unquote_plus

from fastapi import APIRouter, Request

from govhub_common.contract import ProblemCode, problem_responses
from govhub_common.db import SessionDep
from govhub_common.pagination import Page, decode_cursor, page
from govhub_common.problems import Problem
from govhub_common.security import Operator, TokenIssuer
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
from govhub_exchange.identity.secrets import VerifiedSecretCache

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
    code: AgencyPath, body: AgencyUpdate, session: SessionDep, who: Operator
) -> AgencyPublic:
    """Change an agency's name or contact, or disable it: a disabled agency's clients get no
    more tokens (tokens already issued run out within their lifetime)."""
    return await service.update_agency(session, actor=who.agency, code=code, body=body)


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
    code: AgencyPath, client_id: ClientPath, session: SessionDep, who: Operator
) -> ClientWithSecret:
    """A new secret for the client, shown in this reply only; the old one stops working at
    once (tokens already issued run out within their lifetime)."""
    return await service.rotate_client(session, actor=who.agency, agency=code, client_id=client_id)


@router.patch(
    "/agencies/{code}/clients/{client_id}",
    response_model=ClientPublic,
    summary="Update an OAuth client",
)
async def update_client(
    code: AgencyPath, client_id: ClientPath, body: ClientUpdate, session: SessionDep, who: Operator
) -> ClientPublic:
    """Change a client's scopes or disable it; unknown scopes are a 422."""
    return await service.update_client(
        session, actor=who.agency, agency=code, client_id=client_id, body=body
    )


def _client_credentials(request: Request, form: dict[str, str]) -> tuple[str, str]:
    """HTTP Basic (RFC 6749 section 2.3.1: id and secret form-encoded, then base64) or the
    form's client_id and client_secret."""
    header = request.headers.get("authorization", "")
    if header.lower().startswith("basic "):
        try:
            decoded = base64.b64decode(header[6:].strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise Problem(
                401, "invalid_client", "malformed Basic credentials", error="invalid_client"
            ) from None
        client_id, _, secret = decoded.partition(":")
        return unquote_plus(client_id), unquote_plus(secret)
    form_id, form_secret = form.get("client_id"), form.get("client_secret")
    if not form_id or not form_secret:
        raise Problem(
            401,
            "invalid_client",
            "client_id and client_secret are required (form fields or HTTP Basic)",
            error="invalid_client",
        )
    return form_id, form_secret


_FORM = "application/x-www-form-urlencoded"


@router.post(
    "/oauth/token",
    response_model=TokenResponse,
    summary="Get an access token (client credentials)",
    responses=problem_responses(
        ProblemCode.UNSUPPORTED_GRANT_TYPE,
        ProblemCode.INVALID_SCOPE,
        ProblemCode.INVALID_CLIENT,
        ProblemCode.UNSUPPORTED_MEDIA_TYPE,
    ),
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": "Form fields (RFC 6749 section 4.4.2). The client authenticates "
            "with HTTP Basic (`client_id:client_secret`) or with the two form fields.",
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
    omitted). Errors are problem+json whose `code` (and `error`) is the RFC's error code."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != _FORM:
        raise Problem(415, "unsupported_media_type", f"send {_FORM} fields")
    raw = (await request.body()).decode("utf-8", errors="replace")
    form = {k: v[0] for k, v in parse_qs(raw, keep_blank_values=True).items()}
    if form.get("grant_type") != "client_credentials":
        raise Problem(
            400,
            "unsupported_grant_type",
            "grant_type must be client_credentials",
            error="unsupported_grant_type",
            errors=[{"path": "$.grant_type", "message": "must be client_credentials"}],
        )
    client_id, secret = _client_credentials(request, form)
    issuer = ctx.state.get("issuer")
    if issuer is None:
        issuer = ctx.state["issuer"] = TokenIssuer(
            ctx.runtime.keys,
            issuer=ctx.runtime.settings.jwt_issuer,
            audience=ctx.runtime.settings.jwt_audience,
        )
    cache = ctx.state.setdefault("secret_cache", VerifiedSecretCache(settings.secret_cache_seconds))
    scopes = form.get("scope", "").split() or None
    return await service.issue_token(
        session,
        client_id=client_id,
        client_secret=secret,
        requested_scopes=scopes,
        issuer=issuer,
        cache=cache,
        ttl_seconds=settings.token_ttl_seconds,
    )


@router.get("/.well-known/jwks.json", response_model=Jwks, summary="The hub's public keys")
async def get_jwks(ctx: Context) -> Jwks:
    """The public keys (JWKS) that verify the hub's tokens and signed audit checkpoints."""
    return Jwks.model_validate({"keys": [ctx.runtime.keys.jwk()]})
