"""The sender: claims due messages in batches, applies the policies, submits through the
providers within their windows, and records every outcome set-based, one event per batch.

A round has three short transactions: claim (rows leave as `sending` under this process's
lease), submit (no transaction open while the carrier answers; each submit journalled as it
is handed over and as it is acknowledged, see claims.py), record. A submit that may have
reached the carrier (ambiguous timeout, or a sender that died between handover and
record) is never resent by itself: the message becomes `ambiguous` with the reason; a
later receipt reconciles it, or an operator resends or abandons it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from govhub_common.clock import business_date
from govhub_common.runtime import ServiceContext
from govhub_sms.events import StatusChange, record_status_changes
from govhub_sms.metrics import AMBIGUOUS, DELIVERED, FAILED, QUEUE_DEPTH, SENT
from govhub_sms.optouts.service import opted_out as opt_outs_of
from govhub_sms.providers.base import OutboundMessage, ProviderError, SubmitResult
from govhub_sms.sending.claims import SubmitJournal, recover_expired_claims
from govhub_sms.sending.gateway import Gateway, ProviderSlot
from govhub_sms.sending.policies import DailyCaps, quiet_hours, retry_delay
from govhub_sms.settings import SmsSettings
from govhub_sms.state import gateway_of, sms_state
from govhub_sms.templates.rendering import PLACEHOLDER

log = logging.getLogger("govhub.sms.sender")


def journal_of(ctx: ServiceContext) -> SubmitJournal:
    return sms_state(ctx).journal


@dataclass(frozen=True, slots=True)
class NotHandedOver:
    """A claimed message this process did not give to the provider after all."""

    why: str


@dataclass
class RoundResult:
    claimed: int = 0
    sent: int = 0
    deferred: int = 0
    failed: int = 0
    expired: int = 0
    ambiguous: int = 0
    recovered: int = 0
    """Claims of stopped senders reconciled in this round (whatever they became)."""


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
    gateway = gateway_of(ctx)
    journal = journal_of(ctx)
    result = RoundResult()
    async with ctx.db.session() as session:
        claimed = await _claim(session, settings, gateway, journal, as_of=as_of, result=result)
    if claimed:
        leases = asyncio.create_task(journal.keep_leases([r["id"] for r in claimed]))
        try:
            outcomes = await asyncio.gather(*(_submit(gateway, journal, r) for r in claimed))
        finally:
            leases.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await leases
        updates = [
            _after_submit(settings, gateway, row, outcome, as_of=as_of)
            for row, outcome in zip(claimed, outcomes, strict=True)
        ]
        async with ctx.db.session() as session:
            applied = await _apply(session, updates, as_of=as_of, owner=journal.owner)
        for update in applied:
            if update.status == "sent":
                result.sent += 1
            elif update.status == "deferred":
                result.deferred += 1
            elif update.status == "failed":
                result.failed += 1
            elif update.status == "ambiguous":
                result.ambiguous += 1
    return result


async def recover_at_startup(ctx: ServiceContext) -> None:
    """Reconcile the claims of senders that died before this process started (those whose
    lease already expired; the rest follow in the rounds)."""
    as_of = ctx.clock.now()
    async with ctx.db.session() as session:
        recovery = await recover_expired_claims(session, as_of=as_of)
        await record_status_changes(session, recovery.changes)


async def _claim(
    session: AsyncSession,
    settings: SmsSettings,
    gateway: Gateway,
    journal: SubmitJournal,
    *,
    as_of: datetime,
    result: RoundResult,
) -> list[Any]:
    """Reconcile dead senders' claims, expire, decide the due messages by policy, and
    mark the ones to submit `sending` under this process's lease."""
    # One claimer at a time across replicas, so two rounds cannot both count a recipient
    # under the cap; submits run outside this short transaction.
    await session.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext('sms.dispatch'))"))
    # Claims whose sender died (lease expired) first: a message never handed over is due
    # again in this very round (or expires now, if too old).
    recovery = await recover_expired_claims(session, as_of=as_of)
    changes: list[StatusChange] = list(recovery.changes)
    result.recovered = recovery.total
    result.ambiguous += recovery.ambiguous
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
        opted_out = await opt_outs_of(session, recipients=recipients)
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
                    "claimed_at = now(), claimed_by = :owner, "
                    "lease_until = clock_timestamp() + CAST(:lease AS interval), "
                    "handed_at = NULL, acked_at = NULL, attempts = attempts + 1, "
                    "updated_at = :now WHERE id = ANY(CAST(:ids AS uuid[]))"
                ),
                {
                    "ids": [r["id"] for r in to_send],
                    "day": day,
                    "now": as_of,
                    "owner": journal.owner,
                    "lease": journal.lease,
                },
            )
        changes += _changes(await _write(session, decisions, as_of=as_of), as_of=as_of)
        for d in decisions:
            if d.status == "failed":
                FAILED.labels("policy", d.row["template_code"]).inc()
                result.failed += 1
            else:
                result.deferred += 1
    await record_status_changes(session, changes)
    return to_send


async def _submit(
    gateway: Gateway, journal: SubmitJournal, row: Any
) -> SubmitResult | BaseException | NotHandedOver:
    slot = gateway.slot(row["provider_index"])
    assert slot is not None
    message = OutboundMessage.build(row["id"], row["recipient"], row["text"])
    try:
        async with slot.window:
            if not slot.limiter_inside:
                await slot.limiter.acquire()
            # Committed before the provider sees it, and only under this process's lease:
            # should this process die from here on, the message is not resent blindly.
            try:
                ours = await journal.hand_over(row["id"], slot.name)
            except Exception as exc:
                return NotHandedOver(f"the handover could not be recorded ({exc})")
            if not ours:
                return NotHandedOver("the claim expired before the handover")
            outcome = await slot.provider.submit(message)
    except Exception as exc:  # recorded per message; one failure never stops the batch
        return exc
    await journal.acknowledged(row["id"], outcome)
    return outcome


def _after_submit(
    settings: SmsSettings,
    gateway: Gateway,
    row: Any,
    outcome: SubmitResult | BaseException | NotHandedOver,
    *,
    as_of: datetime,
) -> Update:
    index = row["provider_index"]
    slot: ProviderSlot = gateway.slots[index]
    attempts = row["attempts"] + 1
    if isinstance(outcome, NotHandedOver):
        # The provider never saw it: due again at once, the attempt given back.
        return Update(row, "deferred", f"retry: {outcome.why}", as_of, attempts=row["attempts"])
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
            "ambiguous",
            f"ambiguous: provider error {type(outcome).__name__}; not resent",
            provider=slot.name,
            keep_sent_on=True,
        )
    detail = str(outcome)
    if outcome.kind == "ambiguous_timeout" or outcome.parts_sent > 0:
        return Update(
            row,
            "ambiguous",
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
    session: AsyncSession, updates: list[Update], *, as_of: datetime, owner: str | None = None
) -> list[Update]:
    """Store a batch of decisions in one statement; returns those stored. With ``owner``,
    only rows still claimed by it are written (a claim lost to recovery stays as the
    recovery decided)."""
    if not updates:
        return []
    stored = await session.execute(
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
            "claimed_at = NULL, claimed_by = NULL, lease_until = NULL, updated_at = :now "
            "FROM unnest(CAST(:ids AS uuid[]), CAST(:statuses AS text[]), CAST(:reasons AS text[]), "
            "CAST(:next AS timestamptz[]), CAST(:indexes AS int[]), CAST(:attempts AS int[]), "
            "CAST(:providers AS text[]), CAST(:pids AS text[]), CAST(:parts AS int[]), "
            "CAST(:keep AS boolean[]), CAST(:submitted AS boolean[])) "
            "AS u(id, status, reason, next_attempt_at, provider_index, attempts, provider, "
            "provider_message_id, parts, keep_sent_on, submitted) WHERE m.id = u.id "
            "AND (CAST(:owner AS text) IS NULL OR (m.status = 'sending' AND m.claimed_by = :owner)) "
            "RETURNING m.id::text"
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
            "owner": owner,
        },
    )
    written = {r[0] for r in stored}
    return [u for u in updates if u.row["id"] in written]


def _changes(updates: list[Update], *, as_of: datetime) -> list[StatusChange]:
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


async def _apply(
    session: AsyncSession, updates: list[Update], *, as_of: datetime, owner: str
) -> list[Update]:
    applied = await _write(session, updates, as_of=as_of, owner=owner)
    await record_status_changes(session, _changes(applied, as_of=as_of))
    for u in applied:
        if u.status == "sent":
            SENT.labels(u.provider or "unknown", u.row["template_code"]).inc()
        elif u.status == "failed":
            FAILED.labels(u.provider or "unknown", u.row["template_code"]).inc()
        elif u.status == "ambiguous":
            AMBIGUOUS.labels(u.provider or "unknown", u.row["template_code"]).inc()
    if len(applied) < len(updates):
        log.warning(
            "%d outcomes not recorded: their claims expired and were reconciled meanwhile",
            len(updates) - len(applied),
        )
    return applied


async def update_queue_depth(ctx: ServiceContext) -> None:
    """The queue gauge (exported by the lease holder only), and the outcome counters at
    zero for every provider and template, so a failure ratio reads 0 while all is well."""
    settings: SmsSettings = ctx.settings
    async with ctx.db.session() as session:
        depth = (
            await session.execute(
                sa.text(
                    "SELECT count(*) FROM sms.messages "
                    "WHERE status IN ('queued', 'deferred', 'sending')"
                )
            )
        ).scalar_one()
        templates = (await session.execute(sa.text("SELECT code FROM sms.templates"))).scalars()
        codes = list(templates)
    QUEUE_DEPTH.set(depth)
    providers = [p.name for p in settings.sms_providers]
    for template in codes:
        for provider in providers:
            for counter in (SENT, DELIVERED, FAILED, AMBIGUOUS):
                counter.labels(provider, template)
        FAILED.labels("policy", template)


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
    gateway = gateway_of(ctx)
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
