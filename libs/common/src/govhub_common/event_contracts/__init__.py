"""The events on the bus, typed: one pydantic model for the `data` of each event type, owned
by its producer's module here (exchange.py, registry.py, alerting.py, sms.py) so a consumer
reads an event without importing the producer's service.

`CONTRACTS` lists every type; `parse_data` checks an event's data against its type's model.
The JSON Schemas of all of them are the AsyncAPI 3.0 document of the bus (asyncapi.py;
docs/asyncapi.json, written with the OpenAPI documents by `govhub openapi`)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from pydantic import BaseModel, TypeAdapter, ValidationError

from govhub_common.event_contracts import alerting, exchange, registry, sms

if TYPE_CHECKING:  # events imports security, which reads revocations by these contracts
    from govhub_common.events import CloudEvent


@dataclass(frozen=True)
class EventContract:
    event_type: str  # the CloudEvent type and the routing key's first words
    producer: str  # the service that stages it in its outbox
    data: type[BaseModel]
    summary: str
    # exchange.record.published is routed as `<type>.<topic code>`
    routing_suffix: str | None = None


CONTRACTS: dict[str, EventContract] = {
    contract.event_type: contract
    for contract in (
        EventContract(
            "exchange.record.published",
            "exchange",
            exchange.RecordsPublished,
            "A batch of records accepted on one topic, with their full data (for the hub's "
            "own consumers; agencies read their feeds).",
            routing_suffix="topic code",
        ),
        EventContract(
            "exchange.topic.created",
            "exchange",
            exchange.CatalogTopics,
            "A topic was created: its whole current state.",
        ),
        EventContract(
            "exchange.topic.version_added",
            "exchange",
            exchange.CatalogTopics,
            "A topic got a new schema version: its whole current state.",
        ),
        EventContract(
            "exchange.topic.updated",
            "exchange",
            exchange.CatalogTopics,
            "A topic's title, description or sharing changed: its whole current state.",
        ),
        EventContract(
            "exchange.catalog.announced",
            "exchange",
            exchange.CatalogTopics,
            "The whole catalog, staged at each start of the exchange.",
        ),
        EventContract(
            "exchange.subscription.approved",
            "exchange",
            exchange.SubscriptionGrants,
            "Subscriptions approved (by the topic's owner, or at once for unconditional "
            "sharing): the data items each subscriber is granted.",
        ),
        EventContract(
            "exchange.subscription.refused",
            "exchange",
            exchange.SubscriptionGrants,
            "Subscription requests refused (by the owner, or at once for a topic not shared).",
        ),
        EventContract(
            "exchange.subscription.revoked",
            "exchange",
            exchange.SubscriptionGrants,
            "Subscriptions revoked: their items are granted no more.",
        ),
        EventContract(
            "exchange.subscription.announced",
            "exchange",
            exchange.SubscriptionGrants,
            "Every approved subscription, staged at each start of the exchange.",
        ),
        EventContract(
            "exchange.identity.revoked",
            "exchange",
            exchange.IdentityRevoked,
            "Tokens of a client or agency below a generation are refused from now on.",
        ),
        EventContract(
            "exchange.webhook.paused",
            "exchange",
            exchange.WebhooksPaused,
            "A subscriber's failing webhook endpoint was paused.",
        ),
        EventContract(
            "exchange.webhook.resumed",
            "exchange",
            exchange.WebhooksResumed,
            "A paused webhook was resumed or set again.",
        ),
        EventContract(
            exchange.LOG_ARCHIVED,
            "exchange",
            exchange.LogArchived,
            "Segments of a topic's log past its retention were archived to files and left the "
            "live log: the registry and alerting forget what they derived from those records.",
        ),
        EventContract(
            "registry.legal_entity.changed",
            "registry",
            registry.LegalEntitiesChanged,
            "Current attribute values of legal entities changed.",
        ),
        EventContract(
            "registry.person.changed",
            "registry",
            registry.PersonsChanged,
            "Current attribute values of persons changed.",
        ),
        EventContract(
            "registry.person.deceased",
            "registry",
            registry.PersonsDeceased,
            "Persons the registry now holds as deceased.",
        ),
        EventContract(
            registry.CONFLICTS_CHANGED,
            "registry",
            registry.ConflictsChanged,
            "Conflicts between agencies raised, changed, resolved or settled: each one's whole "
            "current state.",
        ),
        EventContract(
            "alerting.warning.raised",
            "alerting",
            alerting.Warnings,
            "Warnings raised (预警).",
        ),
        EventContract(
            "alerting.warning.resolved",
            "alerting",
            alerting.Warnings,
            "Warnings resolved, with their resolution.",
        ),
        EventContract(
            "alerting.reminder.due",
            "alerting",
            alerting.RemindersDue,
            "SMS reminders due (温馨提示), for the SMS gateway.",
        ),
        EventContract(
            alerting.RULES_ANNOUNCED,
            "alerting",
            alerting.RulesAnnounced,
            "Rules created, given a new version, enabled or disabled (those rules), and every "
            "rule at each start of alerting: the topics each reads and its window.",
        ),
        EventContract(
            "sms.message.status_changed",
            "sms-gateway",
            sms.MessagesChanged,
            "SMS messages whose status changed.",
        ),
    )
}


class UnknownEventType(ValueError):
    pass


class BrokenContract(ValueError):
    """An event its consumer cannot read: its data breaks the type's contract where the
    whole event depends on it. Raised from a handler, it parks the event in the group's
    dead-letter queue with this message as the reason, each fault with its JSON path."""


HeaderT = TypeVar("HeaderT", bound=BaseModel)
ItemT = TypeVar("ItemT", bound=BaseModel)


@dataclass(frozen=True)
class Batch(Generic[HeaderT, ItemT]):
    header: HeaderT  # the event's data with an empty list of items
    items: list[ItemT]  # the items that keep the contract
    faults: list[str]  # one per item that does not: "$.data.records[3].seq: ..."


def brief(exc: ValidationError, prefix: str = "$") -> str:
    return "; ".join(
        prefix
        + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in e["loc"])
        + f": {e['msg']}"
        for e in exc.errors()[:5]
    )


@cache
def _list_of(item: type[ItemT]) -> TypeAdapter[list[ItemT]]:
    return TypeAdapter(list[item])  # type: ignore[valid-type]


def read_header(event: CloudEvent, model: type[HeaderT], field: str) -> tuple[HeaderT, list[Any]]:
    """An event's data as `model` but for its list `field`, returned as it came (for a
    consumer that reads the items its own way); BrokenContract when the rest breaks it."""
    data = event.data if isinstance(event.data, dict) else None
    raw = data.get(field) if data is not None else None
    if data is None or not isinstance(raw, list):
        raise BrokenContract(f"{event.type} {event.id}: $.data.{field}: a list is required")
    try:
        return model.model_validate({**data, field: []}), raw
    except ValidationError as exc:
        raise BrokenContract(f"{event.type} {event.id}: {brief(exc, '$.data')}") from None


def read_batch(
    event: CloudEvent, model: type[HeaderT], field: str, item: type[ItemT]
) -> Batch[HeaderT, ItemT]:
    """An event's data as `model`, its list `field` item by item (`item`, that list's
    model): the rest of the data (who published, which
    topic) must keep the contract or BrokenContract is raised; an item that does not is left
    out and named in `faults`, so one bad item never holds up a batch."""
    header, raw = read_header(event, model, field)
    try:
        # The whole list in one call (a 1,000-record batch: about 4 ms, against 6 item by
        # item); item by item only to find what breaks the contract.
        return Batch(header, _list_of(item).validate_python(raw), [])
    except ValidationError:
        pass
    items: list[ItemT] = []
    faults: list[str] = []
    for index, entry in enumerate(raw):
        try:
            items.append(item.model_validate(entry))
        except ValidationError as exc:
            faults.append(brief(exc, f"$.data.{field}[{index}]"))
    return Batch(header, items, faults)


def parse_data(event: CloudEvent) -> BaseModel:
    """The event's data as its type's model; pydantic's ValidationError names each field
    that breaks the contract, UnknownEventType a type no contract declares."""
    contract = CONTRACTS.get(event.type)
    if contract is None:
        raise UnknownEventType(f"no contract declares the event type {event.type!r}")
    return contract.data.model_validate(event.data)
