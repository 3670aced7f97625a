"""Agencies, OAuth clients, the token endpoint and the JWKS."""

from __future__ import annotations

import base64
import binascii
from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Request

from govhub_common.db import SessionDep
from govhub_common.problems import Problem
from govhub_common.security import Operator, TokenIssuer
from govhub_exchange.deps import Context, Limit, Settings
from govhub_exchange.identity import service
from govhub_exchange.identity.schemas import (
    AgencyCreate,
    AgencyPublic,
    AgencyUpdate,
    ClientCreate,
    ClientPublic,
    ClientUpdate,
    ClientWithSecret,
    TokenResponse,
)
from govhub_exchange.identity.secrets import VerifiedSecretCache

router = APIRouter(prefix="/v1", tags=["identity"])


@router.post("/agencies", status_code=201, response_model=AgencyPublic)
async def create_agency(body: AgencyCreate, session: SessionDep, who: Operator) -> AgencyPublic:
    return await service.create_agency(session, actor=who.agency, body=body)


@router.get("/agencies")
async def list_agencies(
    session: SessionDep, who: Operator, after: str = "", limit: Limit = 100
) -> dict[str, Any]:
    agencies = await service.list_agencies(session, after=after, limit=limit)
    return {"data": agencies, "next": agencies[-1].code if len(agencies) == limit else None}


@router.get("/agencies/{code}", response_model=AgencyPublic)
async def get_agency(code: str, session: SessionDep, who: Operator) -> AgencyPublic:
    return await service.get_agency(session, code=code)


@router.patch("/agencies/{code}", response_model=AgencyPublic)
async def update_agency(
    code: str, body: AgencyUpdate, session: SessionDep, who: Operator
) -> AgencyPublic:
    return await service.update_agency(session, actor=who.agency, code=code, body=body)


@router.post("/agencies/{code}/clients", status_code=201, response_model=ClientWithSecret)
async def create_client(
    code: str, body: ClientCreate, session: SessionDep, who: Operator
) -> ClientWithSecret:
    return await service.create_client(session, actor=who.agency, agency=code, body=body)


@router.get("/agencies/{code}/clients")
async def list_clients(code: str, session: SessionDep, who: Operator) -> dict[str, Any]:
    return {"data": await service.list_clients(session, agency=code), "next": None}


@router.post("/agencies/{code}/clients/{client_id}/rotate", response_model=ClientWithSecret)
async def rotate_client(
    code: str, client_id: str, session: SessionDep, who: Operator
) -> ClientWithSecret:
    return await service.rotate_client(session, actor=who.agency, agency=code, client_id=client_id)


@router.patch("/agencies/{code}/clients/{client_id}", response_model=ClientPublic)
async def update_client(
    code: str, client_id: str, body: ClientUpdate, session: SessionDep, who: Operator
) -> ClientPublic:
    return await service.update_client(
        session, actor=who.agency, agency=code, client_id=client_id, body=body
    )


def _client_credentials(request: Request, form: dict[str, str]) -> tuple[str, str]:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("basic "):
        try:
            decoded = base64.b64decode(header[6:], validate=True).decode()
            client_id, _, secret = decoded.partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise Problem(401, "invalid_client", "malformed Basic credentials") from None
        return client_id, secret
    form_id, form_secret = form.get("client_id"), form.get("client_secret")
    if not form_id or not form_secret:
        raise Problem(
            401,
            "invalid_client",
            "client_id and client_secret are required (form fields or HTTP Basic)",
            error="invalid_client",
        )
    return form_id, form_secret


@router.post("/oauth/token", response_model=TokenResponse)
async def token(
    request: Request, session: SessionDep, ctx: Context, settings: Settings
) -> TokenResponse:
    """OAuth 2.0 client credentials grant (RFC 6749 section 4.4), form-encoded."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip()
    if content_type != "application/x-www-form-urlencoded":
        raise Problem(
            415, "unsupported_media_type", "send application/x-www-form-urlencoded fields"
        )
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


@router.get("/.well-known/jwks.json")
async def jwks(ctx: Context) -> dict[str, Any]:
    """The public keys that verify the hub's tokens and audit checkpoints."""
    return {"keys": [ctx.runtime.keys.jwk()]}
