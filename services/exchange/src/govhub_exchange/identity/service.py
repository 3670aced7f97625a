"""Agencies (the member registry), their OAuth clients, and token issuance. Plain reads and
writes, through the models (identity/models.py)."""

from __future__ import annotations

import asyncio
import secrets as pysecrets
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from govhub_common.event_contracts.exchange import Revocation
from govhub_common.files import open_private, private_directory
from govhub_common.model_fields import jsonb_value
from govhub_common.outbox import add_events
from govhub_common.persons import CONSOLE_CLIENT_ID
from govhub_common.problem_codes import ProblemCode
from govhub_common.problems import Problem, not_found
from govhub_common.revocation import Kind, revoked_event, store_revocations
from govhub_common.security import TokenIssuer
from govhub_exchange.audit import service as audit
from govhub_exchange.identity.models import Agency, Client
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

# Agencies and clients are read as rows of the columns the API shows, never as objects the
# session keeps: the updates below are statements, which kept objects would not see.
_AGENCY = (
    col(Agency.code),
    col(Agency.name),
    col(Agency.contact),
    col(Agency.disabled),
    col(Agency.created_at),
)
_CLIENT = (
    col(Client.client_id),
    col(Client.agency_code),
    col(Client.secret_hash),
    col(Client.scopes),
    col(Client.disabled),
    col(Client.created_at),
    col(Client.rotated_at),
)


def _agency(row: Any) -> AgencyPublic:
    return AgencyPublic(
        code=row.code,
        name=row.name,
        contact=row.contact,
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


# A revocation outlives the tokens it refuses by this much: the verifiers' clock leeway and
# a margin for the clocks of the exchange's replicas.
REVOCATION_MARGIN_SECONDS = 60


def _revoked_until(ttl_seconds: int) -> sa.ColumnElement[datetime]:
    """The instant, by the database's clock, after which no token issued before now is
    valid (a column `revoked_until` of the statement's result)."""
    margin = timedelta(seconds=ttl_seconds + REVOCATION_MARGIN_SECONDS)
    return (sa.func.now() + margin).label("revoked_until")


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
            insert(Agency)
            .values(code=body.code, name=body.name, contact=jsonb_value(body.contact))
            .on_conflict_do_nothing()
            .returning(*_AGENCY)
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
    row = (await session.execute(sa.select(*_AGENCY).where(col(Agency.code) == code))).first()
    if row is None:
        raise not_found("agency", code)
    return _agency(row)


async def list_agencies(session: AsyncSession, *, after: str, limit: int) -> list[AgencyPublic]:
    rows = await session.execute(
        sa.select(*_AGENCY).where(col(Agency.code) > after).order_by(col(Agency.code)).limit(limit)
    )
    return [_agency(row) for row in rows]


async def update_agency(
    session: AsyncSession, *, actor: str, code: str, body: AgencyUpdate, token_ttl_seconds: int
) -> AgencyPublic:
    changes = body.model_dump(exclude_unset=True)
    # Disabling revokes every token of the agency's clients (a new generation).
    revoke = body.disabled is True
    # A field given as null is left as it is, like one not given.
    values: dict[str, Any] = {
        "token_generation": col(Agency.token_generation) + int(revoke),
    }
    if changes.get("name") is not None:
        values["name"] = changes["name"]
    if changes.get("contact") is not None:
        values["contact"] = jsonb_value(changes["contact"])
    if changes.get("disabled") is not None:
        values["disabled"] = changes["disabled"]
    row = (
        await session.execute(
            sa.update(Agency)
            .where(col(Agency.code) == code)
            .values(values)
            .returning(*_AGENCY, col(Agency.token_generation), _revoked_until(token_ttl_seconds))
            # The UPDATE as written, no RETURNING added to sync the session (rows, above).
            .execution_options(synchronize_session=False)
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
            insert(Client)
            .values(
                client_id=client_id,
                agency_code=agency,
                secret_hash=secret_hash,
                scopes=sorted(body.scopes),
            )
            .on_conflict_do_nothing()
            .returning(*_CLIENT)
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
        sa.select(*_CLIENT)
        .where(col(Client.agency_code) == agency, col(Client.client_id) > after)
        .order_by(col(Client.client_id))
        .limit(limit)
    )
    return [_client(row) for row in rows]


def _the_client(agency: str, client_id: str) -> sa.ColumnElement[bool]:
    return sa.and_(col(Client.client_id) == client_id, col(Client.agency_code) == agency)


async def rotate_client(
    session: AsyncSession, *, actor: str, agency: str, client_id: str, token_ttl_seconds: int
) -> ClientWithSecret:
    """A new secret; the tokens issued with the old one are revoked (a new generation)."""
    secret = new_secret()
    secret_hash = await asyncio.to_thread(hash_secret, secret)
    row = (
        await session.execute(
            sa.update(Client)
            .where(_the_client(agency, client_id))
            .values(
                secret_hash=secret_hash,
                rotated_at=sa.func.now(),
                token_generation=col(Client.token_generation) + 1,
            )
            .returning(*_CLIENT, col(Client.token_generation), _revoked_until(token_ttl_seconds))
            .execution_options(synchronize_session=False)
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
    # The scopes it has, locked until the update below: a concurrent change waits.
    old = (
        await session.execute(
            sa.select(col(Client.scopes)).where(_the_client(agency, client_id)).with_for_update()
        )
    ).first()
    if old is None:
        raise not_found("client", client_id)
    revoke = bool(body.disabled) or (
        body.scopes is not None and not set(old.scopes) <= set(body.scopes)
    )
    values: dict[str, Any] = {"token_generation": col(Client.token_generation) + int(revoke)}
    if body.disabled is not None:
        values["disabled"] = body.disabled
    if body.scopes is not None:
        values["scopes"] = sorted(body.scopes)
    row = (
        await session.execute(
            sa.update(Client)
            .where(_the_client(agency, client_id))
            .values(values)
            .returning(*_CLIENT, col(Client.token_generation), _revoked_until(token_ttl_seconds))
            .execution_options(synchronize_session=False)
        )
    ).one()
    if revoke:
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


# The client with its agency's generation and flag. Built once: the token endpoint runs it
# on every request, and building the statement each time cost about 0.5 ms more than the
# statement itself.
_CREDENTIALS: sa.Select[*tuple[Any, ...]] = (
    sa.select(
        col(Client.client_id),
        col(Client.agency_code),
        col(Client.secret_hash),
        col(Client.scopes),
        col(Client.disabled),
        col(Client.token_generation),
        col(Agency.token_generation).label("agency_generation"),
        col(Agency.disabled).label("agency_disabled"),
    )
    .join_from(Client, Agency, col(Agency.code) == col(Client.agency_code))
    .where(col(Client.client_id) == sa.bindparam("client_id"))
)


async def authenticate_client(
    session: AsyncSession, *, client_id: str, client_secret: str, cache: VerifiedSecretCache
) -> Any:
    """The client's row (scopes, generations) if the secret is its and neither the client
    nor its agency is disabled; else 401 invalid_client."""
    # The generations are read with the scopes and the disabled flags, in one snapshot: a
    # token reflecting the state before a revoking change carries the old generation.
    row = (await session.execute(_CREDENTIALS, {"client_id": client_id})).first()
    if row is None:
        # The same scrypt as a wrong secret: neither the time nor the CPU an attacker
        # spends tells which client ids exist.
        await asyncio.to_thread(verify_unknown_client, client_secret)
        raise _invalid_client()
    valid = await asyncio.to_thread(cache.verify, client_id, client_secret, row.secret_hash)
    if not valid or row.disabled or row.agency_disabled:
        raise _invalid_client()
    return row


def unauthorized_client(detail: str) -> Problem:
    return Problem(ProblemCode.UNAUTHORIZED_CLIENT, detail, error="unauthorized_client")


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
    row = await authenticate_client(
        session, client_id=client_id, client_secret=client_secret, cache=cache
    )
    if client_id == CONSOLE_CLIENT_ID:
        # The console acts only for people (token exchange), never in its own name.
        raise unauthorized_client("the console client may only exchange a person's identity")
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
    await _ensure_hub_client(
        session,
        client_id=OPERATOR_CLIENT,
        secret=secret,
        scopes=["operator"],
        token_ttl_seconds=token_ttl_seconds,
    )
    return secret


async def ensure_console_client(
    session: AsyncSession, *, secret: str, token_ttl_seconds: int
) -> None:
    """The console's client `console` of the hub agency exists with `secret`
    (persons.console_client_secret). It holds no scope: it only exchanges a person's
    identity for the person's token (RFC 8693)."""
    await _ensure_hub_client(
        session,
        client_id=CONSOLE_CLIENT_ID,
        secret=secret,
        scopes=[],
        token_ttl_seconds=token_ttl_seconds,
    )


async def _ensure_hub_client(
    session: AsyncSession,
    *,
    client_id: str,
    secret: str,
    scopes: list[str],
    token_ttl_seconds: int,
) -> None:
    """A built-in client of the hub agency with this secret; a changed secret is a rotation:
    tokens issued with the old one are revoked."""
    await session.execute(
        insert(Agency).values(code=HUB_AGENCY, name=HUB_AGENCY_NAME).on_conflict_do_nothing()
    )
    row = (
        await session.execute(
            sa.select(col(Client.secret_hash))
            .where(col(Client.client_id) == client_id)
            .with_for_update()
        )
    ).first()
    if row is not None and await asyncio.to_thread(verify_secret, secret, row.secret_hash):
        return
    secret_hash = await asyncio.to_thread(hash_secret, secret)
    client = insert(Client).values(
        client_id=client_id,
        agency_code=HUB_AGENCY,
        secret_hash=secret_hash,
        scopes=scopes,
    )
    stored = (
        await session.execute(
            client.on_conflict_do_update(
                index_elements=[col(Client.client_id)],
                set_={
                    "secret_hash": client.excluded.secret_hash,
                    "rotated_at": sa.func.now(),
                    "token_generation": col(Client.token_generation) + 1,
                },
            ).returning(col(Client.token_generation), _revoked_until(token_ttl_seconds))
        )
    ).one()
    if row is not None:
        await _revoke(
            session,
            kind="client",
            subject=client_id,
            generation=stored.token_generation,
            until=stored.revoked_until,
            reason="client.rotated",
        )
    await audit.append(
        session,
        actor="system",
        action="client.bootstrapped",
        agency=HUB_AGENCY,
        details={"client_id": client_id},
    )


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
