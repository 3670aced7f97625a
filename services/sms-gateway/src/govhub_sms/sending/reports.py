"""Delivery reports and inbound messages from the providers.

Reports are first stored (so a receipt the SMSC already has an ACK for is not lost), then
applied set-based to messages in `sent`. A report can overtake the sender's own record of
the submit; it then waits, unapplied, for the next pass.

A report also reconciles an `ambiguous` message (handed over, acceptance never recorded):
by govhub's id when the provider still knows it, else by the provider and the handset the
receipt names, when exactly one ambiguous message of that provider went to that handset.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from govhub_common.runtime import ServiceContext
from govhub_sms.events import StatusChange, record_status_changes
from govhub_sms.metrics import DELIVERED, DELIVERY_REPORT_SECONDS, FAILED
from govhub_sms.optouts.service import add_opt_outs
from govhub_sms.providers.base import DeliveryReport, InboundMessage, mask_phone
from govhub_sms.sending.gateway import Gateway
from govhub_sms.settings import SmsSettings
from govhub_sms.state import gateway_of
from govhub_sms.templates.rendering import is_opt_out_reply

log = logging.getLogger("govhub.sms.reports")

UNMATCHED_AFTER = timedelta(minutes=10)
BATCH = 1000


async def store_reports(session: AsyncSession, reports: list[tuple[str, DeliveryReport]]) -> None:
    if not reports:
        return
    await session.execute(
        sa.text(
            "INSERT INTO sms.delivery_reports (provider, provider_message_id, message_id, status, "
            "error_code, done_at, recipient) SELECT * FROM unnest(CAST(:providers AS text[]), "
            "CAST(:pids AS text[]), CAST(:mids AS uuid[]), CAST(:statuses AS text[]), "
            "CAST(:errors AS text[]), CAST(:done AS timestamptz[]), CAST(:recipients AS text[]))"
        ),
        {
            "providers": [name for name, _ in reports],
            "pids": [r.provider_message_id for _, r in reports],
            "mids": [r.message_id for _, r in reports],
            "statuses": [r.status for _, r in reports],
            "errors": [r.error_code for _, r in reports],
            "done": [r.done_at for _, r in reports],
            "recipients": [r.recipient for _, r in reports],
        },
    )


async def apply_reports(
    session: AsyncSession, *, settings: SmsSettings, gateway: Gateway, as_of: datetime
) -> int:
    """Apply stored reports to their messages; returns how many were applied."""
    rows = list(
        (
            await session.execute(
                sa.text(
                    "WITH pending AS (SELECT id, provider, provider_message_id, message_id, status, "
                    "error_code, received_at, recipient FROM sms.delivery_reports "
                    "WHERE applied_at IS NULL ORDER BY id LIMIT :n FOR UPDATE SKIP LOCKED) "
                    "SELECT p.id AS report_id, p.provider AS report_provider, p.status AS report_status, "
                    "p.provider_message_id AS report_pid, "
                    "p.error_code, p.received_at < now() - CAST(:unmatched AS interval) AS old, "
                    "m.id::text AS id, m.status, m.provider, m.provider_index, m.template_code, "
                    "m.idempotency_key, extract(epoch FROM clock_timestamp() - m.submitted_wall_at) "
                    "AS seconds FROM pending p LEFT JOIN sms.messages m ON m.id = coalesce("
                    "p.message_id, (SELECT x.id FROM sms.messages x WHERE x.provider = p.provider "
                    "AND x.provider_message_id = p.provider_message_id LIMIT 1), "
                    # the one ambiguous message of this provider to this handset, if only one
                    "(SELECT (array_agg(a.id))[1] FROM sms.messages a WHERE p.message_id IS NULL "
                    "AND p.recipient IS NOT NULL AND a.status = 'ambiguous' "
                    "AND a.provider = p.provider AND a.recipient = p.recipient HAVING count(*) = 1)"
                    ") ORDER BY p.id"
                ),
                {"n": BATCH, "unmatched": UNMATCHED_AFTER},
            )
        ).mappings()
    )
    if not rows:
        return 0
    outcomes: dict[int, str] = {}
    updates: list[dict[str, Any]] = []
    changes: list[StatusChange] = []
    seen: set[str] = set()
    for row in rows:
        if row["id"] is None:
            if row["old"]:
                outcomes[row["report_id"]] = "unmatched"
            continue
        if row["status"] == "sending" or row["id"] in seen:
            continue  # the sender has not recorded the submit yet: next pass
        if row["status"] not in ("sent", "ambiguous") or row["provider"] != row["report_provider"]:
            outcomes[row["report_id"]] = "ignored"  # a repeat, or a provider we left
            continue
        seen.add(row["id"])
        reconciled = row["status"] == "ambiguous"
        outcomes[row["report_id"]] = "reconciled" if reconciled else "applied"
        status = row["report_status"]
        provider = row["report_provider"]
        if row["seconds"] is not None:
            DELIVERY_REPORT_SECONDS.labels(provider).observe(max(0.0, float(row["seconds"])))
        update: dict[str, Any] = {
            "id": row["id"],
            "status": status,
            "index": None,
            "next": None,
            "pid": row["report_pid"],
        }
        if reconciled:
            log.info(
                "sms %s reconciled: a %s receipt from %s (%s) shows the carrier had it",
                row["id"],
                status,
                provider,
                row["report_pid"],
            )
        if status == "delivered":
            reason = (
                f"reconciled: a delivery receipt from {provider} ({row['report_pid']}) shows "
                "the carrier had it"
                if reconciled
                else None
            )
            DELIVERED.labels(provider, row["template_code"]).inc()
        else:
            reason = f"delivery report {status} from {provider}" + (
                f" (error {row['error_code']})" if row["error_code"] else ""
            )
            if reconciled:
                reason = f"reconciled: {reason}"
            following = gateway.slot(row["provider_index"] + 1)
            if settings.sms_failover_on_report and following is not None:
                update.update(status="deferred", index=row["provider_index"] + 1, next=as_of)
                reason = f"failover to {following.name}: {reason}"
            else:
                FAILED.labels(provider, row["template_code"]).inc()
        update["reason"] = reason
        updates.append(update)
        changes.append(
            StatusChange(
                row["id"],
                row["idempotency_key"],
                row["template_code"],
                update["status"],
                reason,
                as_of,
                provider,
            )
        )
    if updates:
        await session.execute(
            sa.text(
                "UPDATE sms.messages m SET status = u.status, reason = u.reason, updated_at = :now, "
                "provider_message_id = coalesce(m.provider_message_id, u.pid), "
                "provider_index = coalesce(u.idx, m.provider_index), "
                "next_attempt_at = coalesce(u.next, m.next_attempt_at), "
                "attempts = CASE WHEN u.idx IS NULL THEN m.attempts ELSE 0 END, "
                "sent_on = CASE WHEN u.idx IS NULL THEN m.sent_on END "
                "FROM unnest(CAST(:ids AS uuid[]), CAST(:statuses AS text[]), "
                "CAST(:reasons AS text[]), CAST(:idx AS int[]), CAST(:next AS timestamptz[]), "
                "CAST(:pids AS text[])) AS u(id, status, reason, idx, next, pid) "
                "WHERE m.id = u.id AND m.status IN ('sent', 'ambiguous')"
            ),
            {
                "ids": [u["id"] for u in updates],
                "statuses": [u["status"] for u in updates],
                "reasons": [u["reason"] for u in updates],
                "idx": [u["index"] for u in updates],
                "next": [u["next"] for u in updates],
                "pids": [u["pid"] for u in updates],
                "now": as_of,
            },
        )
        await record_status_changes(session, changes)
    if outcomes:
        await session.execute(
            sa.text(
                "UPDATE sms.delivery_reports r SET applied_at = now(), outcome = u.outcome "
                "FROM unnest(CAST(:ids AS bigint[]), CAST(:outcomes AS text[])) AS u(id, outcome) "
                "WHERE r.id = u.id"
            ),
            {"ids": list(outcomes), "outcomes": list(outcomes.values())},
        )
    return len(updates)


async def record_opt_outs(session: AsyncSession, messages: list[InboundMessage]) -> int:
    """Inbound "TD"/"T" replies put their sender on the opt-out list."""
    senders = [m.sender for m in messages if is_opt_out_reply(m.text)]
    if not senders:
        return 0
    await add_opt_outs(session, recipients=senders, source="inbound")
    for sender in senders:
        log.info("opt-out received from %s", mask_phone(sender))
    return len(senders)


def _drain(queue: asyncio.Queue[Any], limit: int) -> list[Any]:
    items: list[Any] = []
    while len(items) < limit and not queue.empty():
        items.append(queue.get_nowait())
    return items


async def process_pending(ctx: ServiceContext, *, as_of: datetime) -> int:
    """Store what the providers reported, then apply every pending report."""
    settings: SmsSettings = ctx.settings
    gateway = gateway_of(ctx)
    applied = 0
    while True:
        reports = _drain(gateway.reports, BATCH)
        inbound = _drain(gateway.inbound, BATCH)
        try:
            async with ctx.db.session() as session:
                await store_reports(session, reports)
                await record_opt_outs(session, inbound)
                n = await apply_reports(session, settings=settings, gateway=gateway, as_of=as_of)
        except BaseException:
            for item in reports:  # keep them for the next pass
                gateway.reports.put_nowait(item)
            for message in inbound:
                gateway.inbound.put_nowait(message)
            raise
        applied += n
        if n:
            gateway.wake.set()  # a failover may have queued a resend
        if gateway.reports.empty() and gateway.inbound.empty() and n < BATCH:
            return applied


async def run_reports(ctx: ServiceContext) -> None:
    """Background task: store and apply reports as they come, batching what arrives together."""
    gateway = gateway_of(ctx)
    while True:
        # The timeout also retries reports that overtook their submit.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(gateway.arrived.wait(), timeout=1.0)
        gateway.arrived.clear()
        await asyncio.sleep(0.02)  # let a burst of receipts gather into one batch
        try:
            await process_pending(ctx, as_of=ctx.clock.now())
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("applying delivery reports failed")
            await asyncio.sleep(1.0)
