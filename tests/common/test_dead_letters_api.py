"""Dead letters are an operator's to see and re-drive, under every service's
`/v1/events/dead-letters`, with in-process events and through RabbitMQ alike."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa

from govhub_common.events import CloudEvent
from govhub_common.metrics import EVENTS_CONSUMED
from govhub_common.testing import Hub, records_published, wait_for

GROUP = "registry.records"
BASE = "/registry/v1/events/dead-letters"


@pytest.fixture(params=["hub", "rabbit_hub"])
def any_hub(request: pytest.FixtureRequest) -> Hub:
    hub: Hub = request.getfixturevalue(request.param)
    return hub


def record_event(event_id: str, records: object) -> CloudEvent:
    """An exchange.record.published event as the exchange stages it, but for `records`."""
    topic = "enterprise_registered"  # a topic Guangzhou's mapping reads (tests/conftest.py)
    event = records_published(topic, "test-agency", [])
    return event.model_copy(update={"id": event_id, "data": {**event.data, "records": records}})


async def test_a_failing_event_is_listed_with_its_reason_and_redriven(any_hub: Hub) -> None:
    hub = any_hub
    operator = hub.operator()
    # Not a UUID, as CloudEvents allows: an ordinary event, not poison.
    fine = record_event(f"batch-{uuid.uuid4().hex[:8]}", [])
    # Its records are not a list: the event breaks its contract, and the consumer fails.
    broken = record_event(f"broken-{uuid.uuid4().hex[:8]}", 5)
    await hub.runtime.bus.publish([fine, broken])

    async def listed() -> list[dict[str, object]]:
        reply = await hub.client.get(BASE, params={"group": GROUP}, headers=operator)
        assert reply.status_code == 200, reply.text
        return [d for d in reply.json()["data"] if d["event_id"] == broken.id]

    (letter,) = await wait_for(listed, timeout=60)
    assert letter["group"] == GROUP
    assert letter["type"] == "exchange.record.published"
    assert letter["reason"].startswith("BrokenContract")
    assert "$.data.records: a list is required" in letter["reason"]
    assert letter["attempts"] == hub.runtime.settings.bus_delivery_limit + 1

    async with hub.runtime.db.session() as session:
        processed = await session.execute(
            sa.text("SELECT event_id FROM registry.inbox WHERE event_id = :e"), {"e": fine.id}
        )
        assert processed.scalar_one() == fine.id

    failures = EVENTS_CONSUMED.labels("registry", GROUP, "failed")
    before = failures._value.get()
    reply = await hub.client.post(
        f"{BASE}/redrive", json={"group": GROUP, "event_ids": [broken.id]}, headers=operator
    )
    assert reply.status_code == 200, reply.text
    assert reply.json()["redriven"] == 1
    # Tried again by its consumer; still broken, so parked again with the same reason.
    await wait_for(lambda: failures._value.get() > before, timeout=30)
    (again,) = await wait_for(listed, timeout=60)
    assert again["reason"].startswith("BrokenContract")


async def test_dead_letters_are_for_operators_and_name_their_faults(hub: Hub) -> None:
    assert (await hub.client.get(BASE)).status_code == 401
    agency = hub.auth("gz-tax", "registry:read")
    assert (await hub.client.get(BASE, headers=agency)).status_code == 403
    operator = hub.operator()
    missing = await hub.client.get(BASE, params={"group": "registry.nope"}, headers=operator)
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    for body in ({"group": GROUP}, {"group": GROUP, "all": True, "event_ids": ["x"]}):
        reply = await hub.client.post(f"{BASE}/redrive", json=body, headers=operator)
        assert reply.status_code == 422, reply.text
        assert reply.json()["code"] == "validation_failed"
    reply = await hub.client.get(BASE, params={"limit": 0}, headers=operator)
    assert reply.status_code == 422
    assert reply.json()["errors"][0]["path"] == "query:$.limit"
