"""The review queue of records that might be a registered subject: operators read it and
resolve each (link it to a subject, or reject the match)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from govhub_common.db import raw_connection
from govhub_common.problem_codes import ProblemCode
from govhub_common.problems import Problem, not_found
from govhub_registry.ingest.mapping import Mapping, Unmappable, map_record
from govhub_registry.ingest.service import apply_records, record_unmapped
from govhub_registry.matching.service import record_decisions
from govhub_registry.subjects import SUBJECTS

_COLUMNS = (
    "id, subject_kind, topic, seq, publisher, record::text AS record, "
    "candidates::text AS candidates, status, linked_id, created_at, resolved_at, resolved_by"
)


def _public(row: Any) -> dict[str, Any]:
    return {
        **dict(row),
        "record": orjson.loads(row["record"]),
        "candidates": orjson.loads(row["candidates"]),
    }


async def list_reviews(
    session: AsyncSession, *, status: str | None, limit: int, after: int | None
) -> list[dict[str, Any]]:
    """Up to limit + 1 rows by id, after the row `after`."""
    raw = await raw_connection(session)
    rows = await raw.fetch(
        f"SELECT {_COLUMNS} FROM registry.match_review WHERE id > $1 "
        "AND ($2::text IS NULL OR status = $2) ORDER BY id LIMIT $3",
        after or 0,
        status,
        limit + 1,
    )
    return [_public(r) for r in rows]


async def resolve_review(
    session: AsyncSession,
    *,
    review_id: int,
    decision: str,
    linked_id: str | None,
    resolved_by: str,
    mapping: Mapping,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Link the record to a subject (and apply it) or reject it; the decision is kept.
    `now` stamps the conflicts a link raises or closes (the business clock's)."""
    raw = await raw_connection(session)
    row = await raw.fetchrow(
        f"SELECT {_COLUMNS} FROM registry.match_review WHERE id = $1 FOR UPDATE", review_id
    )
    if row is None:
        raise not_found("review", review_id)
    if row["status"] != "pending":
        raise Problem(
            ProblemCode.REVIEW_NOT_PENDING, f"review {review_id} is already {row['status']}"
        )
    review = _public(row)
    subject = SUBJECTS[review["subject_kind"]]
    rule = mapping.topics.get(review["topic"])
    if decision == "link":
        if not linked_id:
            raise Problem(
                ProblemCode.VALIDATION_FAILED,
                "linking needs the subject's ID",
                errors=[{"path": "$.id", "message": "required when decision is link"}],
            )
        exists = await raw.fetchval(
            f"SELECT 1 FROM {subject.table} WHERE {subject.key} = $1", linked_id
        )
        if not exists:
            # The body names a subject that does not exist: its state, not its shape.
            raise Problem(
                ProblemCode.NOT_FOUND,
                f"{linked_id} is not a registered {subject.label}",
                errors=[{"path": "$.id", "message": "no such subject"}],
            )
        if rule is None:
            raise Problem(
                ProblemCode.UNMAPPABLE, f"the mapping no longer has the topic {review['topic']}"
            )
        record = review["record"]
        record = {**record, "data": {**record.get("data", {}), rule.key: linked_id}}
        try:
            mapped = map_record(
                review["topic"],
                rule,
                record,
                agency=review["publisher"],
                where="$.record",
                derived=mapping.derived_from_id,
            )
        except Unmappable as exc:
            raise Problem(ProblemCode.UNMAPPABLE, str(exc)) from None
        await apply_records(session, topic=review["topic"], rule=rule, records=[mapped], now=now)
        status, outcome = "linked", "operator_link"
    else:
        linked_id = None
        status, outcome = "rejected", "operator_reject"
        await record_unmapped(
            session,
            topic=review["topic"],
            publisher=review["publisher"],
            items=[(review["seq"], review["record"], f"rejected in review by {resolved_by}")],
        )
    updated = await raw.fetchrow(
        "UPDATE registry.match_review SET status = $2, linked_id = $3, resolved_at = now(), "
        f"resolved_by = $4 WHERE id = $1 RETURNING {_COLUMNS}",
        review_id,
        status,
        linked_id,
        resolved_by,
    )
    await record_decisions(
        session,
        rows=[
            (
                review["subject_kind"],
                review["topic"],
                review["seq"],
                outcome,
                linked_id,
                None,
                orjson.dumps(review["candidates"]).decode(),
                resolved_by,
            )
        ],
    )
    return _public(updated)
