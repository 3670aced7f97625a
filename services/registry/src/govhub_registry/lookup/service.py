"""Reading the registries: golden records (now, as of a valid time, as known at a recorded
time), history, registrations, search by name. Every read shows only what the caller's
agency is granted (access/policy.py) and is logged with what it showed (access/service.py).

A subject by ID with its current values is the hot path: `current_record` answers it, for
the route and for the fast path (lookup/fast_path.py) alike."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime
from typing import Any

import asyncpg
import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from govhub_common.clock import business_date, ensure_utc, utcnow
from govhub_common.db import contains_pattern, raw_connection
from govhub_common.pagination import Page, page
from govhub_common.problems import forbidden, not_found
from govhub_common.security import Principal
from govhub_registry.access.policy import (
    REPRESENTATIVE_ATTRIBUTES,
    REPRESENTATIVE_ID,
    AccessPolicy,
    View,
)
from govhub_registry.access.service import RepresentativeRead, log_access, representative_read
from govhub_registry.ingest.service import Claims, current_sources, current_values
from govhub_registry.lookup.schemas import (
    AttributeValuePublic,
    RegistrationPublic,
    SearchHit,
    SubjectPublic,
)
from govhub_registry.state import RegistryState
from govhub_registry.subjects import LEGAL_ENTITY, SubjectTable

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
        return orjson.loads(row["attributes"]), current_values(orjson.loads(row["claims"]))[1]
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
    state: RegistryState, *, subject: SubjectTable, key: str, principal: Principal, purpose: str
) -> bytes | None:
    """The answer to GET a subject by ID (its current values): the JSON of its golden record
    as this caller may see it, the read logged in the same statement; None when the
    registry does not know the subject. The route and the fast path both send these bytes,
    so they cannot differ."""
    view = state.access_policy.view(principal, subject.kind)
    current = await read_current_logged(
        state.lookup_pool,
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


# ---- the reads the routes make: shown as the caller's agency may see them, and logged ----


def _representative(
    subject: SubjectTable, key: str, stored: dict[str, Any], shown: Iterable[str]
) -> RepresentativeRead | None:
    """What a legal entity's read showed of its legal representative (logged on that person
    too); None for a person's read."""
    if subject is not LEGAL_ENTITY:
        return None
    return representative_read(key, stored, shown)


def _utc(moment: datetime) -> datetime:
    """The moment in UTC (naive: Asia/Shanghai); at the ends of the calendar, where the
    conversion leaves datetime's range, its first or last UTC moment."""
    try:
        return ensure_utc(moment)
    except OverflowError:
        return (datetime.min if moment.year == 1 else datetime.max).replace(tzinfo=UTC)


async def subject_as_of(
    session: AsyncSession,
    *,
    policy: AccessPolicy,
    principal: Principal,
    subject: SubjectTable,
    key: str,
    as_of: date | None,
    known_at: datetime | None,
    purpose: str,
) -> SubjectPublic:
    """The golden record as it was valid on `as_of` and as the registry knew it at
    `known_at` (either may be None: today, now), as the caller may see it; the read is
    logged. (The current record without either: `current_record`.)"""
    view = policy.view(principal, subject.kind)
    found = await get_subject(
        session,
        subject=subject,
        key=key,
        as_of=as_of,
        known_at=_utc(known_at) if known_at else None,
    )
    if found is None:
        raise not_found(subject.label, key)
    stored, sources = found
    attributes = view.shape(stored)
    await log_access(
        session,
        principal=principal,
        subject=subject,
        reads=[(key, sorted(attributes))],
        purpose=purpose,
        action="get",
        representatives=[_representative(subject, key, stored, attributes)],
    )
    return SubjectPublic(
        kind=subject.kind,
        id=key,
        attributes=attributes,
        sources={k: v for k, v in sources.items() if k in attributes},
        as_of=as_of,
        known_at=known_at,
    )


async def history_page(
    session: AsyncSession,
    *,
    policy: AccessPolicy,
    principal: Principal,
    subject: SubjectTable,
    key: str,
    purpose: str,
    limit: int,
    after: tuple[int, str] | None,
) -> Page[AttributeValuePublic]:
    """A page of the values agencies asserted for the attributes the caller is granted
    (other people's ID numbers masked as in the record); the read is logged."""
    view = policy.view(principal, subject.kind)
    current = await get_subject(session, subject=subject, key=key)
    if current is None:
        raise not_found(subject.label, key)
    granted = None if view.allows("*") else frozenset(view.fields)
    rows = await history(
        session, subject=subject, key=key, attributes=granted, limit=limit, after=after
    )

    def shaped(row: dict[str, Any]) -> AttributeValuePublic:
        value = view.shape({row["attribute"]: row["value"]})[row["attribute"]]
        return AttributeValuePublic(**{**row, "value": value})

    result = page(rows, limit, key=lambda r: (r["id"], r["attribute"]), item=shaped)
    shown = {i.attribute for i in result.data}
    # Every representative the page names (a legal entity may have had several).
    representatives = {
        row["value"]: _representative(subject, key, {REPRESENTATIVE_ID: row["value"]}, shown)
        for row in rows[:limit]
        if row["attribute"] == REPRESENTATIVE_ID
    }
    if not representatives:  # e.g. only names on this page: the current representative
        representatives[None] = _representative(subject, key, current[0], shown)
    await log_access(
        session,
        principal=principal,
        subject=subject,
        reads=[(key, sorted(shown))],
        purpose=purpose,
        action="history",
        representatives=list(representatives.values()),
    )
    return result


async def registrations_page(
    session: AsyncSession,
    *,
    policy: AccessPolicy,
    principal: Principal,
    subject: SubjectTable,
    key: str,
    purpose: str,
    limit: int,
    after: tuple[str, str] | None,
) -> Page[RegistrationPublic]:
    """A page of the subject's registrations, for an agency granted `registrations`; the
    read is logged."""
    if not policy.view(principal, subject.kind).allows("registrations"):
        raise forbidden(
            f"agency {principal.agency} is not granted the registrations of a {subject.label}"
        )
    if await get_subject(session, subject=subject, key=key) is None:
        raise not_found(subject.label, key)
    rows = await registrations(session, subject=subject, key=key, limit=limit, after=after)
    await log_access(
        session,
        principal=principal,
        subject=subject,
        reads=[(key, ["registrations"])],
        purpose=purpose,
        action="registrations",
    )
    return page(
        rows,
        limit,
        key=lambda r: (r["kind"], r["agency"]),
        item=lambda r: RegistrationPublic(**r),
    )


async def search_page(
    session: AsyncSession,
    *,
    policy: AccessPolicy,
    principal: Principal,
    subject: SubjectTable,
    name: str,
    purpose: str,
    limit: int,
    after: tuple[float, str] | None,
) -> Page[SearchHit]:
    """A page of the subjects whose name is like `name`, for an agency granted `name`, each
    hit shown as the caller may see it; each hit's read is logged."""
    view = policy.view(principal, subject.kind)
    if not view.allows("name"):
        raise forbidden(f"agency {principal.agency} is not granted the names of a {subject.label}")
    hits = await search_by_name(session, subject=subject, name=name, limit=limit, after=after)
    result = page(
        hits,
        limit,
        key=lambda h: (h["similarity"], h["id"]),
        item=lambda h: SearchHit(**{**h, "attributes": view.shape(h["attributes"])}),
    )
    await log_access(
        session,
        principal=principal,
        subject=subject,
        reads=[(h.id, sorted(h.attributes)) for h in result.data],
        purpose=purpose,
        action="search",
        representatives=[
            _representative(subject, hit["id"], hit["attributes"], shown.attributes)
            for hit, shown in zip(hits, result.data, strict=False)
        ],
    )
    return result
