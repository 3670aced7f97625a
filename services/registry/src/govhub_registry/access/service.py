"""The access log: every read of a subject's data writes who was shown which fields and why
(a legal entity's read also on its legal representative, when it showed their data); an
operator reads a person's log for a citizen's request."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from govhub_common.db import raw_connection
from govhub_common.security import Principal
from govhub_registry.access.policy import REPRESENTATIVE_ATTRIBUTES, REPRESENTATIVE_ID
from govhub_registry.subjects import SubjectTable

# (the legal entity's USCC, its representative's ID number, the representative's
# attributes the caller was shown)
RepresentativeRead = tuple[str, str, list[str]]


def representative_read(
    uscc: str, stored: Mapping[str, Any], shown: Iterable[str]
) -> RepresentativeRead | None:
    """What a read of a legal entity showed of its legal representative, to be logged on
    that person: None when it showed nothing of theirs (or names no one)."""
    fields = sorted(REPRESENTATIVE_ATTRIBUTES.intersection(shown))
    id_number = stored.get(REPRESENTATIVE_ID)
    if not fields or not isinstance(id_number, str) or not id_number:
        return None
    return uscc, id_number, fields


async def log_access(
    session: AsyncSession,
    *,
    principal: Principal,
    subject: SubjectTable,
    reads: list[tuple[str, list[str]]],
    purpose: str,
    action: str,
    representatives: Sequence[RepresentativeRead | None] = (),
) -> None:
    """One access-log row per subject read, with the fields the caller was shown; and,
    for legal entities, one on each legal representative whose data the read showed,
    naming the entity."""
    # unnest: one statement for a search page of any size.
    raw = await raw_connection(session)
    if reads:
        await raw.execute(
            "INSERT INTO registry.access_log (agency, client_id, subject_kind, subject_id, "
            "fields, purpose, action) SELECT $1, $2, $3, s.id, "
            "ARRAY(SELECT jsonb_array_elements_text(s.fields)), $5, $6 "
            "FROM unnest($4::text[], $7::jsonb[]) AS s(id, fields)",
            principal.agency,
            principal.client_id,
            subject.kind,
            [subject_id for subject_id, _ in reads],
            purpose,
            action,
            [orjson.dumps(fields).decode() for _, fields in reads],
        )
    shown = [r for r in representatives if r is not None]
    if shown:
        await raw.execute(
            "INSERT INTO registry.access_log (agency, client_id, subject_kind, subject_id, "
            "fields, purpose, action, via_legal_entity) SELECT $1, $2, 'person', s.id, "
            "ARRAY(SELECT jsonb_array_elements_text(s.fields)), $4, $5, s.via "
            "FROM unnest($3::text[], $6::jsonb[], $7::text[]) AS s(id, fields, via)",
            principal.agency,
            principal.client_id,
            [id_number for _, id_number, _ in shown],
            purpose,
            action,
            [orjson.dumps(fields).decode() for _, _, fields in shown],
            [uscc for uscc, _, _ in shown],
        )


async def access_log(
    session: AsyncSession, *, subject: SubjectTable, key: str, limit: int, after: int | None
) -> list[dict[str, Any]]:
    """The subject's access log, oldest first, after the row `after`: up to limit + 1."""
    raw = await raw_connection(session)
    rows = await raw.fetch(
        "SELECT id, accessed_at, agency, client_id, fields, purpose, action, via_legal_entity "
        "FROM registry.access_log WHERE subject_kind = $1 AND subject_id = $2 AND id > $3 "
        "ORDER BY id LIMIT $4",
        subject.kind,
        key,
        after or 0,
        limit + 1,
    )
    return [dict(r) for r in rows]
