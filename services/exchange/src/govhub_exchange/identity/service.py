"""Agencies (the member registry), their OAuth clients, and token issuance."""

from __future__ import annotations

import asyncio
import secrets as pysecrets
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from govhub_common.event_contracts.exchange import Revocation
from govhub_common.files import open_private, private_directory
from govhub_common.outbox import add_events
from govhub_common.problem_codes import ProblemCode
from govhub_common.problems import Problem, not_found
from govhub_common.revocation import Kind, revoked_event, store_revocations
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
    verify_unknown_client,
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


# A revocation outlives the tokens it refuses by this much: the verifiers' clock leeway and
# a margin for the clocks of the exchange's replicas.
REVOCATION_MARGIN_SECONDS = 60


def _revoked_until(ttl_parameter: str = "ttl") -> str:
    """SQL for the instant after which no token issued before now is valid."""
    return f"now() + make_interval(secs => :{ttl_parameter} + {REVOCATION_MARGIN_SECONDS})"


async def _revoke(
    session: AsyncSession,
    *,
    kind: Kind,
    subject: str,
    generation: int,
    until: Any,
    reason: str,
) -> None:
    """Tokens of the subject with a lower generation are refused on every service: stored
    here at once, and sent to the others by an event in the same transaction."""
    revocation = Revocation(kind=kind, subject=subject, generation=generation, expires_at=until)
    await store_revocations(session, "exchange", [revocation])
    await add_events(session, "exchange", [revoked_event([revocation], reason=reason)])


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
        raise Problem(ProblemCode.AGENCY_EXISTS, f"agency {body.code} already exists")
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
    session: AsyncSession, *, actor: str, code: str, body: AgencyUpdate, token_ttl_seconds: int
) -> AgencyPublic:
    changes = body.model_dump(exclude_unset=True)
    # Disabling revokes every token of the agency's clients (a new generation).
    revoke = body.disabled is True
    row = (
        await session.execute(
            sa.text(
                "UPDATE exchange.agencies SET name = coalesce(:name, name), "
                "contact = coalesce(CAST(:contact AS jsonb), contact), "
                "disabled = coalesce(:disabled, disabled), "
                "token_generation = token_generation + CAST(:revoke AS int) WHERE code = :code "
                "RETURNING code, name, contact, disabled, created_at, token_generation, "
                f"{_revoked_until()} AS revoked_until"
            ),
            {
                "code": code,
                "revoke": int(revoke),
                "ttl": token_ttl_seconds,
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
    if revoke:
        await _revoke(
            session,
            kind="agency",
            subject=code,
            generation=row.token_generation,
            until=row.revoked_until,
            reason="agency.disabled",
        )
    await audit.append(session, actor=actor, action="agency.updated", agency=code, details=changes)
    return _agency(row)


def _check_scopes(scopes: Sequence[str]) -> None:
    unknown = sorted(set(scopes) - KNOWN_SCOPES)
    if unknown:
        raise Problem(
            ProblemCode.VALIDATION_FAILED,
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
        raise Problem(ProblemCode.CLIENT_EXISTS, f"client {client_id} already exists")
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
    session: AsyncSession, *, actor: str, agency: str, client_id: str, token_ttl_seconds: int
) -> ClientWithSecret:
    """A new secret; the tokens issued with the old one are revoked (a new generation)."""
    secret = new_secret()
    secret_hash = await asyncio.to_thread(hash_secret, secret)
    row = (
        await session.execute(
            sa.text(
                "UPDATE exchange.clients SET secret_hash = :hash, rotated_at = now(), "
                "token_generation = token_generation + 1 "
                f"WHERE client_id = :id AND agency_code = :agency RETURNING {_CLIENT_COLUMNS}, "
                f"token_generation, {_revoked_until()} AS revoked_until"
            ),
            {"id": client_id, "agency": agency, "hash": secret_hash, "ttl": token_ttl_seconds},
        )
    ).first()
    if row is None:
        raise not_found("client", client_id)
    await _revoke(
        session,
        kind="client",
        subject=client_id,
        generation=row.token_generation,
        until=row.revoked_until,
        reason="client.rotated",
    )
    await audit.append(
        session,
        actor=actor,
        action="client.rotated",
        agency=agency,
        details={"client_id": client_id},
    )
    return ClientWithSecret(**_client(row).model_dump(), client_secret=secret)


async def update_client(
    session: AsyncSession,
    *,
    actor: str,
    agency: str,
    client_id: str,
    body: ClientUpdate,
    token_ttl_seconds: int,
) -> ClientPublic:
    """Disabling the client or taking a scope away revokes its tokens (a new generation);
    adding scopes or enabling it does not."""
    if body.scopes is not None:
        _check_scopes(body.scopes)
    row = (
        await session.execute(
            sa.text(
                "WITH old AS (SELECT client_id, scopes FROM exchange.clients "
                "WHERE client_id = :id AND agency_code = :agency FOR UPDATE), "
                "revoking AS (SELECT old.client_id, (coalesce(:disabled, false) "
                "OR NOT (old.scopes <@ coalesce(CAST(:scopes AS text[]), old.scopes))) AS revoke "
                "FROM old) "
                "UPDATE exchange.clients c SET disabled = coalesce(:disabled, disabled), "
                "scopes = coalesce(CAST(:scopes AS text[]), scopes), "
                "token_generation = token_generation + CAST(revoking.revoke AS int) "
                "FROM revoking WHERE c.client_id = revoking.client_id "
                "RETURNING c.client_id, c.agency_code, c.secret_hash, c.scopes, c.disabled, "
                "c.created_at, c.rotated_at, c.token_generation, revoking.revoke, "
                f"{_revoked_until()} AS revoked_until"
            ),
            {
                "id": client_id,
                "agency": agency,
                "disabled": body.disabled,
                "scopes": sorted(body.scopes) if body.scopes is not None else None,
                "ttl": token_ttl_seconds,
            },
        )
    ).first()
    if row is None:
        raise not_found("client", client_id)
    if row.revoke:
        await _revoke(
            session,
            kind="client",
            subject=client_id,
            generation=row.token_generation,
            until=row.revoked_until,
            reason="client.disabled" if body.disabled else "client.scopes_removed",
        )
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
        ProblemCode.INVALID_CLIENT,
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
    # The generations are read with the scopes and the disabled flags, in one snapshot: a
    # token reflecting the state before a revoking change carries the old generation.
    row = (
        await session.execute(
            sa.text(
                "SELECT c.client_id, c.agency_code, c.secret_hash, c.scopes, c.disabled, "
                "c.token_generation, a.token_generation AS agency_generation, "
                "a.disabled AS agency_disabled FROM exchange.clients c "
                "JOIN exchange.agencies a ON a.code = c.agency_code WHERE c.client_id = :id"
            ),
            {"id": client_id},
        )
    ).first()
    if row is None:
        # The same scrypt as a wrong secret: neither the time nor the CPU an attacker
        # spends tells which client ids exist.
        await asyncio.to_thread(verify_unknown_client, client_secret)
        raise _invalid_client()
    valid = await asyncio.to_thread(cache.verify, client_id, client_secret, row.secret_hash)
    if not valid or row.disabled or row.agency_disabled:
        raise _invalid_client()
    granted = set(row.scopes)
    if requested_scopes:
        extra = set(requested_scopes) - granted
        if extra:
            raise Problem(
                ProblemCode.INVALID_SCOPE,
                f"the client may not request: {', '.join(sorted(extra))}",
                error="invalid_scope",
            )
        granted = set(requested_scopes)
    token = issuer.issue(
        row.agency_code,
        granted,
        ttl_seconds=ttl_seconds,
        client_id=client_id,
        client_generation=row.token_generation,
        agency_generation=row.agency_generation,
    )
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
    session: AsyncSession, *, configured_secret: str | None, home: Path, token_ttl_seconds: int
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
    # A changed bootstrap secret is a rotation: tokens issued with the old one are revoked.
    stored = (
        await session.execute(
            sa.text(
                "INSERT INTO exchange.clients (client_id, agency_code, secret_hash, scopes) "
                "VALUES (:id, :agency, :hash, ARRAY['operator']) ON CONFLICT (client_id) "
                "DO UPDATE SET secret_hash = EXCLUDED.secret_hash, rotated_at = now(), "
                "token_generation = clients.token_generation + 1 "
                f"RETURNING token_generation, {_revoked_until()} AS revoked_until"
            ),
            {
                "id": OPERATOR_CLIENT,
                "agency": HUB_AGENCY,
                "hash": secret_hash,
                "ttl": token_ttl_seconds,
            },
        )
    ).one()
    if row is not None:
        await _revoke(
            session,
            kind="client",
            subject=OPERATOR_CLIENT,
            generation=stored.token_generation,
            until=stored.revoked_until,
            reason="client.rotated",
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
        private_directory(home)
        try:
            handle = open_private(path, "x")
        except FileExistsError:  # another process got there first
            return path.read_text().strip()
        with handle:
            handle.write(new_secret() + "\n")
    return path.read_text().strip()
