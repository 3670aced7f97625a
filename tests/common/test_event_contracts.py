"""Every event the hub's producers stage is what its contract (govhub_common.event_contracts,
docs/asyncapi.json) says: the catalog's events, the registry's person events and the
exchange's record events, as the producers build them through the HTTP API of a hub on a
fresh database. (The Foshan year checks the other types on the real broker:
tests/e2e/test_second_city.py; webhook pauses: tests/exchange/delivery/test_webhook_isolation.py.)"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from stdnum.cn import ric

from govhub_common.bus import Subscription
from govhub_common.city.format import kind_specs
from govhub_common.event_contracts import CONTRACTS, UnknownEventType, parse_data
from govhub_common.events import CloudEvent
from govhub_common.testing import Hub, running_hub

EXCHANGE = "/exchange/v1"


def guangzhou_topic(code: str) -> dict[str, Any]:
    """A topic of the Guangzhou city (the suites' GOVHUB_CITY_FILES): its mapping reads it."""
    city = Path(os.environ["GOVHUB_CITY_FILES"])
    return next(spec for _, spec in kind_specs(city, "Topic") if spec["code"] == code)


async def call(hub: Hub, method: str, path: str, headers: dict[str, str], **kw: Any) -> Any:
    reply = await hub.client.request(method, path, headers=headers, **kw)
    assert reply.status_code in (200, 201), f"{method} {path}: {reply.status_code} {reply.text}"
    return reply.json()


async def test_the_events_of_a_citys_first_records_keep_their_contracts(
    fresh_db_url: str,
) -> None:
    seen: list[CloudEvent] = []

    async def keep(event: CloudEvent) -> None:
        seen.append(event)

    async with running_hub(fresh_db_url) as hub:
        await hub.runtime.bus.subscribe(
            Subscription(f"test.tap.{uuid.uuid4().hex[:6]}", ["#"], keep)
        )
        operator = hub.operator()
        await call(
            hub,
            "POST",
            f"{EXCHANGE}/agencies",
            operator,
            json={"code": "gz-psb", "name": "广州市公安局"},
        )
        for code in ("person_registered", "person_died"):
            await call(hub, "POST", f"{EXCHANGE}/topics", operator, json=guangzhou_topic(code))
        # A new version and a changed title of one of them.
        schema = guangzhou_topic("person_died")["schema"]
        schema["properties"]["place"] = {"type": "string", "title": "死亡地点"}
        await call(
            hub,
            "POST",
            f"{EXCHANGE}/topics/person_died/versions",
            operator,
            json={"schema": schema},
        )
        await call(
            hub,
            "PATCH",
            f"{EXCHANGE}/topics/person_died",
            operator,
            json={"title": "死亡登记（公安）"},
        )

        psb = hub.auth("gz-psb", "exchange:publish")
        body = "44010619400101123"
        person = {
            "id_number": body + ric.calc_check_digit(body + "0"),
            "name": "李四",
            "sex": "男",
            "birth_date": "1940-01-01",
            "household_id": "HH001",
            "address": "广州市越秀区中山五路1号",
        }
        when = "2024-03-01T10:00:00+08:00"
        died = {"id_number": person["id_number"], "name": "李四", "death_date": "2024-03-05"}
        for topic, data in (("person_registered", person), ("person_died", died)):
            reply = await call(hub, "POST", f"{EXCHANGE}/topics/{topic}/records", psb,
                               json=[{"record_id": "r-1", "data": data, "business_time": when}])  # fmt: skip
            assert reply["counts"]["accepted"] == 1, reply
        # A subscription decided and revoked (approved at once if the topic is shared
        # unconditionally).
        await call(hub, "POST", f"{EXCHANGE}/agencies", operator,
                   json={"code": "gz-hrss", "name": "广州市人力资源和社会保障局"})  # fmt: skip
        requested = await call(
            hub,
            "POST",
            f"{EXCHANGE}/subscriptions",
            hub.auth("gz-hrss", "exchange:subscribe"),
            json={"topic": "person_died", "purpose": "停发养老金", "items": ["id_number"]},
        )
        if requested["status"] == "pending":
            await call(hub, "POST", f"{EXCHANGE}/subscriptions/{requested['id']}/decision",
                       operator, json={"approve": True, "reason": "依法共享"})  # fmt: skip
        await call(hub, "POST", f"{EXCHANGE}/subscriptions/{requested['id']}/revoke", operator,
                   json={"reason": "停止比对"})  # fmt: skip
        await hub.settle()

    broken = []
    for event in seen:
        try:
            parse_data(event)
        except (ValidationError, UnknownEventType) as exc:
            broken.append(f"{event.type}: {exc}")
    assert not broken, "\n".join(broken)
    assert {e.type for e in seen} >= {
        "exchange.topic.created",
        "exchange.topic.version_added",
        "exchange.topic.updated",
        "exchange.subscription.approved",
        "exchange.subscription.revoked",
        "exchange.record.published",
        "registry.person.changed",
        "registry.person.deceased",
    }


@pytest.mark.parametrize("event_type", sorted(CONTRACTS))
def test_a_field_no_contract_declares_breaks_it(event_type: str) -> None:
    """The contracts are closed: a producer adding a field must change its contract (and so
    docs/asyncapi.json) in the same change."""
    contract = CONTRACTS[event_type]
    data_key = next(iter(contract.data.model_fields))
    event = CloudEvent(source="govhub/test", type=event_type, data={data_key: [], "extra": 1})
    with pytest.raises(ValidationError) as raised:
        parse_data(event)
    assert any(e["type"] == "extra_forbidden" for e in raised.value.errors())
