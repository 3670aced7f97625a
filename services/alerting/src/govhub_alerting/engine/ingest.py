"""The event-driven path: a record event becomes facts, timers and warnings, set-based.

Facts are keyed by (view, exchange seq), so a redelivered event or a republished record
inserts nothing and therefore changes nothing downstream.
"""

from __future__ import annotations

import contextlib
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
from govhub_alerting.engine.rules_sql import apply_compliance, create_timers, raise_direct
from govhub_alerting.rules.catalog import DEFAULT_CONTACT_ATTRIBUTES, remember_topic_fields
from govhub_alerting.rules.model import (
    AbsenceRule,
    AnyRule,
    RecordSpec,
    record_specs,
    referenced_fields,
)
from govhub_alerting.rules.service import StoredRule, install_city_rules, list_rules
from govhub_common.events import CloudEvent

log = logging.getLogger("govhub.alerting.engine")

# registry.person.deceased is read as records of this pseudo topic.
DECEASED_TOPIC = "registry_person_deceased"


@dataclass(frozen=True)
class IncomingRecord:
    seq: int
    publisher: str
    data: dict[str, Any]


def records_of(event: CloudEvent) -> tuple[str, list[IncomingRecord]] | None:
    """The records an event carries; a malformed record is skipped (and logged), never the
    rest of the batch with it."""
    data = event.data if isinstance(event.data, dict) else {}
    if event.type == "exchange.record.published":
        topic, publisher = str(data.get("topic", "")), str(data.get("publisher", ""))
        raw = [(r.get("seq"), publisher, r.get("data")) for r in _dicts(data.get("records"))]
    elif event.type == "registry.person.deceased":
        topic = DECEASED_TOPIC
        raw = [
            (p.get("seq"), str(p.get("source_agency", "")), p) for p in _dicts(data.get("persons"))
        ]
    else:
        return None
    records = [
        IncomingRecord(seq, publisher, dict(body))
        for seq, publisher, body in raw
        if isinstance(seq, int) and isinstance(body, dict)
    ]
    if len(records) < len(raw):
        log.warning(
            "event %s: %d records without a seq or data skipped", event.id, len(raw) - len(records)
        )
    return topic, records


def business_times_of(event: CloudEvent) -> list[datetime]:
    """The business times the published records of an event carry (those that give one)."""
    data = event.data if isinstance(event.data, dict) else {}
    if event.type != "exchange.record.published":
        return []
    times = []
    for record in _dicts(data.get("records")):
        value = record.get("business_time")
        if isinstance(value, str):
            with contextlib.suppress(ValueError):
                times.append(datetime.fromisoformat(value))
    return times


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


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
        rule = stored.rule
        ids = [i for spec in record_specs(rule) for i in new_facts.get(spec.view, ())]
        if not ids:
            continue
        if isinstance(rule, AbsenceRule):
            if new_facts.get(rule.trigger.view):
                # Timers whose expected record is already stored are set settled.
                await create_timers(session, stored=stored, fact_ids=new_facts[rule.trigger.view])
            ids = [i for spec in rule.expected for i in new_facts.get(spec.view, ())]
            if not ids:
                continue
            subjects = (
                await session.execute(
                    sa.text("SELECT DISTINCT subject FROM alerting.facts WHERE id = ANY(:ids)"),
                    {"ids": ids},
                )
            ).scalars()
            resolved += await apply_compliance(
                session, stored=stored, subjects=list(subjects), now=now
            )
        else:
            raised += await raise_direct(session, stored=stored, fact_ids=ids, now=now)
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
    parsed = records_of(event)
    if parsed is None:
        return
    topic, records = parsed
    if not records:
        return
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
