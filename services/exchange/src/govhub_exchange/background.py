"""Periodic tasks: auditing publishes and deliveries, signing the audit chain head,
refreshing lag and dead-letter gauges."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from govhub_common.metrics import initialise
from govhub_common.runtime import ServiceContext
from govhub_exchange.archive import service as archive
from govhub_exchange.archive.blocks import PARTIAL_BLOCK_WAIT
from govhub_exchange.audit import service as audit
from govhub_exchange.catalog.models import Topic
from govhub_exchange.delivery.service import LAG_SECONDS, RECEIVED_SEQ, audit_feed_deliveries
from govhub_exchange.metrics import (
    LOG_COMPRESSION_OVERDUE,
    LOG_RETENTION_OVERDUE,
    RECORDS_PUBLISHED,
    RECORDS_REJECTED,
    SUBSCRIPTION_LAG_RECORDS,
    SUBSCRIPTION_LAG_SECONDS,
    WEBHOOK_ATTEMPTS,
    WEBHOOK_DEAD_LETTERS,
    WEBHOOK_PAUSED,
    WEBHOOK_PAUSES,
)
from govhub_exchange.publishing.service import AUDIT_ROUND, audit_publishes
from govhub_exchange.quality.publication import close_months, refresh_scorecard_gauges
from govhub_exchange.quality.service import Targets
from govhub_exchange.settings import ExchangeSettings

log = logging.getLogger("govhub.exchange.background")


async def sign_audit_head(ctx: ServiceContext) -> None:
    settings: ExchangeSettings = ctx.settings
    export_to = audit.checkpoint_dir(settings, ctx.runtime.database_url)
    while True:
        await asyncio.sleep(settings.audit_checkpoint_seconds)
        async with ctx.db.session() as session:
            await audit.sign_head(session, keys=ctx.runtime.keys, checkpoint_dir=export_to)


# Per topic with a retention: how far its oldest live record (of the first segment not kept
# live by an import) is past the latest it may stay, its retention plus the segments'
# maximum age (docs/exchange.md, "Retention and archive"); NULL while the log is empty.
RETENTION_OVERDUE = """
SELECT t.code AS topic_code,
    extract(epoch FROM now() - r.published_at)
        - (t.retention_days + :max_age_days) * 86400.0 AS overdue
FROM exchange.topics t
LEFT JOIN LATERAL (
    SELECT s.first_seq FROM exchange.log_segments s
    WHERE s.topic_code = t.code AND s.archived_at IS NULL
      AND (s.kept_until IS NULL OR s.kept_until <= now())
    ORDER BY s.first_seq LIMIT 1
) s ON true
LEFT JOIN LATERAL exchange.log_range(t.code, s.first_seq, s.first_seq + 1) r ON true
WHERE t.retention_days IS NOT NULL
"""

# Per topic: the age of its oldest record still stored as a row (migration 0015: log
# maintenance moves it into a block within the compress age, or the wait of a block's last
# few records after that); NULL while it has none. Its segments are range partitions in seq
# order, so this reads the first row of its first segment with rows.
OLDEST_ROW_AGE = """
SELECT t.code AS topic_code, extract(epoch FROM now() - r.published_at) AS age
FROM exchange.topics t
LEFT JOIN LATERAL (
    SELECT published_at FROM exchange.records WHERE topic_code = t.code ORDER BY seq LIMIT 1
) r ON true
"""


async def refresh_gauges_once(ctx: ServiceContext) -> None:
    """Lag and webhook gauges from the database. A subscription that ended (revoked,
    suspended, deleted) loses its series, and lag never reads below zero (a feed read past
    the head). Counters get their series at zero for the topics and subscribers known."""
    async with ctx.db.session() as session:
        # Stays SQL: one set-based read of every approved Subscription with its Topic's head,
        # sharing its lag expressions with delivery/service.py.
        rows = await session.execute(
            sa.text(
                "SELECT s.id, s.topic_code, s.subscriber, "
                f"greatest(t.head_seq - {RECEIVED_SEQ}, 0) AS lag, "
                f"greatest({LAG_SECONDS}, 0) AS age, "
                "s.webhook_url IS NOT NULL AS has_webhook, s.webhook_status "
                "FROM exchange.subscriptions s JOIN exchange.topics t ON t.code = s.topic_code "
                "WHERE s.status = 'approved'"
            )
        )
        live: set[tuple[str, ...]] = set()
        webhooks: set[tuple[str, ...]] = set()
        for row in rows:
            labels: tuple[str, ...] = (str(row.id), row.topic_code, row.subscriber)
            live.add(labels)
            SUBSCRIPTION_LAG_RECORDS.labels(*labels).set(max(int(row.lag or 0), 0))
            SUBSCRIPTION_LAG_SECONDS.labels(*labels).set(max(float(row.age or 0), 0.0))
            if row.has_webhook:
                webhooks.add(labels)
                WEBHOOK_PAUSED.labels(*labels).set(1 if row.webhook_status == "paused" else 0)
                initialise(WEBHOOK_PAUSES, (row.subscriber,))
                initialise(
                    WEBHOOK_ATTEMPTS, *((row.subscriber, outcome) for outcome in WEBHOOK_OUTCOMES)
                )
        for gauge, keep in (
            (SUBSCRIPTION_LAG_RECORDS, live),
            (SUBSCRIPTION_LAG_SECONDS, live),
            (WEBHOOK_PAUSED, webhooks),
        ):
            for labels in series_of(gauge) - keep:
                with contextlib.suppress(KeyError):
                    gauge.remove(*labels)
        # Stays SQL: set-based counts per subscriber over Subscription and WebhookDelivery.
        dead = await session.execute(
            sa.text(
                "SELECT s.subscriber, count(w.seq) AS n FROM exchange.subscriptions s "
                "LEFT JOIN exchange.webhook_deliveries w ON w.subscription_id = s.id "
                "AND w.status = 'dead' WHERE s.webhook_url IS NOT NULL OR w.seq IS NOT NULL "
                "GROUP BY s.subscriber"
            )
        )
        for row in dead:
            WEBHOOK_DEAD_LETTERS.labels(row.subscriber).set(row.n)
        retained: set[tuple[str, ...]] = set()
        for row in await session.execute(
            sa.text(RETENTION_OVERDUE), {"max_age_days": ctx.settings.log_segment_max_age_days}
        ):
            retained.add((row.topic_code,))
            LOG_RETENTION_OVERDUE.labels(row.topic_code).set(max(float(row.overdue or 0), 0.0))
        for labels in series_of(LOG_RETENTION_OVERDUE) - retained:
            with contextlib.suppress(KeyError):
                LOG_RETENTION_OVERDUE.remove(*labels)
        await _refresh_compression_overdue(session, ctx.settings)
        topics = await session.execute(sa.select(col(Topic.code)))
        for topic in topics.scalars():
            initialise(RECORDS_PUBLISHED, (topic,))
            initialise(RECORDS_REJECTED, (topic,))
        await refresh_scorecard_gauges(session)


async def _refresh_compression_overdue(session: AsyncSession, settings: ExchangeSettings) -> None:
    """GovhubLogCompressionOverdue's gauge: a record stays a row at most the compress age,
    then PARTIAL_BLOCK_WAIT if it is among a block's last few, then until the next round."""
    allowed = (
        settings.log_compress_after_hours * 3600
        + PARTIAL_BLOCK_WAIT.total_seconds()
        + settings.log_maintenance_seconds
    )
    topics: set[tuple[str, ...]] = set()
    for row in await session.execute(sa.text(OLDEST_ROW_AGE)):
        topics.add((row.topic_code,))
        overdue = float(row.age or 0) - allowed
        LOG_COMPRESSION_OVERDUE.labels(row.topic_code).set(max(overdue, 0.0))
    for labels in series_of(LOG_COMPRESSION_OVERDUE) - topics:
        with contextlib.suppress(KeyError):
            LOG_COMPRESSION_OVERDUE.remove(*labels)


async def publish_scorecards(ctx: ServiceContext) -> None:
    """Each hour, the scorecards of the months ended and not yet published. A simulation
    closes months itself (POST /exchange/v1/scorecards/close), as the time it drives."""
    settings: ExchangeSettings = ctx.settings
    if ctx.clock.simulated:
        return
    while True:
        try:
            async with ctx.db.session() as session:
                await close_months(session, now=ctx.clock.now(), targets=Targets.of(settings))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a lost connection: the next round catches up
            log.warning("publishing scorecards failed (%s); retrying", exc)
        await asyncio.sleep(settings.scorecard_check_seconds)


async def maintain_log(ctx: ServiceContext) -> None:
    """Each hour, open segments a month old closed, records a day old compressed and
    segments past their topic's retention archived (archive/). A simulation's time is its
    own: `govhub exchange log maintain --as-of` does it there."""
    settings: ExchangeSettings = ctx.settings
    if ctx.clock.simulated:
        return
    directory = archive.archive_dir(settings, ctx.runtime.database_url)
    checkpoints = audit.checkpoint_dir(settings, ctx.runtime.database_url)
    while True:
        await asyncio.sleep(settings.log_maintenance_seconds)
        try:
            done = await archive.maintain(
                ctx.db,
                settings,
                directory=directory,
                keys=ctx.runtime.keys,
                checkpoint_dir=checkpoints,
                now=ctx.clock.now(),
            )
            if done.closed or done.compressed or done.archived:
                log.info(
                    "log: closed %s; compressed %s; archived %s",
                    done.closed,
                    done.compressed,
                    done.archived,
                )
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a lost connection, a full disk: the next round retries
            log.warning("log maintenance failed (%s); retrying", exc)


# The outcomes of govhub_exchange_webhook_attempts_total (delivery/webhooks.py).
WEBHOOK_OUTCOMES = ("success", "retry", "dead")


def series_of(gauge: Any) -> set[tuple[str, ...]]:
    """The label values of a labelled gauge's current series."""
    return {
        tuple(sample.labels[name] for name in gauge._labelnames)
        for family in gauge.collect()
        for sample in family.samples
    }


async def refresh_gauges(ctx: ServiceContext) -> None:
    settings: ExchangeSettings = ctx.settings
    while True:
        await refresh_gauges_once(ctx)
        await asyncio.sleep(settings.lag_refresh_seconds)


async def audit_exchanges(ctx: ServiceContext) -> None:
    """Publishes and feed deliveries reach the audit log here, off their hot paths: the
    chain's lock would otherwise hold up publishers and feed readers."""
    settings: ExchangeSettings = ctx.settings
    while True:
        await asyncio.sleep(settings.audit_delivery_seconds)
        try:
            # Each in its own transaction, so the chain's lock is held for one at a time.
            while True:
                async with ctx.db.session() as session:
                    if await audit_publishes(session) < AUDIT_ROUND:
                        break
            async with ctx.db.session() as session:
                await audit_feed_deliveries(session)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a lost connection: the next round catches up
            log.warning("audit round failed (%s); retrying", exc)
