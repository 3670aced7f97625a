"""Conflicts: attributes on which agencies currently disagree (raised during ingest)."""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from govhub_common.db import raw_connection
from govhub_common.problem_codes import ProblemCode
from govhub_common.problems import Problem, not_found

_COLUMNS = (
    "id, subject_kind, subject_id, attribute, claims::text AS claims, status, detected_at, "
    "updated_at, settled_at, settled_by, note"
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


async def settle_conflict(
    session: AsyncSession, *, conflict_id: int, settled_by: str, note: str
) -> dict[str, Any]:
    raw = await raw_connection(session)
    row = await raw.fetchrow(
        f"UPDATE registry.conflict SET status = 'settled', settled_at = now(), settled_by = $2, "
        f"note = $3, updated_at = now() WHERE id = $1 AND status = 'open' RETURNING {_COLUMNS}",
        conflict_id,
        settled_by,
        note,
    )
    if row is None:
        exists = await raw.fetchval(
            "SELECT status FROM registry.conflict WHERE id = $1", conflict_id
        )
        if exists is None:
            raise not_found("conflict", conflict_id)
        raise Problem(
            ProblemCode.CONFLICT_NOT_OPEN, f"conflict {conflict_id} is {exists}, not open"
        )
    return _public(row)
