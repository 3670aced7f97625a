"""Reminder events from alerting become SMS messages, once (shared hub, in-process events)."""

from __future__ import annotations

import uuid

from govhub_common import testing
from govhub_common.events import CloudEvent
from tests.sms.support import PARAMS, random_mobile


async def test_reminder_events_become_messages_once(hub: testing.Hub) -> None:
    recipients = [random_mobile(), random_mobile()]
    keys = [f"reminder-{uuid.uuid4().hex}" for _ in recipients]
    reminders = [
        {
            "idempotency_key": key,
            "rule_id": "tax_registration_missing",
            "subject": "91440101MA5XXXXX1X",
            "recipient": recipient,
            "template": "tax_registration_reminder",
            "params": PARAMS,
            # Far ahead of any real date, so the shared hub's sender (real clock) leaves it.
            "due_at": "2130-07-20T10:00:00+08:00",
        }
        for key, recipient in zip(keys, recipients, strict=True)
    ]
    bad = {**reminders[0], "idempotency_key": f"reminder-{uuid.uuid4().hex}", "recipient": "x"}
    event = CloudEvent(
        source="govhub/alerting",
        type="alerting.reminder.due",
        data={"reminders": [*reminders, bad]},
    )
    await hub.runtime.bus.publish([event])
    await hub.runtime.bus.publish([event])  # redelivered: the inbox drops it
    # the alerting service sends the same reminder again in a later event
    repeat = CloudEvent(
        source="govhub/alerting", type="alerting.reminder.due", data={"reminders": reminders[:1]}
    )
    await hub.runtime.bus.publish([repeat])
    for key, recipient in zip(keys, recipients, strict=True):
        listed = await hub.client.get(
            "/sms/v1/messages", params={"idempotency_key": key}, headers=hub.operator()
        )
        [message] = listed.json()["data"]
        assert message["recipient"] == recipient
        assert message["agency"] == "gz-datacenter"
        assert message["template"] == "tax_registration_reminder"
        # due as of the reminder's time: a simulation dispatching that day sends it
        assert message["status"] == "queued"
        assert message["next_attempt_at"] == "2130-07-20T02:00:00Z"
