"""The exchange's catalog on the bus: what other services learn of topics and data items.

The exchange stages one of these events in the transaction of each catalog change, so a
service that keeps its own copy of the catalog (alerting to check rules, the registry to
check mappings) knows a topic as soon as its creation commits, without calling the exchange
and without a client of its own. Every event carries a batch, `{"topics": [...]}`, and each
entry is the topic's whole current state (every data item it has had, with the version that
brought it), so a consumer simply replaces what it holds for that topic: the events may be
applied more than once and, between two events of one topic, the higher `current_version`
wins.

`exchange.catalog.announced` carries the whole catalog; the exchange stages it at each
start, so a service that subscribes later (an upgrade from a hub without these events)
learns the topics created before it.
"""

from __future__ import annotations

import logging
from typing import Any

from govhub_common.event_contracts import read_batch
from govhub_common.event_contracts.exchange import CatalogItem, CatalogTopic, CatalogTopics
from govhub_common.events import CloudEvent

log = logging.getLogger("govhub.catalog_events")

TOPIC_CREATED = "exchange.topic.created"
TOPIC_VERSION_ADDED = "exchange.topic.version_added"
TOPIC_UPDATED = "exchange.topic.updated"
CATALOG_ANNOUNCED = "exchange.catalog.announced"
CATALOG_EVENTS = (TOPIC_CREATED, TOPIC_VERSION_ADDED, TOPIC_UPDATED, CATALOG_ANNOUNCED)

# The fields of one data item in an event, as the exchange's catalog lists them.
ITEM_FIELDS = tuple(CatalogItem.model_fields)


def catalog_event(event_type: str, topics: list[dict[str, Any]]) -> CloudEvent:
    """The event the exchange stages; `topics` entries as `catalog_topic` documents them:
    {"code", "owner", "title", "sharing_type", "current_version", "items": [...]}."""
    subject = f"topic/{topics[0]['code']}" if len(topics) == 1 else None
    return CloudEvent(
        source="govhub/exchange", type=event_type, subject=subject, data={"topics": topics}
    )


def topics_of(event: CloudEvent) -> list[CatalogTopic]:
    """The topic entries of a catalog event, read by its contract (an entry that breaks it
    is skipped and logged)."""
    catalog = read_batch(event, CatalogTopics, "topics", CatalogTopic)
    if catalog.faults:
        log.warning(
            "event %s: %d topics skipped: %s", event.id, len(catalog.faults), catalog.faults[0]
        )
    return catalog.items
