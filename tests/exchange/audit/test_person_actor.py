"""A person acting through the console is named in the audit log as `<agency>/<person>`
(issue 19), and the chain still verifies."""

from __future__ import annotations

import time

from govhub_common.persons import PersonClaims
from govhub_common.testing import Hub
from tests.exchange.support import BASE, unique

OPS = PersonClaims(
    person="local:ops",
    name="运维值班",
    role="operator",
    auth_time=int(time.time()),
    agency="gz-datacenter",
)


async def test_an_operator_in_person_is_the_actor_of_the_audit_entry(hub: Hub) -> None:
    ops = hub.auth("gz-datacenter", "operator", person=OPS)
    code = unique("t-")
    created = await hub.client.post(
        f"{BASE}/agencies", json={"code": code, "name": "测试局"}, headers=ops
    )
    assert created.status_code == 201, created.text

    entries = await hub.client.get(
        f"{BASE}/audit", params={"agency": code, "action": "agency.created"}, headers=ops
    )
    assert entries.status_code == 200, entries.text
    (entry,) = entries.json()["data"]
    assert entry["actor"] == "gz-datacenter/local:ops"
    # No name in who acted: the person's stable id only.
    assert "运维值班" not in entry["canonical"]
    # The hub agency's search finds what its people did.
    mine = await hub.client.get(
        f"{BASE}/audit", params={"agency": "gz-datacenter", "action": "agency.created"},
        headers=ops,
    )  # fmt: skip
    assert entry["id"] in [e["id"] for e in mine.json()["data"]]

    verified = await hub.client.get(f"{BASE}/audit/verify", headers=ops)
    assert verified.status_code == 200, verified.text
    assert verified.json()["valid"] is True
