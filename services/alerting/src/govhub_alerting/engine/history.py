"""History for rules not yet written: every exchange record alerting receives is kept, so a
new or changed rule can be evaluated over any topic, not only those some rule read already.

`alerting.records` holds each record once (topic, seq) with its whole data. The rules work
on `alerting.facts` (one row per record and view, only the fields rules read); when a rule
reads a view or a field the facts do not have yet, `materialize` derives them from the
records in one statement per view.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from datetime import timedelta
from typing import Any, Protocol

import orjson
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from govhub_alerting.rules.kinds import record_specs, referenced_fields
from govhub_alerting.rules.language import FIELD_NAME, AnyRule
from govhub_common.db import Database

log = logging.getLogger("govhub.alerting.history")

FIELD = re.compile(FIELD_NAME)


class Record(Protocol):
    @property
    def seq(self) -> int: ...
    @property
    def publisher(self) -> str: ...
    @property
    def data(self) -> dict[str, Any]: ...


async def store_records(session: AsyncSession, *, topic: str, records: Sequence[Record]) -> None:
    """Keep the records of an event (one statement; a record seen before is kept once)."""
    await session.execute(
        sa.text(
            """
            INSERT INTO alerting.records (topic, seq, publisher, data)
            SELECT :topic, s, p, CAST(d AS jsonb)
            FROM unnest(CAST(:seqs AS bigint[]), CAST(:publishers AS text[]),
                        CAST(:data AS text[])) AS r(s, p, d)
            ON CONFLICT (topic, seq) DO NOTHING
            """
        ),
        {
            "topic": topic,
            "seqs": [r.seq for r in records],
            "publishers": [r.publisher for r in records],
            "data": [orjson.dumps(r.data).decode() for r in records],
        },
    )


def kept_fields(rules: Iterable[AnyRule]) -> dict[str, set[str]]:
    """Per topic, the fields facts keep: every field any of these rules reads."""
    fields: dict[str, set[str]] = {}
    for rule in rules:
        for topic, names in referenced_fields(rule).items():
            fields.setdefault(topic, set()).update(names)
    return fields


# A fact from a stored record: the same subject, business date and kept fields the event path
# would have written (ingest.store_facts); records without a key or a valid date are skipped.
MATERIALIZE = """
INSERT INTO alerting.facts (view, topic, seq, subject, business_date, publisher, data)
SELECT :view, r.topic, r.seq, r.data->>:key, d.day, r.publisher, {subset}
FROM alerting.records r
CROSS JOIN LATERAL (SELECT alerting.business_date_of(r.data->>:date) AS day OFFSET 0) d
WHERE r.topic = :topic AND coalesce(r.data->>:key, '') <> '' AND d.day IS NOT NULL {since}
ON CONFLICT (view, seq) DO UPDATE SET data = alerting.facts.data || excluded.data
    WHERE NOT alerting.facts.data @> excluded.data
"""

# Taken shared by each record event's transaction, exclusive while facts are derived from
# the stored records (materialize).
RECORDS_LOCK = 7_305_101

# A record is stamped with the start of the transaction that stores it, which may commit
# after a derivation started: the next derivation reads the records received this long
# before the previous one started (event transactions last well under a second).
IN_FLIGHT_MARGIN = timedelta(minutes=15)


def _subset(fields: Iterable[str]) -> str:
    """The record's data with only these fields, those it has (a fifth of the time of a
    jsonb_each per row). Field names are [a-z][a-z0-9_]* (the rule model checks them)."""
    names = sorted(fields)
    for name in names:
        if not FIELD.fullmatch(name):
            raise ValueError(f"not a field name: {name!r}")
    if not names:
        return "'{}'::jsonb"
    pairs = ", ".join(f"'{n}', r.data->'{n}'" for n in names)
    absent = ", ".join(f"CASE WHEN NOT r.data ? '{n}' THEN '{n}' END" for n in names)
    return f"(jsonb_build_object({pairs}) - array_remove(ARRAY[{absent}], NULL))"


async def materialize(
    session: AsyncSession, *, rule: AnyRule, stored: Iterable[AnyRule] = ()
) -> int:
    """Make the facts of every view the rule reads complete over the stored records: the
    records of a topic no rule read before become facts, and facts kept before the rule read
    a field get it. Idempotent; returns the facts written or widened.

    `alerting.fact_views` remembers per view the fields derived and when: a view derived
    before with these fields only reads the records received since (less the in-flight
    margin), so a rule dry-run again, or created after its dry run, does not derive the
    whole history again. The fields of a view only grow."""
    keep = kept_fields([rule, *stored])
    written = 0
    # Wait for record events in flight (they hold this lock shared until they commit) and
    # hold theirs back until this transaction commits: an event stored before the lock is
    # read below, one stored after it sees this rule and derives the facts itself. Without
    # it, an event committing between the two would be in neither.
    await session.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": RECORDS_LOCK})
    for spec in {s.view: s for s in record_specs(rule)}.values():
        # The row lock makes concurrent derivations of one view take turns.
        await session.execute(
            sa.text(
                "INSERT INTO alerting.fact_views (view, fields, derived_at) "
                "VALUES (:v, '{}', NULL) ON CONFLICT (view) DO NOTHING"
            ),
            {"v": spec.view},
        )
        done = (
            await session.execute(
                sa.text(
                    "SELECT fields, derived_at, now() AS started FROM alerting.fact_views "
                    "WHERE view = :v FOR UPDATE"
                ),
                {"v": spec.view},
            )
        ).one()
        wanted = keep.get(spec.topic, set())
        fields = wanted | set(done.fields)
        since = (
            None
            if done.derived_at is None or not wanted <= set(done.fields)
            else done.derived_at - IN_FLIGHT_MARGIN
        )
        result = await session.execute(
            sa.text(
                MATERIALIZE.format(
                    subset=_subset(fields),
                    since="" if since is None else "AND r.received_at >= :since",
                )
            ),
            {
                "view": spec.view,
                "topic": spec.topic,
                "key": spec.key,
                "date": spec.date,
                "since": since,
            },
        )
        written += int(result.rowcount or 0)  # type: ignore[attr-defined]
        await session.execute(
            sa.text("UPDATE alerting.fact_views SET fields = :f, derived_at = :at WHERE view = :v"),
            {"v": spec.view, "f": sorted(fields), "at": done.started},
        )
    if written:
        log.info("rule %s: %d facts derived from the stored records", rule.id, written)
    return written


async def prune_records(session: AsyncSession, *, retention_days: int, batch: int = 10_000) -> int:
    """Drop records received more than `retention_days` ago (0 keeps them for ever), a batch
    at a time; the facts derived from them stay."""
    if retention_days <= 0:
        return 0
    result = await session.execute(
        sa.text(
            """
            DELETE FROM alerting.records WHERE ctid = ANY(ARRAY(
                SELECT ctid FROM alerting.records
                WHERE received_at < now() - make_interval(days => :days)
                LIMIT :batch))
            """
        ),
        {"days": retention_days, "batch": batch},
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def prune_expired_records(db: Database, retention_days: int) -> int:
    """Every expired record, a committed batch at a time (the scheduler calls it)."""
    total = 0
    while True:
        async with db.session() as session:
            pruned = await prune_records(session, retention_days=retention_days)
        total += pruned
        if pruned == 0:
            break
    if total:
        log.info("%d records older than %d days pruned", total, retention_days)
    return total
