"""Bus handlers of the exchange."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from govhub_common.events import CloudEvent
from govhub_common.runtime import ServiceContext
from govhub_common.service import Consumer
from govhub_exchange.hub import append_warnings
from govhub_exchange.publishing.service import audit_publish


def consumers(ctx: ServiceContext) -> Sequence[Consumer]:
    async def audit_published(session: AsyncSession, event: CloudEvent) -> None:
        data = event.data or {}
        topic = data.get("topic")
        records = data.get("records") or []
        if topic and data.get("batch_id") and records:
            # A publish is audited here, once per batch event (the inbox makes it once),
            # rather than under the topic's lock, where the chain's own lock and its three
            # statements held up every other publisher of the topic.
            await audit_publish(
                session,
                str(data.get("publisher")),
                str(topic),
                str(data["batch_id"]),
                dict(data.get("counts") or {}),
                records[0]["seq"],
                records[-1]["seq"],
            )

    async def warning_changed(session: AsyncSession, event: CloudEvent) -> None:
        warnings = (event.data or {}).get("warnings") or []
        if warnings:
            await append_warnings(session, list(warnings))

    return [
        # The group keeps the name it had when it woke replicas (now done by NOTIFY, see
        # delivery/notify.py): a renamed group would leave the old queue filling up.
        Consumer("record-notify", ["exchange.record.published.#"], audit_published),
        Consumer("hub-warnings", ["alerting.warning.*"], warning_changed),
    ]
