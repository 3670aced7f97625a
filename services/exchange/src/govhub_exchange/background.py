"""Periodic tasks: auditing publishes and deliveries, signing the audit chain head,
refreshing lag and dead-letter gauges."""

from __future__ import annotations

import asyncio
import logging

import sqlalchemy as sa

from govhub_common.runtime import ServiceContext
from govhub_exchange.audit import service as audit
from govhub_exchange.delivery.service import LAG_SECONDS, RECEIVED_SEQ, audit_feed_deliveries
from govhub_exchange.metrics import (
    SUBSCRIPTION_LAG_RECORDS,
    SUBSCRIPTION_LAG_SECONDS,
    WEBHOOK_DEAD_LETTERS,
    WEBHOOK_PAUSED,
)
from govhub_exchange.publishing.service import AUDIT_ROUND, audit_publishes
from govhub_exchange.settings import ExchangeSettings

log = logging.getLogger("govhub.exchange.background")


async def sign_audit_head(ctx: ServiceContext) -> None:
    settings: ExchangeSettings = ctx.settings
    while True:
        await asyncio.sleep(settings.audit_checkpoint_seconds)
        async with ctx.db.session() as session:
            await audit.sign_head(session, keys=ctx.runtime.keys)


async def refresh_gauges_once(ctx: ServiceContext) -> None:
    async with ctx.db.session() as session:
        rows = await session.execute(
            sa.text(
                "SELECT s.id, s.topic_code, s.subscriber, "
                f"t.head_seq - {RECEIVED_SEQ} AS lag, {LAG_SECONDS} AS age, "
                "s.webhook_url IS NOT NULL AS has_webhook, s.webhook_status "
                "FROM exchange.subscriptions s JOIN exchange.topics t ON t.code = s.topic_code "
                "WHERE s.status = 'approved'"
            )
        )
        for row in rows:
            labels = (str(row.id), row.topic_code, row.subscriber)
            SUBSCRIPTION_LAG_RECORDS.labels(*labels).set(row.lag)
            SUBSCRIPTION_LAG_SECONDS.labels(*labels).set(float(row.age))
            if row.has_webhook:
                WEBHOOK_PAUSED.labels(*labels).set(1 if row.webhook_status == "paused" else 0)
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
