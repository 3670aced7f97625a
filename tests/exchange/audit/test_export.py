"""`GET /exchange/v1/audit/export`: the audit log as `govhub exchange audit export` writes
it, streamed to an operator over HTTP, and accepted by the offline verifier."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

from govhub_common.testing import Hub, wait_for
from govhub_exchange.audit.chain import EXPORT_FORMAT, PublicKeys, verify_export_lines
from tests.exchange.support import BASE, enterprise, make_agency, make_topic, publish


async def test_an_operator_downloads_an_export_the_offline_verifier_accepts(
    hub: Hub, tmp_path: Path
) -> None:
    owner = await make_agency(hub)
    topic = await make_topic(hub, owner)
    await publish(hub, owner, topic, [{"record_id": "e1", "data": enterprise(2)}])

    async def published() -> bool:
        reply = await hub.client.get(
            f"{BASE}/audit",
            params={"topic": topic, "action": "records.published"},
            headers=hub.operator(),
        )
        return bool(reply.json()["data"])

    await wait_for(published)
    assert (await hub.client.post(f"{BASE}/audit/checkpoints", headers=hub.operator())).is_success
    now = datetime.now(UTC)
    since, until = (now - timedelta(hours=1)).isoformat(), (now + timedelta(minutes=1)).isoformat()
    reply = await hub.client.get(
        f"{BASE}/audit/export", params={"since": since, "until": until}, headers=hub.operator()
    )
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"] == "application/x-ndjson"
    disposition = reply.headers["content-disposition"]
    assert disposition.startswith('attachment; filename="govhub-audit-')
    assert disposition.endswith('.ndjson"')

    lines = [orjson.loads(line) for line in reply.content.splitlines()]
    assert lines[0]["format"] == EXPORT_FORMAT
    assert lines[0]["from"] is not None and lines[0]["to"] is not None
    entries = [line for line in lines if line.get("type") == "entry"]
    assert any(e["topic"] == topic and e["action"] == "records.published" for e in entries)
    assert all(e["canonical"] for e in entries if e["hash_version"] == 2)
    assert any(line.get("type") == "checkpoint" for line in lines)

    jwks_file = tmp_path / "jwks.json"
    jwks_file.write_bytes((await hub.client.get(f"{BASE}/.well-known/jwks.json")).content)
    report = verify_export_lines(reply.content.splitlines(), PublicKeys.load(jwks_file))
    assert report["valid"] is True, report
    assert report["entries_checked"] == len(entries)

    # One line changed after the download: the verifier names it.
    changed = next(e for e in entries if e["topic"] == topic)
    changed["details"] = {**changed["details"], "accepted": 1000}
    tampered = [orjson.dumps(e if e.get("id") != changed["id"] else changed) for e in lines]
    report = verify_export_lines(tampered, PublicKeys.load(jwks_file))
    assert report["valid"] is False
    assert report["first_broken"]["entry_id"] == changed["id"]


async def test_the_export_is_for_operators_only(hub: Hub) -> None:
    assert (await hub.client.get(f"{BASE}/audit/export")).status_code == 401
    agency = hub.auth("gz-tax", "exchange:subscribe", "exchange:publish")
    refused = await hub.client.get(f"{BASE}/audit/export", headers=agency)
    assert refused.status_code == 403
    assert refused.headers["content-type"] == "application/problem+json"
    bad = await hub.client.get(
        f"{BASE}/audit/export", params={"since": "yesterday"}, headers=hub.operator()
    )
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["path"] == "query:$.since"
