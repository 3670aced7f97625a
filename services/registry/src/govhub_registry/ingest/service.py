"""Applying exchange records to golden records, set-based: one event of any size costs a
handful of statements (attribute history, golden records, registrations, conflicts,
unmapped records, outbox), never a statement per record."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from govhub_common.db import raw_connection
from govhub_common.events import CloudEvent
from govhub_common.outbox import add_events
from govhub_registry.ingest.mapping import (
    FactRule,
    MappedRecord,
    Mapping,
    TopicMapping,
    Unmappable,
    map_record,
)
from govhub_registry.metrics import RECORDS_INGESTED
from govhub_registry.subjects import SUBJECTS, SubjectTable

log = logging.getLogger("govhub.registry.ingest")

SOURCE = "govhub/registry"


@dataclass
class IngestResult:
    applied: int = 0
    unmapped: int = 0
    linked: int = 0
    in_review: int = 0
    events: list[CloudEvent] = field(default_factory=list)


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


async def ingest_published(
    session: AsyncSession, *, event_data: dict[str, Any], mapping: Mapping
) -> IngestResult:
    """Handle the data of one `exchange.record.published` event."""
    from govhub_registry.matching.service import match_records

    topic = str(event_data.get("topic", ""))
    publisher = str(event_data.get("publisher", ""))
    records = event_data.get("records") or []
    rule = mapping.topics.get(topic)
    result = IngestResult()
    if rule is None:
        return result
    mapped: list[MappedRecord] = []
    without_key: list[MappedRecord] = []
    unmapped: list[tuple[int, dict[str, Any], str]] = []
    for index, record in enumerate(records):
        where = f"$.records[{index}]"
        try:
            item = map_record(
                topic,
                rule,
                record,
                agency=publisher,
                where=where,
                derived=mapping.derived_from_id,
            )
        except Unmappable as exc:
            seq = record.get("seq") if isinstance(record, dict) else None
            unmapped.append((seq if isinstance(seq, int) else -index - 1, record, str(exc)))
            continue
        (mapped if item.key_valid else without_key).append(item)
    if without_key:
        outcome = await match_records(
            session, records=without_key, publisher=publisher, mapping=mapping
        )
        mapped.extend(outcome.linked)
        result.linked = len(outcome.linked)
        result.in_review = outcome.in_review
        unmapped.extend(outcome.unmatched)
    if unmapped:
        await record_unmapped(session, topic=topic, publisher=publisher, items=unmapped)
        result.unmapped = len(unmapped)
    if mapped:
        result.events = await apply_records(session, topic=topic, rule=rule, records=mapped)
        result.applied = len(mapped)
        RECORDS_INGESTED.labels(topic).inc(len(mapped))
    return result


async def record_unmapped(
    session: AsyncSession,
    *,
    topic: str,
    publisher: str,
    items: list[tuple[int, dict[str, Any], str]],
) -> None:
    raw = await raw_connection(session)
    await raw.execute(
        "INSERT INTO registry.unmapped_record (topic, seq, publisher, data, reason) "
        "SELECT $1, s.seq, $2, s.data, s.reason "
        "FROM unnest($3::bigint[], $4::jsonb[], $5::text[]) AS s(seq, data, reason) "
        "ON CONFLICT (topic, seq) DO UPDATE SET reason = excluded.reason, data = excluded.data",
        topic,
        publisher,
        [seq for seq, _, _ in items],
        [_dumps(record) for _, record, _ in items],
        [reason for _, _, reason in items],
    )


_ATTRIBUTES_SQL = """
WITH staged AS (
    SELECT * FROM unnest($1::text[], $2::text[], $3::jsonb[], $4::text[], $5::bigint[],
                         $6::int[], $7::date[], $8::date[])
        AS s(subject_id, attribute, value, source_agency, seq, rank, valid_from, valid_to)
),
inserted AS (
    INSERT INTO registry.attribute_value AS a (subject_kind, subject_id, attribute, value,
        source_agency, source_topic, seq, rank, valid_from, valid_to, closed_at)
    SELECT $9, s.subject_id, s.attribute, s.value, s.source_agency, $10, s.seq, s.rank,
           s.valid_from, coalesce(s.valid_to, later.valid_from),
           CASE WHEN coalesce(s.valid_to, later.valid_from) IS NOT NULL THEN now() END
    FROM staged s
    -- A record older than what this agency already said arrives closed.
    LEFT JOIN LATERAL (
        SELECT min(o.valid_from) AS valid_from FROM registry.attribute_value o
        WHERE o.subject_kind = $9 AND o.subject_id = s.subject_id
          AND o.attribute = s.attribute AND o.source_agency = s.source_agency
          AND o.valid_to IS NULL AND (o.valid_from, o.seq) > (s.valid_from, s.seq)
    ) later ON s.valid_to IS NULL
    ON CONFLICT DO NOTHING
    RETURNING subject_id, attribute, source_agency, seq, valid_from, valid_to
)
-- The agency's previous value of the attribute ends where the new one starts.
UPDATE registry.attribute_value o SET valid_to = i.valid_from, closed_at = now()
FROM inserted i
WHERE i.valid_to IS NULL AND o.subject_kind = $9 AND o.subject_id = i.subject_id
  AND o.attribute = i.attribute AND o.source_agency = i.source_agency
  AND o.valid_to IS NULL AND (o.valid_from, o.seq) < (i.valid_from, i.seq)
"""

# Current value per attribute: best rank, then newest valid time, then newest record.
_GOLDEN_SQL = """
WITH touched AS (SELECT unnest($1::text[]) AS id),
current_values AS (
    SELECT DISTINCT ON (a.subject_id, a.attribute)
           a.subject_id, a.attribute, a.value, a.source_agency, a.seq, a.valid_from
    FROM registry.attribute_value a JOIN touched t ON a.subject_id = t.id
    WHERE a.subject_kind = $2 AND a.valid_to IS NULL
    ORDER BY a.subject_id, a.attribute, a.rank, a.valid_from DESC, a.seq DESC
),
golden AS (
    SELECT subject_id,
           jsonb_object_agg(attribute, value) AS attributes,
           jsonb_object_agg(attribute, jsonb_build_object(
               'agency', source_agency, 'seq', seq, 'valid_from', valid_from)) AS sources
    FROM current_values GROUP BY subject_id
),
previous AS (
    SELECT g.{key} AS id, g.attributes FROM {table} g JOIN touched t ON g.{key} = t.id
),
upserted AS (
    INSERT INTO {table} AS g ({key}, attributes, sources)
    SELECT subject_id, attributes, sources FROM golden
    ON CONFLICT ({key}) DO UPDATE
        SET attributes = excluded.attributes, sources = excluded.sources, updated_at = now()
        WHERE g.attributes IS DISTINCT FROM excluded.attributes
           OR g.sources IS DISTINCT FROM excluded.sources
    RETURNING g.{key} AS id, g.attributes, g.sources
)
SELECT u.id,
       ARRAY(SELECT k FROM (SELECT jsonb_object_keys(u.attributes) AS k
                            UNION SELECT jsonb_object_keys(coalesce(p.attributes, '{{}}'))) keys
             WHERE u.attributes -> k IS DISTINCT FROM p.attributes -> k ORDER BY k) AS changed,
       p.attributes ->> 'vital_status' AS was_vital,
       u.attributes ->> 'vital_status' AS vital,
       u.attributes ->> 'death_date' AS death_date,
       u.sources -> 'vital_status' ->> 'agency' AS vital_agency,
       (u.sources -> 'vital_status' ->> 'seq')::bigint AS vital_seq
FROM upserted u LEFT JOIN previous p ON p.id = u.id
"""

_REGISTRATIONS_SQL = """
INSERT INTO registry.registration AS r (subject_kind, subject_id, agency, kind, reference,
    status, start_date, end_date, last_date, details, source_topic, source_seq)
SELECT $1, s.subject_id, $2, s.kind, s.reference, s.status, s.start_date, s.end_date,
       s.last_date, s.details, $3, s.seq
FROM unnest($4::text[], $5::text[], $6::text[], $7::text[], $8::date[], $9::date[],
            $10::date[], $11::jsonb[], $12::bigint[])
    AS s(subject_id, kind, reference, status, start_date, end_date, last_date, details, seq)
ON CONFLICT (subject_kind, subject_id, agency, kind) DO UPDATE SET
    reference = coalesce(excluded.reference, r.reference),
    status = excluded.status,
    start_date = least(r.start_date, excluded.start_date),
    end_date = CASE WHEN excluded.status = 'deregistered' THEN excluded.end_date END,
    last_date = greatest(r.last_date, excluded.last_date),
    details = CASE WHEN excluded.details ? 'payments'
        THEN r.details || excluded.details || jsonb_build_object('payments',
             coalesce((r.details ->> 'payments')::int, 0) + (excluded.details ->> 'payments')::int)
        ELSE r.details || excluded.details END,
    source_topic = excluded.source_topic,
    source_seq = excluded.source_seq,
    updated_at = now()
"""

# Agencies disagree when their current (open) values of an attribute differ. A conflict an
# operator settled stays settled while the same claims stand.
_CONFLICTS_SQL = """
WITH touched AS (SELECT unnest($1::text[]) AS id),
claims AS (
    SELECT a.subject_id, a.attribute,
           jsonb_agg(jsonb_build_object('agency', a.source_agency, 'value', a.value,
                     'topic', a.source_topic, 'seq', a.seq, 'valid_from', a.valid_from)
                     ORDER BY a.rank, a.source_agency) AS claims,
           md5(string_agg(a.source_agency || '=' || a.value::text, '|'
                          ORDER BY a.source_agency)) AS fingerprint,
           count(DISTINCT a.value) AS distinct_values
    FROM registry.attribute_value a JOIN touched t ON a.subject_id = t.id
    WHERE a.subject_kind = $2 AND a.valid_to IS NULL
    GROUP BY a.subject_id, a.attribute
),
disputed AS (SELECT * FROM claims WHERE distinct_values > 1),
agreed AS (
    UPDATE registry.conflict c SET status = 'resolved', updated_at = now()
    FROM touched t
    WHERE c.subject_kind = $2 AND c.subject_id = t.id AND c.status = 'open'
      AND NOT EXISTS (SELECT 1 FROM disputed d
                      WHERE d.subject_id = c.subject_id AND d.attribute = c.attribute)
    RETURNING c.id
),
raised AS (
    INSERT INTO registry.conflict AS c (subject_kind, subject_id, attribute, claims, fingerprint)
    SELECT $2, d.subject_id, d.attribute, d.claims, d.fingerprint FROM disputed d
    WHERE NOT EXISTS (SELECT 1 FROM registry.conflict s
                      WHERE s.subject_kind = $2 AND s.subject_id = d.subject_id
                        AND s.attribute = d.attribute AND s.status = 'settled'
                        AND s.fingerprint = d.fingerprint)
    ON CONFLICT (subject_kind, subject_id, attribute) WHERE status = 'open' DO UPDATE
        SET claims = excluded.claims, fingerprint = excluded.fingerprint, updated_at = now()
        WHERE c.fingerprint IS DISTINCT FROM excluded.fingerprint
    RETURNING c.id
)
SELECT (SELECT count(*) FROM agreed) AS agreed, (SELECT count(*) FROM raised) AS raised
"""


def _attribute_rows(records: list[MappedRecord]) -> list[list[Any]]:
    """Column arrays for _ATTRIBUTES_SQL. Within the batch, each agency's successive values
    of an attribute close one another, so the SQL only closes what was stored before."""
    rows: dict[tuple[str, str, str], dict[int, tuple[Any, int, date]]] = {}
    for rec in records:
        assert rec.key is not None
        claims = [(name, v, r, rec.agency) for name, (v, r) in rec.attributes.items()]
        claims += [(name, v, r, "gb11643") for name, (v, r) in rec.derived.items()]
        for name, value, rank, agency in claims:
            rows.setdefault((rec.key, name, agency), {})[rec.seq] = (value, rank, rec.valid_from)
    cols: list[list[Any]] = [[] for _ in range(8)]
    for (subject_id, attribute, agency), by_seq in rows.items():
        ordered = sorted(by_seq.items(), key=lambda kv: (kv[1][2], kv[0]))
        for i, (seq, (value, rank, valid_from)) in enumerate(ordered):
            valid_to = ordered[i + 1][1][2] if i + 1 < len(ordered) else None
            for col, item in zip(
                cols,
                (subject_id, attribute, _dumps(value), agency, seq, rank, valid_from, valid_to),
                strict=True,
            ):
                col.append(item)
    return cols


def _registration_rows(fact: FactRule, records: list[MappedRecord]) -> list[list[Any]]:
    by_key: dict[tuple[str, str], list[Any]] = {}
    for rec in sorted(records, key=lambda r: (r.valid_from, r.seq)):
        assert rec.key is not None and fact.registration is not None
        data = rec.data

        def day(name: str | None, data: dict[str, Any] = data) -> date | None:
            return date.fromisoformat(str(data[name])) if name and data.get(name) else None

        details = {name: data.get(name) for name in fact.details if name in data}
        if fact.kind == "benefit":
            status, start, end, last = "active", day(fact.date), None, day(fact.date)
            details["payments"] = 1
        elif fact.kind == "deregistration":
            status, start, end, last = "deregistered", None, day(fact.end_date), day(fact.end_date)
        else:
            start = day(fact.start_date) or rec.valid_from
            status, end, last = "active", None, start
        reference = (
            str(data[fact.reference]) if fact.reference and data.get(fact.reference) else None
        )
        key = (rec.key, fact.registration)
        previous = by_key.get(key)
        if previous is not None and fact.kind == "benefit":
            details["payments"] = previous[7]["payments"] + 1
            start = min(d for d in (previous[4], start) if d) if start else previous[4]
        by_key[key] = [
            rec.key,
            fact.registration,
            reference,
            status,
            start,
            end,
            last,
            details,
            rec.seq,
        ]
    cols: list[list[Any]] = [[] for _ in range(9)]
    for row in by_key.values():
        row[7] = _dumps(row[7])
        for col, item in zip(cols, row, strict=True):
            col.append(item)
    return cols


async def apply_records(
    session: AsyncSession, *, topic: str, rule: TopicMapping, records: list[MappedRecord]
) -> list[CloudEvent]:
    """Attribute history, golden records, registrations and conflicts for one batch of one
    topic; stages the change events in the outbox and returns them."""
    subject = SUBJECTS[rule.subject]
    raw = await raw_connection(session)
    agency = records[0].agency
    touched = sorted({r.key for r in records if r.key})
    # Events about one subject may be handled concurrently (several deliveries in flight);
    # each recomputes the golden record from history, so they take turns per subject.
    # Sorted, so two batches never wait on each other in a cycle.
    await raw.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended($1 || ':' || k, 0)) "
        "FROM unnest($2::text[]) WITH ORDINALITY AS t(k, n) ORDER BY n",
        subject.kind,
        touched,
    )
    cols = _attribute_rows(records)
    if cols[0]:
        await raw.execute(_ATTRIBUTES_SQL, *cols, subject.kind, topic)
    if rule.fact and rule.fact.kind != "death":
        reg = _registration_rows(rule.fact, records)
        await raw.execute(_REGISTRATIONS_SQL, subject.kind, agency, topic, *reg)
    changed = await raw.fetch(
        _GOLDEN_SQL.format(table=subject.table, key=subject.key), touched, subject.kind
    )
    if cols[0]:
        await raw.execute(_CONFLICTS_SQL, touched, subject.kind)
    events = _change_events(subject, topic, agency, records, changed)
    await add_events(session, "registry", events)
    return events


def _change_events(
    subject: SubjectTable,
    topic: str,
    agency: str,
    records: list[MappedRecord],
    changed: list[Any],
) -> list[CloudEvent]:
    last_seq: dict[str, int] = {}
    for rec in records:
        if rec.key:
            last_seq[rec.key] = max(rec.seq, last_seq.get(rec.key, rec.seq))
    items = [
        {
            subject.key: row["id"],
            "attributes": list(row["changed"]),
            "source_agency": agency,
            "seq": last_seq.get(row["id"]),
        }
        for row in changed
        if row["changed"]
    ]
    events: list[CloudEvent] = []
    if items:
        events.append(
            CloudEvent(
                source=SOURCE,
                type=subject.event_type,
                subject=topic,
                data={subject.event_list: items},
            )
        )
    deceased = [
        {
            "id_number": row["id"],
            "death_date": row["death_date"],
            "source_agency": row["vital_agency"],
            "seq": row["vital_seq"],
        }
        for row in changed
        if subject.kind == "person"
        and row["vital"] == "deceased"
        and row["was_vital"] != "deceased"
    ]
    if deceased:
        events.append(
            CloudEvent(
                source=SOURCE,
                type="registry.person.deceased",
                subject=topic,
                data={"persons": deceased},
            )
        )
    return events
