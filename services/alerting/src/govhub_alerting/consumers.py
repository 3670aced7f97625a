"""Bus handlers: record events and deaths become facts, timers and warnings; registry changes
keep the contacts reminders are sent to; the exchange's catalog and subscription decisions
say what exists and what each agency is granted; the SMS gateway's status changes say what
became of the reminders; its archived segments take alerting's records and facts of them."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from govhub_alerting.access.service import learn_grants
from govhub_alerting.engine.contacts import CHANGE_EVENTS, ingest_registry_change
from govhub_alerting.engine.deliveries import STATUS_CHANGED, learn_statuses
from govhub_alerting.engine.ingest import ingest_incoming, records_of
from govhub_alerting.engine.retention import forget_archived
from govhub_alerting.rules.catalog import learn_catalog
from govhub_alerting.rules.service import city_rules, install_city_rules
from govhub_alerting.settings import AlertingSettings
from govhub_common.catalog_events import CATALOG_EVENTS, topics_of
from govhub_common.events import CloudEvent
from govhub_common.log_events import LOG_ARCHIVED, live_log_starts
from govhub_common.runtime import ServiceContext
from govhub_common.service import Consumer
from govhub_common.subscription_events import SUBSCRIPTION_EVENTS

PATTERNS = ("exchange.record.published.*", "registry.person.deceased")


def consumers(ctx: ServiceContext) -> list[Consumer]:
    settings: AlertingSettings = ctx.settings
    contact_attributes = tuple(settings.alerting_registry_attributes)
    file_rules = city_rules(settings.city_files)

    async def on_event(session: AsyncSession, event: CloudEvent) -> None:
        # In simulation mode a warning raised or resolved by records is stamped with their
        # business time (the replayed moment), not the wall clock's.
        incoming = records_of(event)
        now = ctx.clock.stamp(*(incoming.business_times if incoming else ()))
        await ingest_incoming(
            session,
            incoming,
            now=now,
            contact_attributes=contact_attributes,
            file_rules=file_rules,
        )

    async def on_catalog(session: AsyncSession, event: CloudEvent) -> None:
        await learn_catalog(session, event)
        # A rule of the city's files comes with the first of its topics the catalog announces.
        await install_city_rules(
            session,
            rules=file_rules,
            topics=[topic.code for topic in topics_of(event)],
            contact_attributes=contact_attributes,
        )

    async def on_archived(session: AsyncSession, event: CloudEvent) -> None:
        await forget_archived(session, live_log_starts(event))

    async def on_registry_change(session: AsyncSession, event: CloudEvent) -> None:
        await ingest_registry_change(session, event, attributes=contact_attributes)

    # A queue of its own: registry changes never wait behind a backlog of records.
    return [
        Consumer("facts", PATTERNS, on_event),
        Consumer("contacts", tuple(CHANGE_EVENTS), on_registry_change),
        # The exchange's catalog: a rule may name a topic as soon as it exists.
        Consumer("catalog", CATALOG_EVENTS, on_catalog),
        # What each agency is granted of each topic: the evidence it is shown.
        Consumer("grants", SUBSCRIPTION_EVENTS, learn_grants),
        # What became of the reminders emitted (only their keys are kept).
        Consumer("deliveries", (STATUS_CHANGED,), learn_statuses),
        # The exchange's retention: what left its live log leaves alerting's history.
        Consumer("retention", (LOG_ARCHIVED,), on_archived),
    ]
