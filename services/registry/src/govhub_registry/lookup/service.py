"""Reading the registries: golden records (now, as of a valid time, as known at a recorded
time), history, registrations, search by name; and the access log every read writes."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import Any

import asyncpg
import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from govhub_common.db import contains_pattern, raw_connection
from govhub_common.runtime import ServiceContext
from govhub_common.security import Principal
from govhub_registry.access.policy import REPRESENTATIVE_ATTRIBUTES, REPRESENTATIVE_ID, View
from govhub_registry.ingest.service import Claims, current_sources
from govhub_registry.state import registry_state
from govhub_registry.subjects import SubjectTable

# Attribute values as known at $3: each agency's value of an attribute is valid until the
# same agency's next value of it (valid_to), which became known when that one was recorded.
_VALUES_SQL = """
WITH known AS (
    SELECT a.id, e.key AS attribute, e.value, a.source_agency, a.source_topic, a.seq,
           (a.ranks ->> e.key)::int AS rank, a.valid_from, a.recorded_at
    FROM registry.assertion a, json_each(a.attributes) e
    WHERE a.subject_kind = $1 AND a.subject_id = $2 AND a.recorded_at <= $3
      AND ($4::text[] IS NULL OR e.key = ANY($4))
)
SELECT id, attribute, value::text AS value, source_agency, source_topic, seq, rank,
       valid_from, recorded_at,
       lead(valid_from) OVER w AS valid_to,
       greatest(recorded_at, lead(recorded_at) OVER w) AS closed_at
FROM known
WINDOW w AS (PARTITION BY attribute, source_agency ORDER BY valid_from, seq)
"""

_AS_OF_SQL = f"""
SELECT DISTINCT ON (attribute) attribute, value, source_agency, seq, valid_from
FROM ({_VALUES_SQL}) v
WHERE valid_from <= $5 AND (valid_to IS NULL OR valid_to > $5)
ORDER BY attribute, rank, valid_from DESC, seq DESC
"""


# The legal representative's row of a legal entity's hot-path read ($7: the representative's
# attributes, $8: the one holding their ID number): the fields of theirs the caller sees.
_REPRESENTATIVE_LOGGED_SQL = """,
        representative AS (
            SELECT f.attributes ->> $8 AS id_number,
                   ARRAY(SELECT k FROM jsonb_object_keys(f.attributes) k
                         WHERE k = ANY($7) AND ($5::text[] IS NULL OR k = ANY($5))
                         ORDER BY k) AS fields
            FROM found f WHERE jsonb_typeof(f.attributes -> $8) = 'string'
        ),
        representative_logged AS (
            INSERT INTO registry.access_log (agency, client_id, subject_kind, subject_id,
                                             fields, purpose, action, via_legal_entity)
            SELECT $2, $3, 'person', r.id_number, r.fields, $6, 'get', $1
            FROM representative r WHERE cardinality(r.fields) > 0
        )"""

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


async def get_subject(
    session: AsyncSession,
    *,
    subject: SubjectTable,
    key: str,
    as_of: date | None = None,
    known_at: datetime | None = None,
) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """(attributes, sources) of a golden record, or None when it does not exist. With
    `as_of` / `known_at` the record is rebuilt from the attribute history."""
    raw = await raw_connection(session)
    row = await raw.fetchrow(
        f"SELECT attributes::text AS attributes, claims::text AS claims FROM {subject.table} "
        f"WHERE {subject.key} = $1",
        key,
    )
    if row is None:
        return None
    if as_of is None and known_at is None:
        from govhub_registry.ingest.service import current_values

        return orjson.loads(row["attributes"]), current_values(orjson.loads(row["claims"]))[1]
    from govhub_common.clock import business_date, utcnow

    known_at = known_at or utcnow()
    as_of = as_of or business_date(known_at)
    rows = await raw.fetch(_AS_OF_SQL, subject.kind, key, known_at, None, as_of)
    attributes = {r["attribute"]: orjson.loads(r["value"]) for r in rows}
    sources = {
        r["attribute"]: {
            "agency": r["source_agency"],
            "seq": r["seq"],
            "valid_from": r["valid_from"],
        }
        for r in rows
    }
    return attributes, sources


async def read_current_logged(
    pool: asyncpg.Pool,
    *,
    subject: SubjectTable,
    key: str,
    principal: Principal,
    granted: frozenset[str] | None,
    purpose: str,
) -> tuple[dict[str, Any], Claims] | None:
    """The hot path: the current golden record and its access-log row in one statement
    (one round trip, its own implicit transaction). `granted` None means every field. A
    legal entity's read that shows its representative's attributes is logged on that
    person too."""
    row = await pool.fetchrow(
        f"""
        WITH found AS (
            SELECT attributes, claims FROM {subject.table} WHERE {subject.key} = $1
        ),
        logged AS (
            INSERT INTO registry.access_log (agency, client_id, subject_kind, subject_id,
                                             fields, purpose, action)
            SELECT $2, $3, $4, $1,
                   ARRAY(SELECT k FROM jsonb_object_keys(f.attributes) k
                         WHERE $5::text[] IS NULL OR k = ANY($5) ORDER BY k),
                   $6, 'get'
            FROM found f
        ){_REPRESENTATIVE_LOGGED_SQL if subject.kind == "legal_entity" else ""}
        SELECT attributes::text AS attributes, claims::text AS claims FROM found
        """,
        key,
        principal.agency,
        principal.client_id,
        subject.kind,
        sorted(granted) if granted is not None else None,
        purpose,
        *(
            [sorted(REPRESENTATIVE_ATTRIBUTES), REPRESENTATIVE_ID]
            if subject.kind == "legal_entity"
            else []
        ),
    )
    if row is None:
        return None
    return orjson.loads(row["attributes"]), orjson.loads(row["claims"])


async def current_record(
    context: ServiceContext,
    subject: SubjectTable,
    key: str,
    principal: Principal,
    view: View,
    purpose: str,
) -> bytes | None:
    """The JSON of the current golden record as this caller may see it, its read logged;
    None when the registry does not know the subject."""
    current = await read_current_logged(
        registry_state(context).lookup_pool,
        subject=subject,
        key=key,
        principal=principal,
        granted=None if view.allows("*") else view.fields,
        purpose=purpose,
    )
    return None if current is None else current_body(subject, key, view, current)


def current_body(
    subject: SubjectTable, key: str, view: View, current: tuple[dict[str, Any], Claims]
) -> bytes:
    """The JSON of a current golden record as one caller may see it (the shape of
    SubjectPublic), written straight from the stored values."""
    attributes = view.shape(current[0])
    return orjson.dumps(
        {
            "kind": subject.kind,
            "id": key,
            "attributes": attributes,
            "sources": current_sources(current[1], attributes),
            "as_of": None,
            "known_at": None,
        }
    )


async def history(
    session: AsyncSession,
    *,
    subject: SubjectTable,
    key: str,
    attributes: frozenset[str] | None,
    limit: int,
    after: tuple[int, str] | None,
) -> list[dict[str, Any]]:
    """Every value every agency asserted, oldest first (by assertion and attribute), after
    the key `after`: up to limit + 1 rows. `attributes` None means all."""
    from govhub_common.clock import utcnow

    raw = await raw_connection(session)
    rows = await raw.fetch(
        f"SELECT * FROM ({_VALUES_SQL}) v WHERE (id, attribute) > ($5, $6) "
        "ORDER BY id, attribute LIMIT $7",
        subject.kind,
        key,
        utcnow(),
        sorted(attributes) if attributes is not None else None,
        after[0] if after else 0,
        after[1] if after else "",
        limit + 1,
    )
    return [{**dict(r), "value": orjson.loads(r["value"])} for r in rows]


async def registrations(
    session: AsyncSession,
    *,
    subject: SubjectTable,
    key: str,
    limit: int,
    after: tuple[str, str] | None,
) -> list[dict[str, Any]]:
    """The subject's registrations by kind and agency, after the key `after`: up to
    limit + 1 rows."""
    raw = await raw_connection(session)
    rows = await raw.fetch(
        "SELECT agency, kind, reference, status, start_date, end_date, last_date, "
        "details::text AS details, source_topic, source_seq FROM registry.registration "
        "WHERE subject_kind = $1 AND subject_id = $2 "
        "AND ($3::text IS NULL OR (kind, agency) > ($3, $4)) "
        "ORDER BY kind, agency LIMIT $5",
        subject.kind,
        key,
        after[0] if after else None,
        after[1] if after else None,
        limit + 1,
    )
    return [{**dict(r), "details": orjson.loads(r["details"])} for r in rows]


async def search_by_name(
    session: AsyncSession,
    *,
    subject: SubjectTable,
    name: str,
    limit: int,
    after: tuple[float, str] | None,
) -> list[dict[str, Any]]:
    """Trigram similarity on the current name (pg_trgm, GIN index), most similar first,
    after the key (similarity, id) `after`: up to limit + 1 rows."""
    raw = await raw_connection(session)
    rows = await raw.fetch(
        f"SELECT * FROM (SELECT {subject.key} AS id, name, "
        "public.similarity(name, $1)::float8 AS similarity, "
        f"attributes::text AS attributes FROM {subject.table} "
        "WHERE name OPERATOR(public.%) $1 OR name LIKE $5 ESCAPE '\\') hit "
        "WHERE $3::float8 IS NULL OR similarity < $3 OR (similarity = $3 AND id > $4) "
        "ORDER BY similarity DESC, id LIMIT $2",
        name,
        limit + 1,
        after[0] if after else None,
        after[1] if after else None,
        contains_pattern(name),  # the name literally: a caller's % or _ is no wildcard
    )
    return [{**dict(r), "attributes": orjson.loads(r["attributes"])} for r in rows]


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
