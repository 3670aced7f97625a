"""/console/audit: an operator searches the log, sees it verified, and downloads an export
the offline verifier accepts; a case officer gets the exchange's refusal."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import httpx
import orjson

from govhub_common.clock import BUSINESS_TZ
from govhub_common.testing import Hub, wait_for
from govhub_exchange.audit.chain import PublicKeys, verify_export_lines
from tests.console.ops.support import sign_in_as, sign_in_operator, text_of
from tests.exchange.support import BASE, enterprise, make_agency, make_topic, publish


async def test_an_operator_searches_verifies_and_exports_the_audit_log(
    hub: Hub, client: httpx.AsyncClient, username: str, tmp_path: Path
) -> None:
    owner = await make_agency(hub)
    topic = await make_topic(hub, owner)
    await publish(hub, owner, topic, [{"record_id": "a1", "data": enterprise(3)}])

    async def logged() -> bool:
        reply = await hub.client.get(
            f"{BASE}/audit", params={"topic": topic}, headers=hub.operator()
        )
        return any(e["action"] == "records.published" for e in reply.json()["data"])

    await wait_for(logged)
    await sign_in_operator(hub, client, username)

    page = await client.get("/console/audit", params={"agency": owner})
    assert page.status_code == 200, page.text
    assert "records.published" in page.text and topic in page.text
    # Times as Beijing's wall clock: a search by a datetime-local value finds the entry too.
    now = datetime.now(BUSINESS_TZ)
    since = (now - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S")
    until = (now + timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%S")
    ranged = await client.get(
        "/console/audit", params={"agency": owner, "since": since, "until": until}
    )
    assert topic in ranged.text
    before = await client.get("/console/audit", params={"agency": owner, "until": since})
    assert topic not in before.text

    verified = await client.get("/console/audit/verify")
    assert verified.status_code == 200
    assert "校验通过" in text_of(verified.text)
    assert 'class="ops-status-good audit-result"' in verified.text

    download = await client.get("/console/audit/export", params={"since": since, "until": until})
    assert download.status_code == 200, download.text
    assert download.headers["content-type"] == "application/x-ndjson"
    assert download.headers["content-disposition"].startswith('attachment; filename="govhub-audit-')
    lines = download.content.splitlines()
    entries = [e for e in map(orjson.loads, lines) if e.get("type") == "entry"]
    assert any(e["topic"] == topic for e in entries)
    jwks = tmp_path / "jwks.json"
    jwks.write_bytes((await hub.client.get(f"{BASE}/.well-known/jwks.json")).content)
    report = verify_export_lines(lines, PublicKeys.load(jwks))
    assert report["valid"] is True, report
    assert report["entries_checked"] == len(entries)


async def test_a_bad_time_is_the_apis_problem_on_the_page(
    hub: Hub, client: httpx.AsyncClient, username: str
) -> None:
    await sign_in_operator(hub, client, username)
    for path in ("/console/audit", "/console/audit/export"):
        reply = await client.get(path, params={"since": "last tuesday"})
        assert reply.status_code == 422, path
        assert "接口拒绝了此请求（HTTP 422）" in text_of(reply.text)


async def test_a_case_officer_gets_the_exchanges_refusal(
    hub: Hub, client: httpx.AsyncClient, username: str
) -> None:
    await sign_in_as(hub, client, username, role="case_officer")
    for path in ("/console/audit", "/console/audit/verify", "/console/audit/export"):
        refused = await client.get(path)
        assert refused.status_code == 403, path
        assert "HTTP 403" in text_of(refused.text)
        assert refused.headers["content-type"].startswith("text/html")
