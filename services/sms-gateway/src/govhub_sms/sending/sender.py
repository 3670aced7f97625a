"""The sender: claims due messages in batches, applies the policies, submits through the
providers within their windows, and records every outcome set-based, one event per batch.

A round has three short transactions: claim (rows leave as `sending`), submit (no
transaction open while the carrier answers), record. A submit that may have reached the
carrier (ambiguous timeout, or a sender that died while claiming) is never resent by
itself: the message fails with that reason and an operator may resend it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from govhub_common.clock import business_date
from govhub_common.runtime import ServiceContext
from govhub_sms.events import StatusChange, record_status_changes
from govhub_sms.metrics import FAILED, QUEUE_DEPTH, SENT
from govhub_sms.providers.base import OutboundMessage, ProviderError, SubmitResult
from govhub_sms.sending.gateway import Gateway, ProviderSlot
from govhub_sms.sending.policies import DailyCaps, quiet_hours, retry_delay
from govhub_sms.settings import SmsSettings
from govhub_sms.templates.rendering import PLACEHOLDER

log = logging.getLogger("govhub.sms.sender")

# A claim older than this belongs to a sender that died mid-submit.
STALE_CLAIM = timedelta(minutes=10)


@dataclass
class RoundResult:
    claimed: int = 0
    sent: int = 0
    deferred: int = 0
    failed: int = 0
    expired: int = 0


@dataclass
class Update:
    """The new state of one message after a decision or a submit."""

    row: Any
    status: str
    reason: str | None
    next_attempt_at: datetime | None = None
    provider_index: int | None = None
    attempts: int | None = None
    provider: str | None = None
    provider_message_id: str | None = None
    parts: int | None = None
    keep_sent_on: bool = False
    submitted: bool = False


async def dispatch_round(ctx: ServiceContext, *, as_of: datetime) -> RoundResult:
    settings: SmsSettings = ctx.settings
    gateway: Gateway = ctx.state["sms"]
    result = RoundResult()
    async with ctx.db.session() as session:
        claimed = await _claim(session, settings, gateway, as_of=as_of, result=result)
    if claimed:
        outcomes = await asyncio.gather(*(_submit(gateway, row) for row in claimed))
        updates = [
            _after_submit(settings, gateway, row, outcome, as_of=as_of)
            for row, outcome in zip(claimed, outcomes, strict=True)
        ]
        async with ctx.db.session() as session:
            await _apply(session, updates, as_of=as_of)
        for update in updates:
            if update.status == "sent":
                result.sent += 1
            elif update.status == "deferred":
                result.deferred += 1
            elif update.status == "failed":
                result.failed += 1
    return result


async def _claim(
    session: AsyncSession,
    settings: SmsSettings,
    gateway: Gateway,
    *,
    as_of: datetime,
    result: RoundResult,
) -> list[Any]:
    """Expire, decide the due messages by policy, and mark the ones to submit `sending`."""
    # One claimer at a time across replicas, so two rounds cannot both count a recipient
    # under the cap; submits run outside this short transaction.
    await session.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext('sms.dispatch'))"))
    changes: list[StatusChange] = []
    expired = (
        await session.execute(
            sa.text(
                "UPDATE sms.messages SET status = 'expired', reason = :reason, updated_at = :now "
                "WHERE status IN ('queued', 'deferred') AND expires_at <= :now "
                "RETURNING id::text AS id, idempotency_key, template_code"
            ),
            {"now": as_of, "reason": "not sent before it expired"},
        )
    ).mappings()
    for row in expired:
        changes.append(
            StatusChange(
                row["id"],
                row["idempotency_key"],
                row["template_code"],
                "expired",
                "not sent before it expired",
                as_of,
            )
        )
        result.expired += 1
    stale_reason = (
        "ambiguous: the sender stopped during the submit; the carrier may have the message, "
        "so it is not resent automatically"
    )
    stale = (
        await session.execute(
            sa.text(
                "UPDATE sms.messages SET status = 'failed', reason = :reason, updated_at = :now "
                "WHERE status = 'sending' AND claimed_at < now() - CAST(:stale AS interval) "
                "RETURNING id::text AS id, idempotency_key, template_code, provider"
            ),
            {"now": as_of, "reason": stale_reason, "stale": STALE_CLAIM},
        )
    ).mappings()
    for row in stale:
        changes.append(
            StatusChange(
                row["id"],
                row["idempotency_key"],
                row["template_code"],
                "failed",
                stale_reason,
                as_of,
                row["provider"],
            )
        )
        FAILED.labels(row["provider"] or "unknown", row["template_code"]).inc()
        result.failed += 1
    rows = list(
        (
            await session.execute(
                sa.text(
                    "SELECT id::text AS id, idempotency_key, recipient, template_code, text, "
                    "opt_out_applies, attempts, provider_index FROM sms.messages "
                    "WHERE status IN ('queued', 'deferred') AND next_attempt_at <= :now "
                    "ORDER BY next_attempt_at, seq LIMIT :n FOR UPDATE SKIP LOCKED"
                ),
                {"now": as_of, "n": settings.sms_batch_size},
            )
        ).mappings()
    )
    result.claimed = len(rows)
    decisions: list[Update] = []
    to_send: list[Any] = []
    if rows:
        recipients = list({r["recipient"] for r in rows})
        opted_out = {
            r[0]
            for r in await session.execute(
                sa.text("SELECT recipient FROM sms.opt_outs WHERE recipient = ANY(:r)"),
                {"r": recipients},
            )
        }
        day = business_date(as_of)
        counts = (
            await session.execute(
                sa.text(
                    "SELECT recipient, template_code, count(*) AS n FROM sms.messages "
                    "WHERE recipient = ANY(:r) AND sent_on = :day GROUP BY 1, 2"
                ),
                {"r": recipients, "day": day},
            )
        ).all()
        caps = DailyCaps(settings.sms_cap_per_day, settings.sms_cap_per_template_per_day, {}, {})
        for recipient, template, n in counts:
            caps.by_recipient[recipient] = caps.by_recipient.get(recipient, 0) + n
            caps.by_template[(recipient, template)] = n
        quiet = quiet_hours(settings.sms_quiet_hours_start, settings.sms_quiet_hours_end)
        quiet_until = quiet.until(as_of) if quiet else None
        for row in rows:
            slot = gateway.slot(row["provider_index"])
            if row["recipient"] in opted_out and row["opt_out_applies"]:
                decisions.append(Update(row, "failed", "opted_out: the recipient replied TD"))
            elif slot is None:
                decisions.append(Update(row, "failed", "no provider left to try"))
            elif PLACEHOLDER.search(row["text"]):
                decisions.append(Update(row, "failed", "the text holds an unrendered placeholder"))
            elif quiet_until is not None:
                local_end = f"{settings.sms_quiet_hours_end} Asia/Shanghai"
                decisions.append(
                    Update(row, "deferred", f"quiet_hours: deferred to {local_end}", quiet_until)
                )
            elif refusal := caps.refusal(row["recipient"], row["template_code"]):
                decisions.append(Update(row, "failed", refusal))
            else:
                caps.count(row["recipient"], row["template_code"])
                to_send.append(row)
        if to_send:
            await session.execute(
                sa.text(
                    "UPDATE sms.messages SET status = 'sending', sent_on = :day, "
                    "claimed_at = now(), attempts = attempts + 1, updated_at = :now "
                    "WHERE id = ANY(CAST(:ids AS uuid[]))"
                ),
                {"ids": [r["id"] for r in to_send], "day": day, "now": as_of},
            )
        changes += await _write(session, decisions, as_of=as_of)
        for d in decisions:
            if d.status == "failed":
                FAILED.labels("policy", d.row["template_code"]).inc()
                result.failed += 1
            else:
                result.deferred += 1
    await record_status_changes(session, changes)
    return to_send


async def _submit(gateway: Gateway, row: Any) -> SubmitResult | BaseException:
    slot = gateway.slot(row["provider_index"])
    assert slot is not None
    message = OutboundMessage.build(row["id"], row["recipient"], row["text"])
    try:
        async with slot.window:
            if not slot.limiter_inside:
                await slot.limiter.acquire()
            return await slot.provider.submit(message)
    except Exception as exc:  # recorded per message; one failure never stops the batch
        return exc


def _after_submit(
    settings: SmsSettings,
    gateway: Gateway,
    row: Any,
    outcome: SubmitResult | BaseException,
    *,
    as_of: datetime,
) -> Update:
    index = row["provider_index"]
    slot: ProviderSlot = gateway.slots[index]
    attempts = row["attempts"] + 1
    if isinstance(outcome, SubmitResult):
        return Update(
            row,
            "sent",
            None,
            provider=slot.name,
            provider_message_id=outcome.provider_message_id,
            parts=outcome.parts,
            keep_sent_on=True,
            submitted=True,
        )
    if not isinstance(outcome, ProviderError):
        log.error("provider %s raised %r for message %s", slot.name, outcome, row["id"])
        return Update(
            row,
            "failed",
            f"ambiguous: provider error {type(outcome).__name__}; not resent",
            provider=slot.name,
            keep_sent_on=True,
        )
    detail = str(outcome)
    if outcome.kind == "ambiguous_timeout" or outcome.parts_sent > 0:
        return Update(
            row,
            "failed",
            f"ambiguous_timeout at {slot.name} ({detail}): the carrier may have the message, "
            "so it is not resent automatically",
            provider=slot.name,
            keep_sent_on=True,
        )
    if outcome.retryable and attempts < settings.sms_retry_max_attempts:
        delay = retry_delay(outcome.kind, attempts, settings.sms_retry_max_delay_seconds)
        return Update(
            row,
            "deferred",
            f"retry: {detail} at {slot.name}",
            as_of + delay,
            attempts=attempts,
            provider=slot.name,
        )
    next_slot = gateway.slot(index + 1)
    why = "retries exhausted" if outcome.retryable else "rejected"
    if next_slot is not None:
        return Update(
            row,
            "deferred",
            f"failover to {next_slot.name}: {why} at {slot.name} ({detail})",
            as_of,
            provider_index=index + 1,
            attempts=0,
            provider=slot.name,
        )
    return Update(row, "failed", f"{why} at {slot.name}: {detail}", provider=slot.name)


async def _write(
    session: AsyncSession, updates: list[Update], *, as_of: datetime
) -> list[StatusChange]:
    """Store a batch of decisions in one statement; returns their status changes."""
    if not updates:
        return []
    await session.execute(
        sa.text(
            "UPDATE sms.messages m SET status = u.status, reason = u.reason, "
            "next_attempt_at = coalesce(u.next_attempt_at, m.next_attempt_at), "
            "provider_index = coalesce(u.provider_index, m.provider_index), "
            "attempts = coalesce(u.attempts, m.attempts), "
            "provider = coalesce(u.provider, m.provider), "
            "provider_message_id = coalesce(u.provider_message_id, m.provider_message_id), "
            "parts = coalesce(u.parts, m.parts), "
            "sent_on = CASE WHEN u.keep_sent_on THEN m.sent_on END, "
            "sent_at = CASE WHEN u.submitted THEN :now ELSE m.sent_at END, "
            "submitted_wall_at = CASE WHEN u.submitted THEN clock_timestamp() "
            "ELSE m.submitted_wall_at END, "
            "claimed_at = NULL, updated_at = :now "
            "FROM unnest(CAST(:ids AS uuid[]), CAST(:statuses AS text[]), CAST(:reasons AS text[]), "
            "CAST(:next AS timestamptz[]), CAST(:indexes AS int[]), CAST(:attempts AS int[]), "
            "CAST(:providers AS text[]), CAST(:pids AS text[]), CAST(:parts AS int[]), "
            "CAST(:keep AS boolean[]), CAST(:submitted AS boolean[])) "
            "AS u(id, status, reason, next_attempt_at, provider_index, attempts, provider, "
            "provider_message_id, parts, keep_sent_on, submitted) WHERE m.id = u.id"
        ),
        {
            "ids": [u.row["id"] for u in updates],
            "statuses": [u.status for u in updates],
            "reasons": [u.reason for u in updates],
            "next": [u.next_attempt_at for u in updates],
            "indexes": [u.provider_index for u in updates],
            "attempts": [u.attempts for u in updates],
            "providers": [u.provider for u in updates],
            "pids": [u.provider_message_id for u in updates],
            "parts": [u.parts for u in updates],
            "keep": [u.keep_sent_on for u in updates],
            "submitted": [u.submitted for u in updates],
            "now": as_of,
        },
    )
    return [
        StatusChange(
            u.row["id"],
            u.row["idempotency_key"],
            u.row["template_code"],
            u.status,
            u.reason,
            as_of,
            u.provider,
        )
        for u in updates
    ]


async def _apply(session: AsyncSession, updates: list[Update], *, as_of: datetime) -> None:
    changes = await _write(session, updates, as_of=as_of)
    await record_status_changes(session, changes)
    for u in updates:
        if u.status == "sent":
            SENT.labels(u.provider or "unknown", u.row["template_code"]).inc()
        elif u.status == "failed":
            FAILED.labels(u.provider or "unknown", u.row["template_code"]).inc()


async def update_queue_depth(ctx: ServiceContext) -> None:
    async with ctx.db.session() as session:
        depth = (
            await session.execute(
                sa.text(
                    "SELECT count(*) FROM sms.messages "
                    "WHERE status IN ('queued', 'deferred', 'sending')"
                )
            )
        ).scalar_one()
    QUEUE_DEPTH.set(depth)


async def run_sender(ctx: ServiceContext) -> None:
    """Background task: rounds as of the clock's now. Several rounds overlap, so one
    claims and records in the database while another waits for the carrier."""
    settings: SmsSettings = ctx.settings
    loops = [_sender_loop(ctx) for _ in range(settings.sms_sender_concurrency)]
    await asyncio.gather(*loops, _queue_depth_loop(ctx))


async def _queue_depth_loop(ctx: ServiceContext) -> None:
    """The gauge, once a second, off the sending path."""
    while True:
        try:
            await update_queue_depth(ctx)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("counting the queue failed: %s", exc)
        await asyncio.sleep(1.0)


async def _sender_loop(ctx: ServiceContext) -> None:
    settings: SmsSettings = ctx.settings
    gateway: Gateway = ctx.state["sms"]
    failures = 0
    while True:
        try:
            result = await dispatch_round(ctx, as_of=ctx.clock.now())
            failures = 0
        except asyncio.CancelledError:
            raise
        except Exception:
            failures += 1
            log.exception("sending round failed")
            await asyncio.sleep(min(10.0, 0.5 * 2**failures))
            continue
        if result.claimed >= settings.sms_batch_size:
            gateway.wake.set()  # more is waiting: let the other loops go too
            continue
        gateway.wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(gateway.wake.wait(), settings.sms_poll_seconds)
