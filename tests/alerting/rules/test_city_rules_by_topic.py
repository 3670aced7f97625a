"""The rules of a hub's city's files (GOVHUB_CITY_FILES; the suites' hubs have Guangzhou's)
come with their topics: a rule is installed once the exchange's catalog has every topic it
names, with no restart, so `govhub apply` may create the topics after the hub started; a hub
with topics of its own gets none of them (issue 17, finding 4)."""

from __future__ import annotations

from govhub_common.testing import Hub, running_hub, wait_for
from tests.exchange.support import BASE, make_agency


async def rule_ids(hub: Hub) -> set[str]:
    response = await hub.client.get("/alerting/v1/rules", headers=hub.operator())
    assert response.status_code == 200, response.text
    return {rule["id"] for rule in response.json()["data"]}


def schema(*dates: str) -> dict[str, object]:
    items = {"uscc": {"type": "string", "title": "统一社会信用代码", "x-sensitivity": "public"}}
    items |= {d: {"type": "string", "format": "date", "title": "日期"} for d in dates}
    return {"type": "object", "properties": items, "required": ["uscc"]}


async def create_topic(hub: Hub, owner: str, code: str, *dates: str) -> None:
    response = await hub.client.post(
        f"{BASE}/topics",
        json={
            "code": code,
            "title": code,
            "sharing_type": "unconditional",
            "owner": owner,
            "schema": schema(*dates),
        },
        headers=hub.operator(),
    )
    assert response.status_code == 201, response.text


async def test_a_files_rule_comes_when_the_catalog_has_its_topics(fresh_db_url: str) -> None:
    async with running_hub(fresh_db_url) as hub:
        owner = await make_agency(hub)
        # Topics none of the files' rules names.
        await create_topic(hub, owner, "shop_opened", "opened_date")
        await hub.settle()
        assert await rule_ids(hub) == set()

        # The licence topic alone: its rule also names the tax offices' topics, not there yet.
        await create_topic(hub, owner, "enterprise_deregistered", "deregistered_date")
        await hub.settle()
        assert await rule_ids(hub) == set()

        # The last of its topics: the rule comes with it, no restart.
        await create_topic(hub, owner, "local_tax_deregistered", "deregistered_date")
        await create_topic(hub, owner, "national_tax_deregistered", "deregistered_date")

        async def installed() -> set[str]:
            return await rule_ids(hub)

        assert await wait_for(installed) == {"tax_deregistration_missing"}

    # At the next start the hub keeps it and installs nothing more.
    async with running_hub(fresh_db_url) as hub:
        assert await rule_ids(hub) == {"tax_deregistration_missing"}
