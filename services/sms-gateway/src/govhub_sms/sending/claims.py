"""Claims with leases, the submit journal, and the recovery of claims whose sender died.

A sender claims messages (`sending`, `claimed_by` = this process, `lease_until`), renews
the lease while its submits are in flight, and journals each message's submit as it goes:

- `handed_at`, written (and committed) just before the message is given to the provider,
  only while the claim is still this process's: from then on the carrier may have it;
- `acked_at` with the provider's message id, written as soon as the provider accepted it
  (for SMPP: right after the submit_sm_resp of its last part, its only one for a short
  text), without waiting for the rest of the round.

A claim whose lease expired belongs to a sender that died (a live one renews). Any
replica's next round reconciles it from the journal:

| journal                         | the message becomes                                    |
|---------------------------------|--------------------------------------------------------|
| never handed over               | `queued` again (the provider never saw it)             |
| acknowledged with an id         | `sent`, awaiting its receipt                           |
| handed over, no acknowledgement | `ambiguous`: reported, never resent by itself; a later |
|                                 | receipt reconciles it, or an operator resends/abandons |
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Generic, TypeVar

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from govhub_common.db import Database
from govhub_sms.events import StatusChange
from govhub_sms.metrics import AMBIGUOUS, SENT
from govhub_sms.providers.base import SubmitResult

log = logging.getLogger("govhub.sms.claims")

T = TypeVar("T")


def new_owner_id() -> str:
    """This process's name on its claims: readable by an operator, unique per start."""
    return f"{socket.gethostname()}/{os.getpid()}/{uuid.uuid4().hex[:8]}"


class _GroupWriter(Generic[T]):
    """Items from many concurrent submits written in one statement: each caller waits for
    the write that holds its item (a group commit), so a window of 50 submits costs one
    round trip, not 50."""

    def __init__(self, write: Callable[[list[T]], Awaitable[set[str]]]) -> None:
        self._write = write
        self._pending: list[tuple[T, str, asyncio.Future[bool]]] = []
        self._task: asyncio.Task[None] | None = None

    async def add(self, key: str, item: T) -> bool:
        """True when the write took effect for ``key``."""
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._pending.append((item, key, future))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run())
        return await future

    async def _run(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            try:
                done = await self._write([item for item, _, _ in batch])
            except Exception as exc:
                for _, _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for _, key, future in batch:
                if not future.done():
                    future.set_result(key in done)


@dataclass
class SubmitJournal:
    """Per process: its owner id, the lease, and the journal writes of its submits."""

    db: Database
    lease: timedelta
    owner: str = field(default_factory=new_owner_id)

    def __post_init__(self) -> None:
        self._handovers: _GroupWriter[tuple[str, str]] = _GroupWriter(self._write_handovers)
        self._acks: _GroupWriter[tuple[str, SubmitResult]] = _GroupWriter(self._write_acks)

    async def hand_over(self, message_id: str, provider: str) -> bool:
        """Record, durably, that the message is about to go to ``provider``. False when
        the claim is no longer this process's (its lease expired and another round took
        it): the message must then not be submitted."""
        return await self._handovers.add(message_id, (message_id, provider))

    async def acknowledged(self, message_id: str, result: SubmitResult) -> None:
        """Record the provider's id of an accepted submit; a failure is only logged (the
        round's record writes it again; should this process die first, the message is
        reported ambiguous, never lost)."""
        try:
            await self._acks.add(message_id, (message_id, result))
        except Exception as exc:
            log.warning("recording the acknowledgement of %s failed: %s", message_id, exc)

    async def keep_leases(self, message_ids: list[str]) -> None:
        """Renew the lease of these claims every third of it until cancelled: a slow
        submit of a live sender is never taken for a dead one."""
        while True:
            await asyncio.sleep(self.lease.total_seconds() / 3)
            try:
                async with self.db.session() as session:
                    await session.execute(
                        sa.text(
                            "UPDATE sms.messages SET lease_until = clock_timestamp() + "
                            "CAST(:lease AS interval) WHERE id = ANY(CAST(:ids AS uuid[])) "
                            "AND status = 'sending' AND claimed_by = :owner"
                        ),
                        {"ids": message_ids, "lease": self.lease, "owner": self.owner},
                    )
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # Not fatal: a handover is only recorded under a valid lease, so a claim
                # lost meanwhile is never submitted by this process.
                log.warning("renewing %d claims failed: %s", len(message_ids), exc)

    async def _write_handovers(self, items: list[tuple[str, str]]) -> set[str]:
        async with self.db.session() as session:
            result = await session.execute(
                sa.text(
                    "UPDATE sms.messages m SET handed_at = clock_timestamp(), provider = u.provider "
                    "FROM unnest(CAST(:ids AS uuid[]), CAST(:providers AS text[])) "
                    "AS u(id, provider) WHERE m.id = u.id AND m.status = 'sending' "
                    "AND m.claimed_by = :owner AND m.lease_until > clock_timestamp() "
                    "RETURNING m.id::text"
                ),
                {
                    "ids": [i for i, _ in items],
                    "providers": [p for _, p in items],
                    "owner": self.owner,
                },
            )
            return {r[0] for r in result}

    async def _write_acks(self, items: list[tuple[str, SubmitResult]]) -> set[str]:
        async with self.db.session() as session:
            result = await session.execute(
                sa.text(
                    "UPDATE sms.messages m SET acked_at = clock_timestamp(), "
                    "provider_message_id = u.pid, parts = u.parts "
                    "FROM unnest(CAST(:ids AS uuid[]), CAST(:pids AS text[]), "
                    "CAST(:parts AS int[])) AS u(id, pid, parts) WHERE m.id = u.id "
                    "AND m.status = 'sending' AND m.claimed_by = :owner RETURNING m.id::text"
                ),
                {
                    "ids": [i for i, _ in items],
                    "pids": [r.provider_message_id for _, r in items],
                    "parts": [r.parts for _, r in items],
                    "owner": self.owner,
                },
            )
            return {r[0] for r in result}


@dataclass
class Recovery:
    requeued: int = 0
    sent: int = 0
    ambiguous: int = 0
    changes: list[StatusChange] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.requeued + self.sent + self.ambiguous


AMBIGUOUS_AFTER_DEATH = (
    "ambiguous: handed to {provider} by {owner}, which stopped before the carrier's answer "
    "was recorded; the carrier may have it, so it is not resent automatically"
)


async def recover_expired_claims(
    session: AsyncSession, *, as_of: datetime, limit: int = 1000
) -> Recovery:
    """Reconcile the claims whose lease expired (their sender died), in one statement,
    from what the sender journalled. Safe across replicas: rows are taken FOR UPDATE
    SKIP LOCKED, and a live sender's rows are never expired (it renews them)."""
    rows = list(
        (
            await session.execute(
                sa.text(
                    "WITH expired AS (SELECT id, claimed_by AS owner FROM sms.messages "
                    "WHERE status = 'sending' AND lease_until < clock_timestamp() "
                    "ORDER BY lease_until LIMIT :n FOR UPDATE SKIP LOCKED), "
                    "decided AS (SELECT m.id, e.owner, CASE WHEN m.handed_at IS NULL THEN 'queued' "
                    "WHEN m.acked_at IS NOT NULL THEN 'sent' ELSE 'ambiguous' END AS status "
                    "FROM sms.messages m JOIN expired e ON e.id = m.id) "
                    "UPDATE sms.messages m SET status = d.status, reason = CASE d.status "
                    "WHEN 'queued' THEN 'recovered: its sender ' || coalesce(d.owner, '?') || "
                    "' stopped before handing it to a provider; queued again' "
                    "WHEN 'sent' THEN 'recovered: ' || m.provider || ' acknowledged it as ' || "
                    "m.provider_message_id || ' before its sender stopped; awaiting the receipt' "
                    "ELSE replace(replace(:ambiguous, '{provider}', coalesce(m.provider, '?')), "
                    "'{owner}', coalesce(d.owner, '?')) END, "
                    # a message that never left gives back its attempt and its place under the caps
                    "attempts = CASE WHEN d.status = 'queued' THEN greatest(m.attempts - 1, 0) "
                    "ELSE m.attempts END, "
                    "sent_on = CASE WHEN d.status = 'queued' THEN NULL ELSE m.sent_on END, "
                    "sent_at = CASE WHEN d.status = 'sent' THEN :now ELSE m.sent_at END, "
                    "submitted_wall_at = CASE WHEN d.status = 'sent' THEN m.acked_at "
                    "ELSE m.submitted_wall_at END, "
                    "claimed_by = NULL, lease_until = NULL, claimed_at = NULL, updated_at = :now "
                    "FROM decided d WHERE m.id = d.id "
                    "RETURNING m.id::text AS id, m.idempotency_key, m.template_code, m.status, "
                    "m.reason, m.provider, m.provider_message_id, d.owner"
                ),
                {"n": limit, "now": as_of, "ambiguous": AMBIGUOUS_AFTER_DEATH},
            )
        ).mappings()
    )
    recovery = Recovery()
    for row in rows:
        status = row["status"]
        recovery.changes.append(
            StatusChange(
                row["id"],
                row["idempotency_key"],
                row["template_code"],
                status,
                row["reason"],
                as_of,
                row["provider"],
            )
        )
        if status == "queued":
            recovery.requeued += 1
        elif status == "sent":
            recovery.sent += 1
            SENT.labels(row["provider"] or "unknown", row["template_code"]).inc()
        else:
            recovery.ambiguous += 1
            AMBIGUOUS.labels(row["provider"] or "unknown", row["template_code"]).inc()
            log.warning(
                "sms %s is ambiguous: handed to %s by %s, which stopped before the carrier's "
                "answer was recorded; not resent (operators: resend or abandon it)",
                row["id"],
                row["provider"],
                row["owner"],
            )
    if rows:
        log.warning(
            "recovered %d claims of stopped senders: %d queued again, %d sent, %d ambiguous",
            len(rows),
            recovery.requeued,
            recovery.sent,
            recovery.ambiguous,
        )
    return recovery
