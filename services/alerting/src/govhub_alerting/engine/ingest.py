"""The event-driven path: a record event becomes facts, timers and warnings, set-based.

Facts are keyed by (view, exchange seq), so a redelivered event or a republished record
inserts nothing and therefore changes nothing downstream.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from govhub_alerting.engine.events import emit_warnings
from govhub_alerting.engine.history import RECORDS_LOCK, store_records
from govhub_alerting.rules.catalog import DEFAULT_CONTACT_ATTRIBUTES, remember_topic_fields
from govhub_alerting.rules.kinds import kind_of, record_specs, referenced_fields
from govhub_alerting.rules.language import AnyRule, RecordSpec
from govhub_alerting.rules.service import StoredRule, install_city_rules, list_rules
from govhub_common.event_contracts import read_batch
from govhub_common.event_contracts.exchange import PublishedRecord, RecordsPublished
from govhub_common.event_contracts.registry import Death, PersonsDeceased
from govhub_common.events import CloudEvent

log = logging.getLogger("govhub.alerting.engine")

# registry.person.deceased is read as records of this pseudo topic.
DECEASED_TOPIC = "registry_person_deceased"


@dataclass(frozen=True)
class IncomingRecord:
    seq: int
    publisher: str
    data: dict[str, Any]


@dataclass(frozen=True)
class Incoming:
    """The records an event brings, as rules read them."""

    topic: str
    records: list[IncomingRecord]
    business_times: list[datetime]  # of the published records (for the business clock)


def records_of(event: CloudEvent) -> Incoming | None:
    """The records an event carries, read by its contract (govhub_common.event_contracts):
    a record that breaks it is skipped (and logged), never the rest of the batch with it;
    an event whose topic or publisher breaks it is parked (BrokenContract)."""
    if event.type == "exchange.record.published":
        published = read_batch(event, RecordsPublished, "records", PublishedRecord)
        faults = published.faults
        topic, publisher = published.header.topic, published.header.publisher
        records = [IncomingRecord(r.seq, publisher, r.data) for r in published.items]
        times = [r.business_time for r in published.items if r.business_time is not None]
    elif event.type == "registry.person.deceased":
        deaths = read_batch(event, PersonsDeceased, "persons", Death)
        faults = deaths.faults
        topic, times = DECEASED_TOPIC, []
        records = [
            IncomingRecord(d.seq, d.source_agency, d.model_dump(mode="json"))
            for d in deaths.items
            if d.seq is not None
        ]
        faults += ["a death without its seq"] * (len(deaths.items) - len(records))
    else:
        return None
    if faults:
        log.warning("event %s: %d records skipped: %s", event.id, len(faults), faults[0])
    return Incoming(topic, records, times)


def _business_date(value: Any) -> date | None:
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        return None


SUBJECT_LOCK_BUCKETS = 64


async def lock_subjects(session: AsyncSession, subjects: list[str]) -> None:
    """Events about the same subjects are judged one after the other: without this, a death
    and a pension payment handled at once would each miss the other's uncommitted fact.
    Subjects hash into a few buckets (taken in order, so no deadlock) to bound the locks."""
    await session.execute(
        sa.text(
            "SELECT pg_advisory_xact_lock(hashtext('alerting.subjects'), b) FROM ("
            "SELECT DISTINCT abs(hashtext(s) % :n) AS b FROM unnest(CAST(:s AS text[])) s "
            "ORDER BY 1) buckets"
        ),
        {"s": subjects, "n": SUBJECT_LOCK_BUCKETS},
    )


async def store_facts(
    session: AsyncSession, *, topic: str, records: list[IncomingRecord], rules: list[StoredRule]
) -> dict[str, list[int]]:
    """Insert the facts some rule reads from these records; returns the new fact ids by view.
    One INSERT per event, whatever its size."""
    views: dict[str, RecordSpec] = {}
    keep: set[str] = set()
    for stored in rules:
        for spec in record_specs(stored.rule):
            if spec.topic == topic:
                views[spec.view] = spec
        keep |= referenced_fields(stored.rule).get(topic, set())
    if not views:
        return {}
    columns: dict[str, list[Any]] = defaultdict(list)
    skipped = 0
    for spec in views.values():
        for record in records:
            key, day = record.data.get(spec.key), _business_date(record.data.get(spec.date))
            if key in (None, "") or day is None:
                skipped += 1
                continue
            columns["view"].append(spec.view)
            columns["seq"].append(record.seq)
            columns["subject"].append(str(key))
            columns["day"].append(day)
            columns["publisher"].append(record.publisher)
            subset = {k: v for k, v in record.data.items() if k in keep}
            columns["data"].append(orjson.dumps(subset).decode())
    if skipped:
        log.warning("%d %s records lack a key or business date; not kept", skipped, topic)
    if not columns:
        return {}
    await lock_subjects(session, columns["subject"])
    rows = await session.execute(
        sa.text(
            """
            INSERT INTO alerting.facts (view, topic, seq, subject, business_date, publisher, data)
            SELECT v, :topic, s, k, d, p, CAST(j AS jsonb)
            FROM unnest(CAST(:views AS text[]), CAST(:seqs AS bigint[]), CAST(:subjects AS text[]),
                        CAST(:days AS date[]), CAST(:publishers AS text[]), CAST(:data AS text[]))
                AS r(v, s, k, d, p, j)
            ON CONFLICT (view, seq) DO NOTHING
            RETURNING id, view
            """
        ),
        {
            "topic": topic,
            "views": columns["view"],
            "seqs": columns["seq"],
            "subjects": columns["subject"],
            "days": columns["day"],
            "publishers": columns["publisher"],
            "data": columns["data"],
        },
    )
    new: dict[str, list[int]] = defaultdict(list)
    for row in rows:
        new[row.view].append(row.id)
    return new


async def evaluate_new_facts(
    session: AsyncSession,
    *,
    rules: list[StoredRule],
    new_facts: dict[str, list[int]],
    now: datetime,
) -> tuple[list[Any], list[Any]]:
    """Run each enabled rule over the facts that just arrived: (raised, resolved) warnings."""
    raised: list[Any] = []
    resolved: list[Any] = []
    for stored in rules:
        if not stored.enabled:
            continue
        rule_raised, rule_resolved = await kind_of(stored.rule).judge_new_facts(
            session, stored=stored, new_facts=new_facts, now=now
        )
        raised += rule_raised
        resolved += rule_resolved
    return raised, resolved


async def ingest_event(
    session: AsyncSession,
    event: CloudEvent,
    *,
    now: datetime,
    contact_attributes: tuple[str, ...] = DEFAULT_CONTACT_ATTRIBUTES,
    file_rules: Sequence[AnyRule] = (),
) -> None:
    """The consumer's effect for one event (in the inbox transaction); `file_rules` are the
    city's files' rules, installed with the first records of a topic they name."""
    await ingest_incoming(
        session,
        records_of(event),
        now=now,
        contact_attributes=contact_attributes,
        file_rules=file_rules,
    )


async def ingest_incoming(
    session: AsyncSession,
    incoming: Incoming | None,
    *,
    now: datetime,
    contact_attributes: tuple[str, ...] = DEFAULT_CONTACT_ATTRIBUTES,
    file_rules: Sequence[AnyRule] = (),
) -> None:
    """ingest_event for an event already read (the consumer reads it once: its business
    times set the clock `now` comes from)."""
    if incoming is None or not incoming.records:
        return
    topic, records = incoming.topic, incoming.records
    fields: set[str] = set()
    for record in records:
        fields.update(record.data)
    # A city's rule naming this topic comes with its first records (before the records lock:
    # installing derives the rule's facts under that lock).
    await install_city_rules(
        session, rules=file_rules, topics=[topic], contact_attributes=contact_attributes
    )
    # JIT compiling these short set-based statements costs more than running them. The
    # shared lock keeps a rule's derivation of facts from the stored records from running
    # while this event's records are stored but not committed (history.materialize).
    await session.execute(
        sa.text("SELECT set_config('jit', 'off', true), pg_advisory_xact_lock_shared(:k)"),
        {"k": RECORDS_LOCK},
    )
    await remember_topic_fields(session, topic, fields)
    # Every record is kept, whether a rule reads its topic or not: a rule written later
    # can then be dry-run and backfilled over it (engine/history.py).
    await store_records(session, topic=topic, records=records)
    rules = await list_rules(session)
    new_facts = await store_facts(session, topic=topic, records=records, rules=rules)
    if not new_facts:
        return
    raised, resolved = await evaluate_new_facts(session, rules=rules, new_facts=new_facts, now=now)
    await emit_warnings(session, raised=raised, resolved=resolved)
