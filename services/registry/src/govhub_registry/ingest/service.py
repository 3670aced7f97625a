"""Applying exchange records to golden records, set-based: one event of any size costs a
handful of statements (attribute history, golden records, registrations, conflicts,
unmapped records, outbox), never a statement per record."""

from __future__ import annotations

import logging
from collections.abc import Container, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from govhub_common.clock import utcnow
from govhub_common.db import raw_connection
from govhub_common.events import CloudEvent
from govhub_common.outbox import add_events
from govhub_registry.conflicts.service import conflicts_changed, event_columns
from govhub_registry.ingest.mapping import (
    FactRule,
    MappedRecord,
    Mapping,
    TopicMapping,
    Unmappable,
    map_record,
)
from govhub_registry.metrics import RECORDS_INGESTED
from govhub_registry.subjects import SOURCE, SUBJECTS, SubjectTable

log = logging.getLogger("govhub.registry.ingest")


@dataclass
class IngestResult:
    applied: int = 0
    unmapped: int = 0
    linked: int = 0
    in_review: int = 0
    events: list[CloudEvent] = field(default_factory=list)


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def business_times(records: Sequence[Any]) -> list[datetime]:
    """The business times the records state (for the business clock's stamp: clock.py);
    a record without a readable one is left out. A batch repeats few of them."""
    times = []
    for text in {r.get("business_time") for r in records if isinstance(r, dict)}:
        if isinstance(text, str):
            try:
                times.append(datetime.fromisoformat(text.replace("Z", "+00:00")))
            except ValueError:
                continue
    return times


async def ingest_published(
    session: AsyncSession,
    *,
    topic: str,
    publisher: str,
    records: list[Any],
    mapping: Mapping,
    now: datetime | None = None,
) -> IngestResult:
    """Handle the records of one `exchange.record.published` event; `now` stamps the
    conflicts it raises or closes (the business clock's stamp; None: the wall clock)."""
    from govhub_registry.matching.service import match_records

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
        result.events = await apply_records(
            session, topic=topic, rule=rule, records=mapped, now=now
        )
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
    # SQL on the ingest path: the batch's rows in one unnest statement, whatever its size.
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


async def list_unmapped(
    session: AsyncSession, *, topic: str | None, limit: int, after: int | None
) -> list[dict[str, Any]]:
    """Up to limit + 1 rows by id, after the row `after`."""
    raw = await raw_connection(session)
    rows = await raw.fetch(
        "SELECT id, topic, seq, publisher, data::text AS data, reason, received_at "
        "FROM registry.unmapped_record WHERE id > $1 AND ($2::text IS NULL OR topic = $2) "
        "ORDER BY id LIMIT $3",
        after or 0,
        topic,
        limit + 1,
    )
    return [{**dict(r), "data": orjson.loads(r["data"])} for r in rows]


# Hand-written SQL (as the statements below): one statement per batch over unnest arrays,
# with conditions (replays, merges, settled conflicts) the models' insert cannot say.
# A record the registry already holds (a replayed event) is left out by the unique key's own
# probe, one index lookup a row. (A NOT EXISTS here was planned as a hash of every assertion
# of the topic: each batch read them all, so ingest slowed as the registry grew.) Values
# stay json text, as the record stated them.
_ASSERTIONS_SQL = """
INSERT INTO registry.assertion (subject_kind, subject_id, source_agency, source_topic, seq,
    valid_from, attributes, ranks)
SELECT $1, s.subject_id, s.agency, $2, s.seq, s.valid_from, s.attributes::json, s.ranks::json
FROM unnest($3::text[], $4::text[], $5::bigint[], $6::date[], $7::text[], $8::text[])
    AS s(subject_id, agency, seq, valid_from, attributes, ranks)
ON CONFLICT ON CONSTRAINT assertion_source_record_key DO NOTHING
RETURNING subject_id, source_agency, seq
"""

# New golden records are inserted, known ones updated (only those whose claims changed).
_GOLDEN_SQL = """
WITH s AS (
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bool[])
        AS s(id, attributes, claims, known)
),
updated AS (
    UPDATE {table} g SET attributes = s.attributes::jsonb, claims = s.claims, updated_at = now()
    FROM s WHERE s.known AND g.{key} = s.id
)
INSERT INTO {table} ({key}, attributes, claims)
SELECT s.id, s.attributes::jsonb, s.claims FROM s WHERE NOT s.known
"""

# Registrations of subjects the batch creates are new rows; the others are merged.
_REGISTRATIONS_SQL = """
WITH s AS (
    SELECT * FROM unnest($4::text[], $5::text[], $6::text[], $7::text[], $8::date[],
                         $9::date[], $10::date[], $11::text[], $12::bigint[], $13::bool[])
        AS s(subject_id, kind, reference, status, start_date, end_date, last_date, details,
             seq, known)
),
fresh AS (
    INSERT INTO registry.registration (subject_kind, subject_id, agency, kind, reference,
        status, start_date, end_date, last_date, details, source_topic, source_seq)
    SELECT $1, s.subject_id, $2, s.kind, s.reference, s.status, s.start_date, s.end_date,
           s.last_date, s.details::jsonb, $3, s.seq
    FROM s WHERE NOT s.known
)
INSERT INTO registry.registration AS r (subject_kind, subject_id, agency, kind, reference,
    status, start_date, end_date, last_date, details, source_topic, source_seq)
SELECT $1, s.subject_id, $2, s.kind, s.reference, s.status, s.start_date, s.end_date,
       s.last_date, s.details::jsonb, $3, s.seq
FROM s WHERE s.known
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

# Agencies disagree when their current values of an attribute differ. A conflict an
# operator settled stays settled while the same claims stand. Times are the business
# clock's stamp ($7; a conflict is never closed before it was detected, which a replayed
# batch dated earlier could do). Every conflict raised, changed or resolved comes back
# with what its event says (conflicts.service.conflicts_changed).
_CONFLICTS_SQL = f"""
WITH disputed AS (
    SELECT * FROM unnest($2::text[], $3::text[], $4::jsonb[], $5::text[])
        AS d(subject_id, attribute, claims, fingerprint)
),
agreed AS (
    UPDATE registry.conflict c SET status = 'resolved',
        resolved_at = greatest($7::timestamptz, c.detected_at),
        updated_at = greatest($7::timestamptz, c.detected_at)
    WHERE c.subject_kind = $1 AND c.subject_id = ANY($6::text[]) AND c.status = 'open'
      AND NOT EXISTS (SELECT 1 FROM disputed d
                      WHERE d.subject_id = c.subject_id AND d.attribute = c.attribute)
    RETURNING c.*
),
raised AS (
    INSERT INTO registry.conflict AS c (subject_kind, subject_id, attribute, claims, fingerprint,
        detected_at, updated_at)
    SELECT $1, d.subject_id, d.attribute, d.claims, d.fingerprint, $7, $7 FROM disputed d
    WHERE NOT EXISTS (SELECT 1 FROM registry.conflict s
                      WHERE s.subject_kind = $1 AND s.subject_id = d.subject_id
                        AND s.attribute = d.attribute AND s.status = 'settled'
                        AND s.fingerprint = d.fingerprint)
    ON CONFLICT (subject_kind, subject_id, attribute) WHERE status = 'open' DO UPDATE
        SET claims = excluded.claims, fingerprint = excluded.fingerprint,
            updated_at = greatest(excluded.updated_at, c.detected_at)
        WHERE c.fingerprint IS DISTINCT FROM excluded.fingerprint
    RETURNING c.*
),
changed AS (SELECT * FROM agreed UNION ALL SELECT * FROM raised)
SELECT id, subject_kind, attribute, status, detected_at, {event_columns("changed")}
FROM changed ORDER BY id
"""

DERIVED_AGENCY = "gb11643"
# A claim: [value, rank, valid_from (ISO), seq]; claims[attribute][agency] = claim.
Claims = dict[str, dict[str, list[Any]]]


def merge_claims(claims: Claims, rec: MappedRecord, derived_agency: str = DERIVED_AGENCY) -> None:
    """Each agency's newest statement of an attribute replaces its earlier one."""
    valid_from = rec.valid_from.isoformat()
    seq = rec.seq
    if not claims and not rec.derived:
        # A subject's first record (the bulk of a registration feed): nothing to compare.
        agency = rec.agency
        for name, (value, rank) in rec.attributes.items():
            claims[name] = {agency: [value, rank, valid_from, seq]}
        return
    for agency, stated in ((rec.agency, rec.attributes), (derived_agency, rec.derived)):
        for name, (value, rank) in stated.items():
            slot = claims.get(name)
            if slot is None:
                claims[name] = {agency: [value, rank, valid_from, seq]}
                continue
            held = slot.get(agency)
            if held is None or held[2] < valid_from or (held[2] == valid_from and held[3] <= seq):
                slot[agency] = [value, rank, valid_from, seq]


def best_claim(by_agency: dict[str, list[Any]]) -> tuple[str, list[Any]]:
    """The claim that stands: the best rank, then the newest valid time, then the newest record."""
    if len(by_agency) == 1:
        for only in by_agency.items():
            return only
    return min(by_agency.items(), key=lambda kv: (kv[1][1], _negated(kv[1][2]), -kv[1][3]))


def current_attributes(claims: Claims) -> dict[str, Any]:
    return {name: best_claim(by_agency)[1][0] for name, by_agency in claims.items()}


def current_values(claims: Claims) -> tuple[dict[str, Any], dict[str, Any]]:
    """Per attribute: the value that stands and where it comes from."""
    attributes: dict[str, Any] = {}
    sources: dict[str, Any] = {}
    for name, by_agency in claims.items():
        agency, claim = best_claim(by_agency)
        attributes[name] = claim[0]
        sources[name] = {"agency": agency, "seq": claim[3], "valid_from": claim[2]}
    return attributes, sources


def current_sources(claims: Claims, shown: Container[str]) -> dict[str, dict[str, Any]]:
    """Where each shown attribute's current value comes from (agency, record, valid time)."""
    sources: dict[str, dict[str, Any]] = {}
    for name, by_agency in claims.items():
        if name in shown:
            agency, claim = best_claim(by_agency)
            sources[name] = {"agency": agency, "seq": claim[3], "valid_from": claim[2]}
    return sources


def _negated(iso_date: str) -> int:
    return -int(iso_date.replace("-", ""))


def disputes(claims: Claims) -> dict[str, list[dict[str, Any]]]:
    """Attributes on which the agencies' current values differ, with every claim."""
    found: dict[str, list[dict[str, Any]]] = {}
    for name, by_agency in claims.items():
        if len(by_agency) < 2:
            continue
        values = {_dumps(c[0]) for c in by_agency.values()}
        if len(values) > 1:
            found[name] = [
                {"agency": a, "value": c[0], "seq": c[3], "valid_from": c[2], "rank": c[1]}
                for a, c in sorted(by_agency.items(), key=lambda kv: (kv[1][1], kv[0]))
            ]
    return found


def _fingerprint(claims: list[dict[str, Any]]) -> str:
    import hashlib

    text = "|".join(sorted(f"{c['agency']}={_dumps(c['value'])}" for c in claims))
    return hashlib.md5(text.encode()).hexdigest()


def _assertion_rows(records: list[MappedRecord]) -> list[list[Any]]:
    """Column arrays for _ASSERTIONS_SQL: a row per record, and one for what its ID states;
    a record given twice in the batch once."""
    cols: list[list[Any]] = [[] for _ in range(6)]
    subject_ids, agencies, seqs, valid_froms, values, ranks = cols
    seen: set[tuple[str | None, str, int]] = set()
    for rec in records:
        for agency, stated in ((rec.agency, rec.attributes), (DERIVED_AGENCY, rec.derived)):
            if not stated or (rec.key, agency, rec.seq) in seen:
                continue
            seen.add((rec.key, agency, rec.seq))
            subject_ids.append(rec.key)
            agencies.append(agency)
            seqs.append(rec.seq)
            valid_froms.append(rec.valid_from)
            values.append(_dumps({k: v for k, (v, _) in stated.items()}))
            ranks.append(_dumps({k: r for k, (_, r) in stated.items()}))
    return cols


def _registration_rows(
    fact: FactRule, records: list[MappedRecord], known: Container[str]
) -> list[list[Any]]:
    by_key: dict[tuple[str, str], list[Any]] = {}
    for rec in records:  # in valid-time order
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
            rec.key in known,
        ]
    cols: list[list[Any]] = [[] for _ in range(10)]
    for row in by_key.values():
        row[7] = _dumps(row[7])
        for col, item in zip(cols, row, strict=True):
            col.append(item)
    return cols


def _first_sight(rec: MappedRecord, asserted: set[tuple[str, int]]) -> bool:
    """True once per record whose assertion this batch wrote; a record stating no
    attribute writes none and always counts."""
    if not rec.attributes:
        return True
    key = (rec.key or "", rec.seq)
    if key in asserted:
        asserted.discard(key)
        return True
    return False


@dataclass
class _Change:
    key: str
    changed: list[str]
    values: dict[str, Any]
    died: dict[str, Any] | None = None  # the vital-status claim, when it became deceased


async def apply_records(
    session: AsyncSession,
    *,
    topic: str,
    rule: TopicMapping,
    records: list[MappedRecord],
    now: datetime | None = None,
) -> list[CloudEvent]:
    """Assertions, golden records, registrations and conflicts for one batch of one topic;
    stages the change events in the outbox and returns them. `now` stamps the conflicts
    raised or closed (None: the wall clock)."""
    subject = SUBJECTS[rule.subject]
    raw = await raw_connection(session)
    agency = records[0].agency
    touched = sorted({r.key for r in records if r.key})
    # Events about one subject may be handled concurrently (several deliveries in flight);
    # each reads and rewrites the golden record's claims, so they take turns per subject.
    # Sorted, so two batches never wait on each other in a cycle.
    await raw.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended($1 || ':' || k, 0)) "
        "FROM unnest($2::text[]) WITH ORDINALITY AS t(k, n) ORDER BY n",
        subject.kind,
        touched,
    )
    # Read after the locks: a statement sees what was committed when it started. (SQL on the
    # hot path: the claims as stored text, compared with the new text without decoding.)
    previous = {
        row["id"]: row
        for row in await raw.fetch(
            f"SELECT {subject.key} AS id, attributes::text AS attributes, claims "
            f"FROM {subject.table} WHERE {subject.key} = ANY($1::text[])",
            touched,
        )
    }
    ordered = sorted(records, key=lambda r: (r.valid_from, r.seq))
    cols = _assertion_rows(ordered)
    asserted: set[tuple[str, int]] = set()
    if cols[0]:
        for row in await raw.fetch(_ASSERTIONS_SQL, subject.kind, topic, *cols):
            if row["source_agency"] == agency:
                asserted.add((row["subject_id"], row["seq"]))
    if rule.fact and rule.fact.kind != "death":
        # A record the registry already holds (the same record in a new event, or twice in
        # one batch) must not register again: a benefit would count its payment twice.
        new_records = [r for r in ordered if _first_sight(r, asserted)]
        if new_records:
            reg = _registration_rows(rule.fact, new_records, previous)
            await raw.execute(_REGISTRATIONS_SQL, subject.kind, agency, topic, *reg)

    claims_of: dict[str, Claims] = {
        key: orjson.loads(row["claims"]) for key, row in previous.items()
    }
    last_seq: dict[str, int] = {}
    for rec in ordered:
        assert rec.key is not None
        merge_claims(claims_of.setdefault(rec.key, {}), rec)
        last_seq[rec.key] = max(rec.seq, last_seq.get(rec.key, rec.seq))
    golden: list[list[Any]] = [[] for _ in range(4)]
    changes: list[_Change] = []
    disputed: list[list[Any]] = [[] for _ in range(4)]
    rechecked: list[str] = []  # known subjects whose claims moved: their conflicts may clear
    for key in touched:
        claims = claims_of[key]
        claims_text = _dumps(claims)
        attributes = current_attributes(claims)
        held = previous.get(key)
        if held is None:
            before: dict[str, Any] = {}
            changed = sorted(attributes)
        elif claims_text == held["claims"]:
            continue  # records the registry already had: nothing moves
        else:
            rechecked.append(key)
            before = orjson.loads(held["attributes"])
            changed = sorted(
                n for n in attributes.keys() | before.keys() if attributes.get(n) != before.get(n)
            )
        for col, item in zip(
            golden, (key, _dumps(attributes), claims_text, held is not None), strict=True
        ):
            col.append(item)
        died = None
        if (
            subject.kind == "person"
            and attributes.get("vital_status") == "deceased"
            and before.get("vital_status") != "deceased"
        ):
            source, claim = best_claim(claims["vital_status"])
            died = {"death_date": attributes.get("death_date"), "agency": source, "seq": claim[3]}
        if changed:
            changes.append(_Change(key, changed, {n: attributes.get(n) for n in changed}, died))
        for name, listed in disputes(claims).items():
            for col, item in zip(
                disputed, (key, name, _dumps(listed), _fingerprint(listed)), strict=True
            ):
                col.append(item)
    if golden[0]:
        await raw.execute(_GOLDEN_SQL.format(table=subject.table, key=subject.key), *golden)
    events = _change_events(subject, topic, agency, last_seq, changes)
    if disputed[0] or rechecked:
        stamp = now or utcnow()
        conflicts = await raw.fetch(_CONFLICTS_SQL, subject.kind, *disputed, rechecked, stamp)
        if conflicts:
            events.append(conflicts_changed(conflicts, subject=topic))
    await add_events(session, "registry", events)
    return events


def _change_events(
    subject: SubjectTable,
    topic: str,
    agency: str,
    last_seq: dict[str, int],
    changes: list[_Change],
) -> list[CloudEvent]:
    events: list[CloudEvent] = []
    if changes:
        items = [
            {
                subject.key: change.key,
                "attributes": change.changed,
                # The current values after the change, so consumers can keep a projection
                # (e.g. an enterprise's contact mobile) without reading the registry back.
                "values": change.values,
                "source_agency": agency,
                "seq": last_seq.get(change.key),
            }
            for change in changes
        ]
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
            "id_number": change.key,
            "death_date": change.died["death_date"],
            "source_agency": change.died["agency"],
            "seq": change.died["seq"],
        }
        for change in changes
        if change.died is not None
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
