"""The pension-fraud signal end to end on the real RabbitMQ: public security publishes a
death, the registry announces `registry.person.deceased`, a consumer receives it."""

from __future__ import annotations

import uuid
from datetime import date

import pytest

from govhub_common.testing import Hub, wait_for
from tests.registry.support import collect, make_ric, person, published, record


@pytest.mark.rabbitmq
async def test_a_death_published_by_public_security_reaches_a_consumer(rabbit_hub: Hub) -> None:
    social_security = await collect(
        rabbit_hub, f"test-hrss-{uuid.uuid4().hex[:8]}", "registry.person.deceased"
    )
    id_number = make_ric(date(1938, 3, 3))
    died = record({"id_number": id_number, "name": "周老伯", "death_date": "2024-05-06"})
    await rabbit_hub.runtime.bus.publish(
        [published("person_registered", "gz-psb", [record(person(id_number, "周老伯"))])]
    )
    await rabbit_hub.runtime.bus.publish([published("person_died", "gz-psb", [died])])

    def received() -> list[dict[str, object]]:
        return [
            p
            for p in social_security.items("registry.person.deceased", "persons")
            if p["id_number"] == id_number
        ]

    persons = await wait_for(received, timeout=20)
    assert persons == [
        {
            "id_number": id_number,
            "death_date": "2024-05-06",
            "source_agency": "gz-psb",
            "seq": died["seq"],
        }
    ]
    body = (
        await rabbit_hub.client.get(
            f"/registry/v1/persons/{id_number}", headers=rabbit_hub.operator()
        )
    ).json()
    assert body["attributes"]["vital_status"] == "deceased"
    assert body["attributes"]["death_date"] == "2024-05-06"
