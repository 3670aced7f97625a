"""Appending to, reading, verifying, signing and exporting the audit log."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession

from govhub_common.clock import utcnow
from govhub_common.db import raw_connection
from govhub_common.security import KeyPair
from govhub_exchange.audit.chain import (
    EXPORT_FORMAT,
    GENESIS,
    HASH_VERSION,
    ChainVerifier,
    PublicKeys,
    SignedHead,
    canonical_entry,
    canonical_time,
    check_signed_heads,
    entry_hash,
    latest_signed_head,
    read_checkpoint_files,
    sign_checkpoint,
    write_checkpoint_file,
)
from govhub_exchange.settings import ExchangeSettings


def previous_keys(settings: ExchangeSettings) -> list[KeyPair]:
    """Public keys the hub signed with before a key rotation: their checkpoints still hold."""
    return [
        KeyPair(None, Path(path).read_bytes()) for path in settings.audit_previous_public_key_files
    ]


def checkpoint_dir(settings: ExchangeSettings, database_url: str) -> Path:
    """Where signed heads are exported: GOVHUB_AUDIT_CHECKPOINT_DIR, or by default a folder
    per database under GOVHUB_HOME (one chain per folder: hubs sharing a home for several
    databases, as tests do, keep theirs apart)."""
    if settings.audit_checkpoint_dir is not None:
        return settings.audit_checkpoint_dir
    database = make_url(database_url).database or "govhub"
    return Path(settings.home) / "audit-checkpoints" / database


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
    entry = {
        "id": entry_id,
        "at": canonical_time(at),
        "actor": actor,
        "action": action,
        "agency": agency,
        "topic": topic,
        "details": details,
        "hash_version": HASH_VERSION,
    }
    # The canonical text is stored as hashed: verification re-hashes these very bytes, so
    # what jsonb makes of a number (-0.0, 1e16) no longer matters.
    entry["canonical"] = canonical_entry(entry)
    digest = entry_hash(entry, prev_hash)
    await raw.execute(
        "INSERT INTO exchange.audit_log (id, at, actor, action, agency, topic, details, "
        "prev_hash, hash, hash_version, canonical) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7::text::jsonb, $8, $9, $10, $11)",
        entry_id,
        at,
        actor,
        action,
        agency,
        topic,
        orjson.dumps(details).decode(),
        prev_hash,
        digest,
        HASH_VERSION,
        entry["canonical"],
    )
    return entry_id


_ENTRY_COLUMNS = (
    "id, at, actor, action, agency, topic, details::text AS details, prev_hash, hash, "
    "hash_version, canonical"
)


def _entry(row: Any) -> dict[str, Any]:
    """An entry as served and verified: its columns, and for version 2 the canonical text
    that was hashed, which verification re-hashes and compares the columns with."""
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
        "hash_version": row.hash_version,
        "canonical": row.canonical,
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
            # A person acts as `<agency>/<person>`: the agency's search finds them too.
            "AND (CAST(:agency AS text) IS NULL OR agency = :agency OR actor = :agency "
            "OR starts_with(actor, CAST(:agency AS text) || '/')) "
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


async def _entries_from(session: AsyncSession, *, page: int) -> AsyncIterator[Sequence[Any]]:
    """The whole chain, page by page."""
    after = 0
    while True:
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
            return
        yield rows
        after = rows[-1].id


async def verify(
    session: AsyncSession,
    *,
    keys: KeyPair,
    checkpoint_dir: Path | None,
    previous_keys: Sequence[KeyPair] = (),
    page: int = 5000,
) -> dict[str, Any]:
    """Walk the whole chain from the genesis; verify each checkpoint's signature and that
    the chain holds what it signed; and that the chain reaches every head exported to the
    checkpoint directory (which the database's superuser cannot rewrite). Report the first
    broken link."""
    trusted = PublicKeys(by_kid={k.kid: k.public_pem for k in (keys, *previous_keys)})
    checkpoints = [
        _checkpoint(row)
        for row in await session.execute(
            sa.text(
                "SELECT id, entry_id, hash, signed_at, kid, signature "
                "FROM exchange.audit_checkpoints ORDER BY id"
            )
        )
    ]
    exported = list(read_checkpoint_files(checkpoint_dir)) if checkpoint_dir else []
    wanted = {c["entry_id"] for c in checkpoints}
    for _name, signature, _ in exported:
        try:
            wanted.add(int(trusted.claims(signature)["entry_id"]))
        except Exception:  # a forged file: check_signed_heads reports it below
            continue
    verifier = ChainVerifier(GENESIS, wanted=wanted)
    async for rows in _entries_from(session, page=page):
        verifier.feed(_entry(row) for row in rows)
        if verifier.broken is not None:
            break
    verified, failure = 0, None
    if verifier.broken is None:
        heads: list[SignedHead] = [
            (f"checkpoint {c['id']}", c["signature"], c) for c in checkpoints
        ]
        verified, failure = check_signed_heads(heads + exported, verifier, trusted, must_reach=True)
    broken = verifier.broken or failure
    return {
        "valid": broken is None,
        "entries_checked": verifier.checked,
        "head": {"id": verifier.prev_id, "hash": verifier.prev_hash} if verifier.prev_id else None,
        "first_broken": broken,
        "checkpoints_verified": verified,
        "exported_head": latest_signed_head(checkpoint_dir, trusted) if checkpoint_dir else None,
    }


async def sign_head(
    session: AsyncSession, *, keys: KeyPair, checkpoint_dir: Path | None
) -> dict[str, Any] | None:
    """Sign the current chain head (the existing checkpoint when the head is signed
    already) and export it to the checkpoint directory."""
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
        row = last
    else:
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
    # Written whether or not the row commits: the head it signs is committed already.
    # Exclusive creation: an exported head is never rewritten (a restart or another
    # replica signing the same head leaves the first file).
    if checkpoint_dir is not None:
        write_checkpoint_file(checkpoint_dir, entry_id=row.entry_id, signature=row.signature)
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


def export_file_name() -> str:
    """The export's file name, with when it was made (UTC)."""
    return f"govhub-audit-{utcnow():%Y%m%dT%H%M%SZ}.ndjson"


async def export_lines(
    session: AsyncSession,
    *,
    since: datetime | None,
    until: datetime | None,
    keys: KeyPair,
    page: int = 5000,
) -> AsyncIterator[bytes]:
    """NDJSON for `govhub exchange audit export`: a header, then the entries in [since,
    until) (all when both are None) and the checkpoints that sign them, a line each."""
    exported_at = (await session.execute(sa.text("SELECT now()"))).scalar_one()
    yield (
        orjson.dumps(
            {
                "format": EXPORT_FORMAT,
                "exported_at": canonical_time(exported_at),
                "from": canonical_time(since) if since else None,
                "to": canonical_time(until) if until else None,
                "kid": keys.kid,
            }
        )
        + b"\n"
    )
    lo: int | None = None
    hi: int | None = None
    after = 0
    while True:
        rows = (
            await session.execute(
                sa.text(
                    f"SELECT {_ENTRY_COLUMNS} FROM exchange.audit_log WHERE id > :after "
                    "AND (CAST(:since AS timestamptz) IS NULL OR at >= :since) "
                    "AND (CAST(:until AS timestamptz) IS NULL OR at < :until) "
                    "ORDER BY id LIMIT :n"
                ),
                {"after": after, "since": since, "until": until, "n": page},
            )
        ).all()
        if not rows:
            break
        for row in rows:
            yield orjson.dumps({"type": "entry", **_entry(row)}) + b"\n"
        lo = rows[0].id if lo is None else lo
        hi = after = rows[-1].id
    complete = since is None and until is None
    if lo is None and not complete:
        return
    # A complete export carries every checkpoint: one beyond the last entry shows a cut.
    cps = await session.execute(
        sa.text(
            "SELECT id, entry_id, hash, signed_at, kid, signature FROM exchange.audit_checkpoints "
            "WHERE CAST(:complete AS boolean) OR entry_id BETWEEN :lo AND :hi ORDER BY id"
        ),
        {"complete": complete, "lo": lo or 0, "hi": hi or 0},
    )
    for row in cps:
        yield orjson.dumps({"type": "checkpoint", **_checkpoint(row)}) + b"\n"
