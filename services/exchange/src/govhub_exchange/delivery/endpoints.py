"""The health of a subscription's webhook endpoint, as an outlier detector sees a host.

Consecutive failed attempts (transport errors, non-2xx answers, the deadline exceeded) push
the endpoint's next attempt out with exponential backoff, and while it is failing it gets
one attempt at a time (a probe) instead of its share of concurrent posts. After
`webhook_pause_after_failures` failures in a row, or `webhook_pause_after_seconds` without
a success, the webhook is paused: its deliveries stay pending until the subscriber sets the
webhook again or the subscriber or an operator resumes it. Other subscriptions never wait.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from govhub_common.events import CloudEvent
from govhub_common.outbox import add_events
from govhub_exchange.metrics import WEBHOOK_PAUSED, WEBHOOK_PAUSES
from govhub_exchange.settings import ExchangeSettings
from govhub_exchange.subscriptions.models import Subscription

SCHEMA = "exchange"
SOURCE = "govhub/exchange"
PAUSED = "exchange.webhook.paused"
RESUMED = "exchange.webhook.resumed"


def backoff_seconds(attempts: int, settings: ExchangeSettings) -> float:
    """Exponential backoff with "equal jitter": half fixed, half random (for a delivery's
    retries, counted by its attempts, and an endpoint's, by its consecutive failures)."""
    ceiling = min(
        settings.webhook_backoff_max_seconds,
        settings.webhook_backoff_base_seconds * 2 ** min(max(0, attempts - 1), 62),
    )
    return ceiling / 2 + random.uniform(0, ceiling / 2)


class Attempt(Protocol):
    """What the tally needs of a finished post."""

    @property
    def subscription_id(self) -> int: ...

    @property
    def failed(self) -> bool: ...

    @property
    def probe(self) -> bool: ...

    @property
    def error(self) -> str | None: ...


@dataclass
class Tally:
    """One subscription's attempts of one recording, taken in the order they finished."""

    succeeded: bool = False  # a success came in: the failure streak restarts after it
    probe_failures: int = 0  # failed probes since the last success
    failed: bool = False  # a concurrent (non-probe) attempt failed since the last success
    delivered: int = 0
    last_error: str | None = None


def tally(attempts: Iterable[Attempt]) -> dict[int, Tally]:
    tallies: dict[int, Tally] = {}
    for attempt in attempts:
        t = tallies.setdefault(attempt.subscription_id, Tally())
        if not attempt.failed:
            t.succeeded, t.probe_failures, t.failed = True, 0, False
            t.delivered += 1
        else:
            t.last_error = attempt.error
            if attempt.probe:
                t.probe_failures += 1
            else:
                t.failed = True
    return tallies


@dataclass(frozen=True)
class Health:
    """An endpoint's state after a recording, to be written back in one statement."""

    failures: int
    failing: Literal["clear", "start", "keep"]  # what becomes of failing_since
    retry_delay: float | None  # the endpoint's backoff: no attempt before now + this
    pause_reason: str | None  # set when this recording pauses the webhook


def next_health(
    *,
    status: str,
    failures: int,
    failing_for: float,
    tally: Tally,
    settings: ExchangeSettings,
) -> Health:
    # Posts in flight together fail together when an endpoint goes down: they count as one
    # failure; each failed probe after that counts one more.
    base = 0 if tally.succeeded else failures
    new = max(base + tally.probe_failures, 1 if tally.failed else 0)
    if new == 0:
        return Health(0, "clear", None, None)
    starts = tally.succeeded or failures == 0
    failing_for = 0.0 if starts else failing_for
    reason = None
    if status == "active":
        last = f"; the last: {tally.last_error}" if tally.last_error else ""
        if new >= settings.webhook_pause_after_failures:
            reason = f"{new} consecutive failed attempts{last}"
        elif failing_for >= settings.webhook_pause_after_seconds:
            reason = f"failing for {failing_for:.0f} s without a success{last}"
    return Health(new, "start" if starts else "keep", backoff_seconds(new, settings), reason)


def paused_event(rows: Sequence[Any]) -> CloudEvent:
    return CloudEvent(
        source=SOURCE,
        type=PAUSED,
        subject=str(rows[0].id) if len(rows) == 1 else None,
        data={
            "webhooks": [
                {
                    "subscription_id": row.id,
                    "topic": row.topic_code,
                    "subscriber": row.subscriber,
                    "status": "paused",
                    "reason": row.webhook_paused_reason,
                    "since": row.webhook_paused_since,
                    "consecutive_failures": row.webhook_failures,
                }
                for row in rows
            ]
        },
    )


async def announce_paused(session: AsyncSession, rows: Sequence[Any]) -> None:
    """The subscriber is told: an event on the bus (in the caller's transaction) and the
    metrics; the audit entries are the caller's."""
    if not rows:
        return
    await add_events(session, SCHEMA, [paused_event(rows)])
    for row in rows:
        WEBHOOK_PAUSES.labels(row.subscriber).inc()
        WEBHOOK_PAUSED.labels(str(row.id), row.topic_code, row.subscriber).set(1)


async def reactivate(session: AsyncSession, *, subscription: Any, actor: str, cause: str) -> bool:
    """Clear the endpoint's failure state (a new or resumed webhook starts healthy) and make
    its waiting retries due now; returns whether it was paused. The caller holds the
    subscription's row lock."""
    await session.execute(
        sa.update(Subscription)
        .where(col(Subscription.id) == subscription.id)
        .values(
            webhook_status="active",
            webhook_paused_reason=None,
            webhook_paused_since=None,
            webhook_failures=0,
            webhook_failing_since=None,
            webhook_last_error=None,
            webhook_retry_at=None,
        )
        # The UPDATE as written: subscriptions are read as rows, not objects the session keeps.
        .execution_options(synchronize_session=False)
    )
    # Retries backed off while the endpoint failed would wait up to the longest backoff.
    await session.execute(
        sa.text(
            "UPDATE exchange.webhook_deliveries SET next_attempt_at = now() "
            "WHERE subscription_id = :id AND status = 'pending' AND attempts > 0 "
            "AND next_attempt_at > now() AND leased_until IS NULL"
        ),
        {"id": subscription.id},
    )
    was_paused = subscription.webhook_status == "paused"
    if was_paused:
        await add_events(
            session,
            SCHEMA,
            [
                CloudEvent(
                    source=SOURCE,
                    type=RESUMED,
                    subject=str(subscription.id),
                    data={
                        "webhooks": [
                            {
                                "subscription_id": subscription.id,
                                "topic": subscription.topic_code,
                                "subscriber": subscription.subscriber,
                                "status": "active",
                                "by": actor,
                                "cause": cause,
                            }
                        ]
                    },
                )
            ],
        )
        WEBHOOK_PAUSED.labels(
            str(subscription.id), subscription.topic_code, subscription.subscriber
        ).set(0)
    return was_paused
