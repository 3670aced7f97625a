"""The exchange's subscription decisions on the bus: which agency is granted which data items
of which topic.

The exchange stages one of these events in the transaction of each decision (approval,
refusal, revocation; an unconditional topic's request is approved at once, a topic not
shared refuses it at once), so a service that must show an agency only what its grants allow
(alerting, the evidence behind a warning) knows them without reading the exchange's tables.
Every event carries a batch, `{"subscriptions": [...]}`; each entry is the subscription's
state as of `at`, so a consumer keeps the newest per subscription and the events may be
applied more than once and in any order (a refused or revoked subscription is final).

`exchange.subscription.announced` carries every approved subscription; the exchange stages
it at each start, so a service that subscribes later (an upgrade from a hub without these
events) learns the grants made before it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from govhub_common.event_contracts import read_batch
from govhub_common.event_contracts.exchange import SubscriptionGrant, SubscriptionGrants
from govhub_common.events import CloudEvent

log = logging.getLogger("govhub.subscription_events")

SUBSCRIPTION_APPROVED = "exchange.subscription.approved"
SUBSCRIPTION_REFUSED = "exchange.subscription.refused"
SUBSCRIPTION_REVOKED = "exchange.subscription.revoked"
SUBSCRIPTIONS_ANNOUNCED = "exchange.subscription.announced"
SUBSCRIPTION_EVENTS = (
    SUBSCRIPTION_APPROVED,
    SUBSCRIPTION_REFUSED,
    SUBSCRIPTION_REVOKED,
    SUBSCRIPTIONS_ANNOUNCED,
)
# The event of each final status a decision leaves.
EVENT_OF_STATUS = {
    "approved": SUBSCRIPTION_APPROVED,
    "refused": SUBSCRIPTION_REFUSED,
    "revoked": SUBSCRIPTION_REVOKED,
}
# Subscriptions per announcement event: a batch the broker carries comfortably.
ANNOUNCE_SIZE = 1000


def grant_entry(
    *,
    subscription_id: int,
    topic: str,
    subscriber: str,
    status: str,
    items: Sequence[str],
    at: datetime,
) -> dict[str, Any]:
    return {
        "subscription_id": subscription_id,
        "topic": topic,
        "subscriber": subscriber,
        "status": status,
        "items": sorted(items),
        "at": at.isoformat(),
    }


def subscription_event(event_type: str, entries: list[dict[str, Any]]) -> CloudEvent:
    """The event the exchange stages; entries as `grant_entry` builds them."""
    subject = f"subscription/{entries[0]['subscription_id']}" if len(entries) == 1 else None
    return CloudEvent(
        source="govhub/exchange",
        type=event_type,
        subject=subject,
        data={"subscriptions": entries},
    )


def grants_of(event: CloudEvent) -> list[SubscriptionGrant]:
    """The entries of a subscription event, read by its contract (an entry that breaks it
    is skipped and logged)."""
    batch = read_batch(event, SubscriptionGrants, "subscriptions", SubscriptionGrant)
    if batch.faults:
        log.warning(
            "event %s: %d subscriptions skipped: %s", event.id, len(batch.faults), batch.faults[0]
        )
    return batch.items
