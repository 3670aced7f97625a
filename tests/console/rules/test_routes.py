"""/console/rules: an operator reads a rule (definition and versions), disables and
enables it, dry-runs its stored definition and backfills it after a confirmation; a data
steward gets alerting's refusal."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from govhub_common.testing import Hub, wait_for
from tests.console.ops.support import csrf_of, sign_in_as, sign_in_operator, text_of
from tests.exchange.support import make_agency, make_topic


def absence_rule(rule_id: str, trigger: str, expected: str) -> dict[str, Any]:
    return {
        "id": rule_id,
        "kind": "absence",
        "title": "开业未办组织机构代码（控制台测试）",
        "severity": "low",
        "assigned_agency": "gz-qts",
        "trigger": {"topic": trigger, "key": "uscc", "date": "established_date"},
        "expected": [{"topic": expected, "key": "uscc", "date": "established_date"}],
        "within": "P15D",
    }


async def make_rule(hub: Hub, *, enabled: bool = True) -> tuple[str, str]:
    """A rule over two topics of its own (it judges no record another test publishes),
    stored once alerting has learnt of them; its id and trigger topic."""
    owner = await make_agency(hub)
    trigger, expected = await make_topic(hub, owner), await make_topic(hub, owner)
    rule_id = f"console_{uuid.uuid4().hex[:8]}"
    body = {**absence_rule(rule_id, trigger, expected), "enabled": enabled}

    async def stored() -> bool:
        reply = await hub.client.post("/alerting/v1/rules", json=body, headers=hub.operator())
        assert reply.status_code in (201, 422), reply.text
        return reply.status_code == 201

    await wait_for(stored, timeout=30)
    return rule_id, trigger


async def rule_state(hub: Hub, rule_id: str) -> dict[str, Any]:
    reply = await hub.client.get(f"/alerting/v1/rules/{rule_id}", headers=hub.operator())
    assert reply.status_code == 200, reply.text
    return dict(reply.json())


async def test_an_operator_reads_switches_dry_runs_and_backfills_a_rule(
    hub: Hub, client: httpx.AsyncClient, username: str
) -> None:
    rule_id, trigger = await make_rule(hub)
    await sign_in_operator(hub, client, username)

    page = await client.get(f"/console/rules/{rule_id}")
    assert page.status_code == 200, page.text
    assert "开业未办组织机构代码（控制台测试）" in page.text
    assert f'"topic": "{trigger}"' in page.text.replace("&#34;", '"')  # the definition
    assert '<dd class="rule-state">已启用</dd>' in page.text

    disabled = await client.post(
        f"/console/rules/{rule_id}/disable", data={"csrf": csrf_of(page.text)}
    )
    assert disabled.status_code == 303
    assert (await rule_state(hub, rule_id))["enabled"] is False
    page = await client.get(f"/console/rules/{rule_id}")
    assert '<dd class="rule-state">已停用</dd>' in page.text
    enabled = await client.post(
        f"/console/rules/{rule_id}/enable", data={"csrf": csrf_of(page.text)}
    )
    assert enabled.status_code == 303
    assert (await rule_state(hub, rule_id))["enabled"] is True

    dry = await client.post(f"/console/rules/{rule_id}/dry-run", data={"csrf": csrf_of(page.text)})
    assert dry.status_code == 200, dry.text
    assert "试运行结果" in dry.text
    assert '<dd class="would-raise">0</dd>' in dry.text

    preview = await client.get(f"/console/rules/{rule_id}/backfill")
    assert preview.status_code == 200
    assert "确定执行吗" in text_of(preview.text)
    done = await client.post(
        f"/console/rules/{rule_id}/backfill", data={"csrf": csrf_of(preview.text)}
    )
    assert done.status_code == 200, done.text
    assert "已产生 0 条预警。" in text_of(done.text)

    listing = await client.get("/console/rules")
    assert listing.status_code == 200
    # Later pages too: follow the next links until the rule shows.
    text = listing.text
    while f'href="/console/rules/{rule_id}"' not in text:
        assert 'rel="next"' in text
        href = text.split('rel="next"', 1)[0].rsplit('href="', 1)[1].split('"', 1)[0]
        text = (await client.get(href.replace("&amp;", "&"))).text
    await hub.client.post(f"/alerting/v1/rules/{rule_id}/disable", headers=hub.operator())


async def test_a_backfill_of_a_disabled_rule_shows_alertings_refusal(
    hub: Hub, client: httpx.AsyncClient, username: str
) -> None:
    rule_id, _ = await make_rule(hub, enabled=False)
    await sign_in_operator(hub, client, username)
    page = await client.get(f"/console/rules/{rule_id}")
    refused = await client.post(
        f"/console/rules/{rule_id}/backfill", data={"csrf": csrf_of(page.text)}
    )
    assert refused.status_code == 409
    assert "接口拒绝了此请求（HTTP 409）" in text_of(refused.text)
    missing = await client.get("/console/rules/no_such_rule_here")
    assert missing.status_code == 404


async def test_a_data_steward_gets_alertings_refusal(
    hub: Hub, client: httpx.AsyncClient, username: str
) -> None:
    await sign_in_as(hub, client, username, role="data_steward")
    refused = await client.get("/console/rules")
    assert refused.status_code == 403
    assert "HTTP 403" in text_of(refused.text)
