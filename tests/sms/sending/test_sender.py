"""The background sender on the development default: the log provider, on a gateway of its
own (all-in-one, in-process events) whose clock is pinned to a working morning (the shared hub runs on the real clock, so at
night in Guangzhou its sender would defer the message for quiet hours instead: that path is
test_sms_smpp's test_quiet_hours_defer_and_the_morning_sends)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from govhub_common import testing
from tests.sms.support import PINNED_NOW, random_mobile, reminder_body


@pytest.fixture
async def log_gateway(fresh_db_url: str) -> AsyncIterator[testing.Hub]:
    async with testing.running_hub(fresh_db_url) as hub:
        hub.runtime.clock.set(PINNED_NOW)
        yield hub


async def test_background_sender_writes_to_the_log_provider(
    log_gateway: testing.Hub, govhub_home: Path
) -> None:
    """The log provider writes the text and reports delivery; the sender alone moves the
    message (nobody dispatches), through queued, sent and delivered."""
    hub = log_gateway
    response = await hub.client.post(
        "/sms/v1/messages",
        json=reminder_body(random_mobile()),
        headers=hub.auth("gz-ltax", "sms:send"),
    )
    assert response.status_code == 201, response.text
    message_id = response.json()["id"]

    async def delivered() -> dict[str, Any] | None:
        current = (
            await hub.client.get(f"/sms/v1/messages/{message_id}", headers=hub.operator())
        ).json()
        return current if current["status"] == "delivered" else None

    message = await testing.wait_for(delivered, timeout=15)
    assert [h["status"] for h in message["history"]] == ["queued", "sent", "delivered"]
    lines = (govhub_home / "sms" / "outbox.jsonl").read_text(encoding="utf-8").splitlines()
    written = [json.loads(line) for line in lines if message_id in line]
    assert [w["text"] for w in written] == [message["text"]]
    await hub.settle()
    async with hub.runtime.db.session() as session:
        payloads = (
            await session.execute(
                text(
                    "SELECT payload FROM sms.outbox WHERE type = 'sms.message.status_changed' "
                    "AND payload::text LIKE :id ORDER BY id"
                ),
                {"id": f"%{message_id}%"},
            )
        ).scalars()
        statuses = [
            m["status"] for p in payloads for m in p["data"]["messages"] if m["id"] == message_id
        ]
    assert statuses == ["queued", "sent", "delivered"]
