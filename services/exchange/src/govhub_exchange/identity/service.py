"""Agencies (the member registry), their OAuth clients, and token issuance."""

from __future__ import annotations

import asyncio
import os
import secrets as pysecrets
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from govhub_common.problems import Problem, not_found
from govhub_common.security import TokenIssuer
from govhub_exchange.audit import service as audit
from govhub_exchange.identity.schemas import (
    KNOWN_SCOPES,
    AgencyCreate,
    AgencyPublic,
    AgencyUpdate,
    ClientCreate,
    ClientPublic,
    ClientUpdate,
    ClientWithSecret,
    TokenResponse,
)
from govhub_exchange.identity.secrets import (
    VerifiedSecretCache,
    hash_secret,
    new_secret,
    verify_secret,
)

HUB_AGENCY = "gz-datacenter"
HUB_AGENCY_NAME = "广州市电子政务数据中心"
OPERATOR_CLIENT = "operator"


def _agency(row: Any) -> AgencyPublic:
    contact = row.contact if isinstance(row.contact, dict) else orjson.loads(row.contact)
    return AgencyPublic(
        code=row.code,
        name=row.name,
        contact=contact,
        disabled=row.disabled,
        created_at=row.created_at,
    )


def _client(row: Any) -> ClientPublic:
    return ClientPublic(
        client_id=row.client_id,
        agency=row.agency_code,
        scopes=list(row.scopes),
        disabled=row.disabled,
        created_at=row.created_at,
        rotated_at=row.rotated_at,
    )


_CLIENT_COLUMNS = "client_id, agency_code, secret_hash, scopes, disabled, created_at, rotated_at"


async def create_agency(session: AsyncSession, *, actor: str, body: AgencyCreate) -> AgencyPublic:
    row = (
        await session.execute(
            sa.text(
                "INSERT INTO exchange.agencies (code, name, contact) "
                "VALUES (:code, :name, CAST(:contact AS jsonb)) ON CONFLICT DO NOTHING "
                "RETURNING code, name, contact, disabled, created_at"
            ),
            {"code": body.code, "name": body.name, "contact": orjson.dumps(body.contact).decode()},
        )
    ).first()
    if row is None:
        raise Problem(409, "agency_exists", f"agency {body.code} already exists")
    await audit.append(
        session,
        actor=actor,
        action="agency.created",
        agency=body.code,
        details={"name": body.name},
    )
    return _agency(row)


async def get_agency(session: AsyncSession, *, code: str) -> AgencyPublic:
    row = (
        await session.execute(
            sa.text(
                "SELECT code, name, contact, disabled, created_at FROM exchange.agencies "
                "WHERE code = :code"
            ),
            {"code": code},
        )
    ).first()
    if row is None:
        raise not_found("agency", code)
    return _agency(row)


async def list_agencies(session: AsyncSession, *, after: str, limit: int) -> list[AgencyPublic]:
    rows = await session.execute(
        sa.text(
            "SELECT code, name, contact, disabled, created_at FROM exchange.agencies "
            "WHERE code > :after ORDER BY code LIMIT :limit"
        ),
        {"after": after, "limit": limit},
    )
    return [_agency(row) for row in rows]


async def update_agency(
    session: AsyncSession, *, actor: str, code: str, body: AgencyUpdate
) -> AgencyPublic:
    changes = body.model_dump(exclude_unset=True)
    row = (
        await session.execute(
            sa.text(
                "UPDATE exchange.agencies SET name = coalesce(:name, name), "
                "contact = coalesce(CAST(:contact AS jsonb), contact), "
                "disabled = coalesce(:disabled, disabled) WHERE code = :code "
                "RETURNING code, name, contact, disabled, created_at"
            ),
            {
                "code": code,
                "name": changes.get("name"),
                "contact": orjson.dumps(changes["contact"]).decode()
                if changes.get("contact") is not None
                else None,
                "disabled": changes.get("disabled"),
            },
        )
    ).first()
    if row is None:
        raise not_found("agency", code)
    await audit.append(session, actor=actor, action="agency.updated", agency=code, details=changes)
    return _agency(row)


def _check_scopes(scopes: Sequence[str]) -> None:
    unknown = sorted(set(scopes) - KNOWN_SCOPES)
    if unknown:
        raise Problem(
            422,
            "validation_failed",
            f"unknown scopes: {', '.join(unknown)}",
            errors=[{"path": "$.scopes", "message": f"unknown scope {s}"} for s in unknown],
        )


async def create_client(
    session: AsyncSession, *, actor: str, agency: str, body: ClientCreate
) -> ClientWithSecret:
    await get_agency(session, code=agency)
    _check_scopes(body.scopes)
    client_id = body.client_id or f"{agency}-{pysecrets.token_hex(4)}"
    secret = new_secret()
    secret_hash = await asyncio.to_thread(hash_secret, secret)
    row = (
        await session.execute(
            sa.text(
                "INSERT INTO exchange.clients (client_id, agency_code, secret_hash, scopes) "
                "VALUES (:id, :agency, :hash, :scopes) ON CONFLICT DO NOTHING "
                f"RETURNING {_CLIENT_COLUMNS}"
            ),
            {"id": client_id, "agency": agency, "hash": secret_hash, "scopes": sorted(body.scopes)},
        )
    ).first()
    if row is None:
        raise Problem(409, "client_exists", f"client {client_id} already exists")
    await audit.append(
        session,
        actor=actor,
        action="client.created",
        agency=agency,
        details={"client_id": client_id, "scopes": sorted(body.scopes)},
    )
    return ClientWithSecret(**_client(row).model_dump(), client_secret=secret)


async def list_clients(
    session: AsyncSession, *, agency: str, after: str, limit: int
) -> list[ClientPublic]:
    rows = await session.execute(
        sa.text(
            f"SELECT {_CLIENT_COLUMNS} FROM exchange.clients WHERE agency_code = :a "
            "AND client_id > :after ORDER BY client_id LIMIT :limit"
        ),
        {"a": agency, "after": after, "limit": limit},
    )
    return [_client(row) for row in rows]


async def rotate_client(
    session: AsyncSession, *, actor: str, agency: str, client_id: str
) -> ClientWithSecret:
    secret = new_secret()
    secret_hash = await asyncio.to_thread(hash_secret, secret)
    row = (
        await session.execute(
            sa.text(
                "UPDATE exchange.clients SET secret_hash = :hash, rotated_at = now() "
                f"WHERE client_id = :id AND agency_code = :agency RETURNING {_CLIENT_COLUMNS}"
            ),
            {"id": client_id, "agency": agency, "hash": secret_hash},
        )
    ).first()
    if row is None:
        raise not_found("client", client_id)
    await audit.append(
        session,
        actor=actor,
        action="client.rotated",
        agency=agency,
        details={"client_id": client_id},
    )
    return ClientWithSecret(**_client(row).model_dump(), client_secret=secret)


async def update_client(
    session: AsyncSession, *, actor: str, agency: str, client_id: str, body: ClientUpdate
) -> ClientPublic:
    if body.scopes is not None:
        _check_scopes(body.scopes)
    row = (
        await session.execute(
            sa.text(
                "UPDATE exchange.clients SET disabled = coalesce(:disabled, disabled), "
                "scopes = coalesce(:scopes, scopes) "
                f"WHERE client_id = :id AND agency_code = :agency RETURNING {_CLIENT_COLUMNS}"
            ),
            {
                "id": client_id,
                "agency": agency,
                "disabled": body.disabled,
                "scopes": sorted(body.scopes) if body.scopes is not None else None,
            },
        )
    ).first()
    if row is None:
        raise not_found("client", client_id)
    await audit.append(
        session,
        actor=actor,
        action="client.updated",
        agency=agency,
        details={"client_id": client_id, **body.model_dump(exclude_unset=True)},
    )
    return _client(row)


def _invalid_client() -> Problem:
    return Problem(
        401,
        "invalid_client",
        "client authentication failed",
        headers={"WWW-Authenticate": 'Basic realm="govhub"'},
        error="invalid_client",
    )


async def issue_token(
    session: AsyncSession,
    *,
    client_id: str,
    client_secret: str,
    requested_scopes: list[str] | None,
    issuer: TokenIssuer,
    cache: VerifiedSecretCache,
    ttl_seconds: int,
) -> TokenResponse:
    """RFC 6749 section 4.4: client credentials -> a short-lived JWT for the agency."""
    row = (
        await session.execute(
            sa.text(
                "SELECT c.client_id, c.agency_code, c.secret_hash, c.scopes, c.disabled, "
                "a.disabled AS agency_disabled FROM exchange.clients c "
                "JOIN exchange.agencies a ON a.code = c.agency_code WHERE c.client_id = :id"
            ),
            {"id": client_id},
        )
    ).first()
    if row is None or row.disabled or row.agency_disabled:
        raise _invalid_client()
    valid = await asyncio.to_thread(cache.verify, client_id, client_secret, row.secret_hash)
    if not valid:
        raise _invalid_client()
    granted = set(row.scopes)
    if requested_scopes:
        extra = set(requested_scopes) - granted
        if extra:
            raise Problem(
                400,
                "invalid_scope",
                f"the client may not request: {', '.join(sorted(extra))}",
                error="invalid_scope",
            )
        granted = set(requested_scopes)
    token = issuer.issue(row.agency_code, granted, ttl_seconds=ttl_seconds, client_id=client_id)
    await audit.append(
        session,
        actor=row.agency_code,
        action="token.issued",
        agency=row.agency_code,
        details={"client_id": client_id, "scopes": sorted(granted)},
    )
    return TokenResponse(
        access_token=token, expires_in=ttl_seconds, scope=" ".join(sorted(granted))
    )


async def ensure_hub_operator(
    session: AsyncSession, *, configured_secret: str | None, home: Path
) -> str:
    """The hub agency and the `operator` client exist; returns the operator secret.

    The secret comes from GOVHUB_OPERATOR_BOOTSTRAP_SECRET or (development) a file under
    GOVHUB_HOME written once with mode 0600.
    """
    if configured_secret:
        secret = configured_secret
    else:
        secret = await asyncio.to_thread(_development_secret, home)
    await session.execute(
        sa.text(
            "INSERT INTO exchange.agencies (code, name) VALUES (:code, :name) ON CONFLICT DO NOTHING"
        ),
        {"code": HUB_AGENCY, "name": HUB_AGENCY_NAME},
    )
    row = (
        await session.execute(
            sa.text("SELECT secret_hash FROM exchange.clients WHERE client_id = :id FOR UPDATE"),
            {"id": OPERATOR_CLIENT},
        )
    ).first()
    if row is not None and await asyncio.to_thread(verify_secret, secret, row.secret_hash):
        return secret
    secret_hash = await asyncio.to_thread(hash_secret, secret)
    await session.execute(
        sa.text(
            "INSERT INTO exchange.clients (client_id, agency_code, secret_hash, scopes) "
            "VALUES (:id, :agency, :hash, ARRAY['operator']) ON CONFLICT (client_id) DO UPDATE "
            "SET secret_hash = EXCLUDED.secret_hash, rotated_at = now()"
        ),
        {"id": OPERATOR_CLIENT, "agency": HUB_AGENCY, "hash": secret_hash},
    )
    await audit.append(
        session,
        actor="system",
        action="client.bootstrapped",
        agency=HUB_AGENCY,
        details={"client_id": OPERATOR_CLIENT},
    )
    return secret


def _development_secret(home: Path) -> str:
    """Read, or create once with mode 0600, the operator secret under GOVHUB_HOME."""
    path = home / "operator-secret"
    if not path.exists():
        home.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process got there first
            return path.read_text().strip()
        with os.fdopen(fd, "w") as handle:
            handle.write(new_secret() + "\n")
    return path.read_text().strip()
