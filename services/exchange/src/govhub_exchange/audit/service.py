"""Appending to, reading, verifying, signing and exporting the audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from govhub_common.clock import utcnow
from govhub_common.db import raw_connection
from govhub_common.security import KeyPair
from govhub_exchange.audit.chain import (
    GENESIS,
    ChainVerifier,
    canonical_time,
    entry_hash,
    sign_checkpoint,
)

# One lock key for the whole chain: appends are serialised so each sees its predecessor.
AUDIT_LOCK_KEY = 7_305_001


async def lock_chain(session: AsyncSession) -> None:
    """Take the chain's lock for the rest of the caller's transaction (append takes it too):
    for callers that must hold it before locking rows others wait on."""
    raw = await raw_connection(session)
    await raw.execute("SELECT pg_advisory_xact_lock($1)", AUDIT_LOCK_KEY)


async def append(
    session: AsyncSession,
    *,
    actor: str,
    action: str,
    details: dict[str, Any],
    agency: str | None = None,
    topic: str | None = None,
) -> int:
    """Append one entry in the caller's transaction; returns its id."""
    # Straight on the driver: publishes append while holding their topic's lock, and each
    # statement through the ORM layer cost more than the statement itself.
    raw = await raw_connection(session)
    await raw.execute("SELECT pg_advisory_xact_lock($1)", AUDIT_LOCK_KEY)
    # A statement of its own, after the lock: its snapshot sees the previous holder's entry.
    last = await raw.fetchrow("SELECT id, hash FROM exchange.audit_log ORDER BY id DESC LIMIT 1")
    entry_id = (last["id"] + 1) if last else 1
    prev_hash = last["hash"] if last else GENESIS
    at = utcnow()
    # Round-trip details through JSON now, so the hash sees what the database will return.
    details_json = orjson.dumps(details)
    entry = {
        "id": entry_id,
        "at": canonical_time(at),
        "actor": actor,
        "action": action,
        "agency": agency,
        "topic": topic,
        "details": orjson.loads(details_json),
    }
    digest = entry_hash(entry, prev_hash)
    await raw.execute(
        "INSERT INTO exchange.audit_log (id, at, actor, action, agency, topic, details, "
        "prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7::text::jsonb, $8, $9)",
        entry_id,
        at,
        actor,
        action,
        agency,
        topic,
        details_json.decode(),
        prev_hash,
        digest,
    )
    return entry_id


_ENTRY_COLUMNS = "id, at, actor, action, agency, topic, details::text AS details, prev_hash, hash"


def _entry(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "at": canonical_time(row.at),
        "actor": row.actor,
        "action": row.action,
        "agency": row.agency,
        "topic": row.topic,
        "details": orjson.loads(row.details),
        "prev_hash": row.prev_hash,
        "hash": row.hash,
    }


async def list_entries(
    session: AsyncSession,
    *,
    agency: str | None,
    topic: str | None,
    action: str | None,
    since: datetime | None,
    until: datetime | None,
    after: int,
    limit: int,
) -> list[dict[str, Any]]:
    rows = await session.execute(
        sa.text(
            f"SELECT {_ENTRY_COLUMNS} FROM exchange.audit_log WHERE id > :after "
            "AND (CAST(:agency AS text) IS NULL OR agency = :agency OR actor = :agency) "
            "AND (CAST(:topic AS text) IS NULL OR topic = :topic) "
            "AND (CAST(:action AS text) IS NULL OR action = :action) "
            "AND (CAST(:since AS timestamptz) IS NULL OR at >= :since) "
            "AND (CAST(:until AS timestamptz) IS NULL OR at < :until) "
            "ORDER BY id LIMIT :limit"
        ),
        {
            "after": after,
            "agency": agency,
            "topic": topic,
            "action": action,
            "since": since,
            "until": until,
            "limit": limit,
        },
    )
    return [_entry(row) for row in rows]


async def verify(session: AsyncSession, *, page: int = 5000) -> dict[str, Any]:
    """Walk the whole chain from the genesis; report the first broken link."""
    verifier = ChainVerifier(GENESIS)
    after = 0
    while verifier.broken is None:
        rows = (
            await session.execute(
                sa.text(
                    f"SELECT {_ENTRY_COLUMNS} FROM exchange.audit_log WHERE id > :after "
                    "ORDER BY id LIMIT :n"
                ),
                {"after": after, "n": page},
            )
        ).all()
        if not rows:
            break
        verifier.feed(_entry(row) for row in rows)
        after = rows[-1].id
    if verifier.broken is None and after:
        # A checkpoint signed a hash the chain no longer has: the tail was rewritten.
        for cp in (
            await session.execute(
                sa.text(
                    "SELECT c.id, c.entry_id, c.hash, a.hash AS actual FROM exchange.audit_checkpoints c "
                    "LEFT JOIN exchange.audit_log a ON a.id = c.entry_id ORDER BY c.id"
                )
            )
        ).all():
            if cp.actual != cp.hash:
                verifier.broken = {
                    "entry_id": cp.entry_id,
                    "reason": f"checkpoint {cp.id} signed another hash for this entry",
                }
                break
    return {
        "valid": verifier.broken is None,
        "entries_checked": verifier.checked,
        "head": {"id": verifier.prev_id, "hash": verifier.prev_hash} if verifier.prev_id else None,
        "first_broken": verifier.broken,
    }


async def sign_head(session: AsyncSession, *, keys: KeyPair) -> dict[str, Any] | None:
    """Sign the current chain head (skipped when the head is already signed)."""
    head = (
        await session.execute(
            sa.text("SELECT id, hash FROM exchange.audit_log ORDER BY id DESC LIMIT 1")
        )
    ).first()
    if head is None or keys.private_pem is None:
        return None
    last = (
        await session.execute(
            sa.text(
                "SELECT id, entry_id, hash, signed_at, kid, signature FROM exchange.audit_checkpoints "
                "ORDER BY id DESC LIMIT 1"
            )
        )
    ).first()
    if last is not None and last.entry_id == head.id:
        return _checkpoint(last)
    signed_at = utcnow()
    signature = sign_checkpoint(
        entry_id=head.id,
        hash_=head.hash,
        signed_at=signed_at,
        private_pem=keys.private_pem,
        kid=keys.kid,
    )
    row = (
        await session.execute(
            sa.text(
                "INSERT INTO exchange.audit_checkpoints (entry_id, hash, signed_at, kid, signature) "
                "VALUES (:e, :h, :t, :k, :s) RETURNING id, entry_id, hash, signed_at, kid, signature"
            ),
            {"e": head.id, "h": head.hash, "t": signed_at, "k": keys.kid, "s": signature},
        )
    ).one()
    return _checkpoint(row)


def _checkpoint(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "entry_id": row.entry_id,
        "hash": row.hash,
        "signed_at": canonical_time(row.signed_at),
        "kid": row.kid,
        "signature": row.signature,
    }


async def export(
    session: AsyncSession, *, since: datetime, until: datetime, keys: KeyPair
) -> dict[str, Any]:
    """Entries in [since, until) with the checkpoints that sign them, and the public key."""
    rows = await session.execute(
        sa.text(
            f"SELECT {_ENTRY_COLUMNS} FROM exchange.audit_log WHERE at >= :since AND at < :until "
            "ORDER BY id"
        ),
        {"since": since, "until": until},
    )
    entries = [_entry(row) for row in rows]
    checkpoints: list[dict[str, Any]] = []
    if entries:
        cps = await session.execute(
            sa.text(
                "SELECT id, entry_id, hash, signed_at, kid, signature FROM exchange.audit_checkpoints "
                "WHERE entry_id BETWEEN :lo AND :hi ORDER BY id"
            ),
            {"lo": entries[0]["id"], "hi": entries[-1]["id"]},
        )
        checkpoints = [_checkpoint(row) for row in cps]
    return {
        "format": "govhub-audit-export/1",
        "from": canonical_time(since),
        "to": canonical_time(until),
        "kid": keys.kid,
        "public_key_pem": keys.public_pem.decode(),
        "entries": entries,
        "checkpoints": checkpoints,
    }
