"""Conflicts: attributes on which agencies currently disagree (raised during ingest), and
their announcement on the bus (`registry.conflicts.changed`, one event per ingest batch or
settle call, staged with the conflict rows)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from govhub_common.db import raw_connection
from govhub_common.event_contracts.registry import (
    CONFLICTS_CHANGED,
    ConflictChange,
    ConflictParty,
    ConflictsChanged,
)
from govhub_common.events import CloudEvent
from govhub_common.outbox import add_events
from govhub_common.problem_codes import ProblemCode
from govhub_common.problems import Problem, not_found
from govhub_registry.subjects import SOURCE

_COLUMNS = (
    "id, subject_kind, subject_id, attribute, claims::text AS claims, status, detected_at, "
    "updated_at, settled_at, settled_by, note"
)


def claims_with_topics(row: str) -> str:
    """SQL: the claims of the conflict row `row` (jsonb), each with `topic`, the topic of the
    assertion it came from (the agency's record of that seq and valid time stating the
    attribute; seqs are per topic, so null when two of the agency's topics match). Set-based:
    one index range per claim of a changed conflict, inside the statement that changed it."""
    return f"""(SELECT jsonb_agg(x.claim || jsonb_build_object('topic', (
            SELECT CASE WHEN count(DISTINCT a.source_topic) = 1 THEN min(a.source_topic) END
            FROM registry.assertion a
            WHERE a.subject_kind = {row}.subject_kind AND a.subject_id = {row}.subject_id
              AND a.source_agency = x.claim ->> 'agency'
              AND a.seq = (x.claim ->> 'seq')::bigint
              AND a.valid_from = (x.claim ->> 'valid_from')::date
              AND a.attributes -> {row}.attribute IS NOT NULL)) ORDER BY x.n)
        FROM jsonb_array_elements({row}.claims) WITH ORDINALITY AS x(claim, n))::text"""


def event_columns(row: str) -> str:
    """SQL: what conflicts_changed reads of a changed conflict row `row` besides its id,
    subject_kind, attribute, status and detected_at."""
    return (
        f"coalesce({row}.resolved_at, {row}.settled_at) AS closed_at, "
        f"{claims_with_topics(row)} AS parties"
    )


def _same(a: Any, b: Any) -> bool:
    """JSON values compared as JSON (true is not 1), as ingest compares claims."""
    return orjson.dumps(a, option=orjson.OPT_SORT_KEYS) == orjson.dumps(
        b, option=orjson.OPT_SORT_KEYS
    )


def parties(claims: list[dict[str, Any]]) -> tuple[str | None, list[ConflictParty]]:
    """The authority (the one claimant with the best rank: lower is more authoritative) and
    the dissenters (whose value differs from the authority's; every claimant when the best
    rank is shared, or unknown)."""
    best = min((c["rank"] for c in claims if c.get("rank") is not None), default=None)
    firsts = [c for c in claims if best is not None and c.get("rank") == best]
    authority: str | None = None
    dissenting = claims
    if len(firsts) == 1:
        authority, value = firsts[0]["agency"], firsts[0].get("value")
        dissenting = [c for c in claims if not _same(c.get("value"), value)]
    return authority, [ConflictParty(agency=c["agency"], topic=c.get("topic")) for c in dissenting]


def conflicts_changed(rows: Sequence[Any], *, subject: str | None) -> CloudEvent:
    """One `registry.conflicts.changed` event with each row's whole current state (rows with
    id, subject_kind, attribute, status, detected_at and event_columns)."""
    changes = []
    for row in rows:
        authority, dissenters = parties(orjson.loads(row["parties"]))
        changes.append(
            ConflictChange(
                conflict_id=row["id"],
                subject_kind=row["subject_kind"],
                attribute=row["attribute"],
                status=row["status"],
                authority=authority,
                dissenters=dissenters,
                detected_at=row["detected_at"],
                closed_at=row["closed_at"],
            )
        )
    return CloudEvent(
        source=SOURCE,
        type=CONFLICTS_CHANGED,
        subject=subject,
        data=ConflictsChanged(conflicts=changes).model_dump(mode="json"),
    )


def _public(row: Any) -> dict[str, Any]:
    return {**dict(row), "claims": orjson.loads(row["claims"])}


async def list_conflicts(
    session: AsyncSession,
    *,
    status: str | None,
    subject_kind: str | None,
    subject_id: str | None,
    limit: int,
    after: int | None,
) -> list[dict[str, Any]]:
    """Up to limit + 1 rows by id, after the row `after`."""
    raw = await raw_connection(session)
    rows = await raw.fetch(
        f"SELECT {_COLUMNS} FROM registry.conflict WHERE id > $1 "
        "AND ($2::text IS NULL OR status = $2) AND ($3::text IS NULL OR subject_kind = $3) "
        "AND ($4::text IS NULL OR subject_id = $4) ORDER BY id LIMIT $5",
        after or 0,
        status,
        subject_kind,
        subject_id,
        limit + 1,
    )
    return [_public(r) for r in rows]


# Settled at the business clock's time, never before it was detected (a replayed year's
# clock may stand before a conflict raised by a record dated later).
_SETTLE_SQL = f"""
WITH settled AS (
    UPDATE registry.conflict
    SET status = 'settled', settled_at = greatest($4::timestamptz, detected_at), settled_by = $2, note = $3,
        updated_at = greatest($4, detected_at)
    WHERE id = $1 AND status = 'open'
    RETURNING *
)
SELECT {_COLUMNS}, {event_columns("settled")} FROM settled
"""


async def settle_conflict(
    session: AsyncSession, *, conflict_id: int, settled_by: str, note: str, now: datetime
) -> dict[str, Any]:
    """Settle an open conflict at `now` (the business clock) and stage its event."""
    raw = await raw_connection(session)
    row = await raw.fetchrow(_SETTLE_SQL, conflict_id, settled_by, note, now)
    if row is None:
        exists = await raw.fetchval(
            "SELECT status FROM registry.conflict WHERE id = $1", conflict_id
        )
        if exists is None:
            raise not_found("conflict", conflict_id)
        raise Problem(
            ProblemCode.CONFLICT_NOT_OPEN, f"conflict {conflict_id} is {exists}, not open"
        )
    await add_events(
        session, "registry", [conflicts_changed([row], subject=f"conflict/{conflict_id}")]
    )
    return _public(row)
