"""The facts the scorecards need from outside the publish path, kept as they happen: webhook
attempts per day, and what the registry's and alerting's events announce (conflicts,
warnings, rules). Each write is set-based and idempotent: an event delivered twice, or an
older state arriving after a newer one, changes nothing."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import orjson
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from govhub_common.event_contracts.alerting import AnnouncedRule, HubWarning
from govhub_common.event_contracts.registry import ConflictChange


async def record_webhook_attempts(
    session: AsyncSession, attempts: Sequence[tuple[str, str, bool, bool]]
) -> None:
    """(subscriber, topic, failed, dead) of each post, added to today's figures (the wall
    clock's day: webhooks are posted in real time, also in simulation)."""
    tally: Counter[tuple[str, str]] = Counter()
    failures: Counter[tuple[str, str]] = Counter()
    dead: Counter[tuple[str, str]] = Counter()
    for subscriber, topic, failed, was_dead in attempts:
        tally[subscriber, topic] += 1
        failures[subscriber, topic] += failed
        dead[subscriber, topic] += was_dead
    keys = sorted(tally)
    if not keys:
        return
    await session.execute(
        sa.text(
            "INSERT INTO exchange.quality_webhook_days AS d (day, subscriber, topic_code, "
            "attempts, failures, dead) SELECT (now() AT TIME ZONE 'Asia/Shanghai')::date, "
            "u.subscriber, u.topic, u.attempts, u.failures, u.dead FROM unnest("
            "CAST(:subscribers AS text[]), CAST(:topics AS text[]), CAST(:attempts AS int[]), "
            "CAST(:failures AS int[]), CAST(:dead AS int[])) "
            "AS u(subscriber, topic, attempts, failures, dead) ORDER BY 2, 3 "
            "ON CONFLICT (day, subscriber, topic_code) DO UPDATE SET "
            "attempts = d.attempts + excluded.attempts, failures = d.failures + excluded.failures, "
            "dead = d.dead + excluded.dead"
        ),
        {
            "subscribers": [s for s, _ in keys],
            "topics": [t for _, t in keys],
            "attempts": [tally[k] for k in keys],
            "failures": [failures[k] for k in keys],
            "dead": [dead[k] for k in keys],
        },
    )


async def record_warnings(session: AsyncSession, warnings: Sequence[HubWarning]) -> None:
    """Each warning's newest state: a resolved warning stays resolved whatever arrives
    after it (an event of an earlier state delivered late)."""
    latest = {w.id: w for w in sorted(warnings, key=lambda w: (w.id, w.resolved_at is not None))}
    if not latest:
        return
    rows = [latest[k] for k in sorted(latest)]
    await session.execute(
        sa.text(
            "INSERT INTO exchange.quality_warnings AS q (warning_id, agency, rule_id, status, "
            "resolution, raised_at, resolved_at) SELECT * FROM unnest(CAST(:ids AS bigint[]), "
            "CAST(:agencies AS text[]), CAST(:rules AS text[]), CAST(:statuses AS text[]), "
            "CAST(:resolutions AS text[]), CAST(:raised AS timestamptz[]), "
            "CAST(:resolved AS timestamptz[])) "
            "ON CONFLICT (warning_id) DO UPDATE SET status = excluded.status, "
            "resolution = excluded.resolution, resolved_at = excluded.resolved_at "
            "WHERE q.resolved_at IS NULL"
        ),
        {
            "ids": [w.id for w in rows],
            "agencies": [w.assigned_agency for w in rows],
            "rules": [w.rule_id for w in rows],
            "statuses": [w.status for w in rows],
            "resolutions": [w.resolution for w in rows],
            "raised": [w.raised_at for w in rows],
            "resolved": [w.resolved_at for w in rows],
        },
    )


async def record_conflicts(session: AsyncSession, conflicts: Sequence[ConflictChange]) -> None:
    """Each conflict's newest state, once per dissenting agency: a closed conflict stays
    closed, and its dissenters are replaced by the newest state's."""
    latest: dict[int, ConflictChange] = {}
    for c in conflicts:
        held = latest.get(c.conflict_id)
        if held is None or held.closed_at is None:  # the later in the event is the newer
            latest[c.conflict_id] = c
    if not latest:
        return
    ids = sorted(latest)
    # The conflicts already closed here keep what they hold.
    closed = set(
        (
            await session.execute(
                sa.text(
                    "SELECT DISTINCT conflict_id FROM exchange.quality_conflicts "
                    "WHERE conflict_id = ANY(CAST(:ids AS bigint[])) AND closed_at IS NOT NULL"
                ),
                {"ids": ids},
            )
        ).scalars()
    )
    changed = [latest[i] for i in ids if i not in closed]
    if not changed:
        return
    await session.execute(
        sa.text(
            "DELETE FROM exchange.quality_conflicts WHERE conflict_id = ANY(CAST(:ids AS bigint[]))"
        ),
        {"ids": [c.conflict_id for c in changed]},
    )
    parties = [(c, p) for c in changed for p in {p.agency: p for p in c.dissenters}.values()]
    if not parties:
        return
    await session.execute(
        sa.text(
            "INSERT INTO exchange.quality_conflicts (conflict_id, agency, topic_code, attribute, "
            "status, detected_at, closed_at) SELECT * FROM unnest(CAST(:ids AS bigint[]), "
            "CAST(:agencies AS text[]), CAST(:topics AS text[]), CAST(:attributes AS text[]), "
            "CAST(:statuses AS text[]), CAST(:detected AS timestamptz[]), "
            "CAST(:closed AS timestamptz[]))"
        ),
        {
            "ids": [c.conflict_id for c, _ in parties],
            "agencies": [p.agency for _, p in parties],
            "topics": [p.topic for _, p in parties],
            "attributes": [c.attribute for c, _ in parties],
            "statuses": [c.status for c, _ in parties],
            "detected": [c.detected_at for c, _ in parties],
            "closed": [c.closed_at for c, _ in parties],
        },
    )


async def record_rules(session: AsyncSession, rules: Sequence[AnnouncedRule]) -> None:
    """Each rule's highest version: the topics it reads and its window."""
    latest: dict[str, AnnouncedRule] = {}
    for r in rules:
        if r.rule_id not in latest or r.version >= latest[r.rule_id].version:
            latest[r.rule_id] = r
    if not latest:
        return
    rows = [latest[k] for k in sorted(latest)]
    await session.execute(
        sa.text(
            "INSERT INTO exchange.quality_rules AS q (rule_id, version, enabled, topics, "
            "window_days) SELECT u.rule_id, u.version, u.enabled, "
            "ARRAY(SELECT jsonb_array_elements_text(u.topics)), u.window_days FROM unnest("
            "CAST(:ids AS text[]), CAST(:versions AS int[]), CAST(:enabled AS boolean[]), "
            "CAST(:topics AS jsonb[]), CAST(:windows AS int[])) "
            "AS u(rule_id, version, enabled, topics, window_days) "
            "ON CONFLICT (rule_id) DO UPDATE SET version = excluded.version, "
            "enabled = excluded.enabled, topics = excluded.topics, "
            "window_days = excluded.window_days WHERE q.version <= excluded.version"
        ),
        {
            "ids": [r.rule_id for r in rows],
            "versions": [r.version for r in rows],
            "enabled": [r.enabled for r in rows],
            "topics": [orjson.dumps(r.topics).decode() for r in rows],
            "windows": [r.window_days for r in rows],
        },
    )
