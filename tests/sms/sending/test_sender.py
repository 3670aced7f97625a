"""The background sender on the development default: the log provider (shared hub)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from govhub_common import testing
from tests.sms.support import random_mobile, reminder_body


async def test_background_sender_writes_to_the_log_provider(
    hub: testing.Hub, govhub_home: Path
) -> None:
    """The development default: the log provider writes the text and reports delivery. The
    shared hub runs on the real clock, so during quiet hours the message waits instead."""
    response = await hub.client.post(
        "/sms/v1/messages",
        json=reminder_body(random_mobile()),
        headers=hub.auth("gz-ltax", "sms:send"),
    )
    message_id = response.json()["id"]

    async def settled() -> dict[str, Any] | None:
        current = (
            await hub.client.get(f"/sms/v1/messages/{message_id}", headers=hub.operator())
        ).json()
        return current if current["status"] in ("delivered", "deferred") else None

    message = await testing.wait_for(settled, timeout=15)
    if message["status"] == "deferred":
        assert message["reason"].startswith("quiet_hours")
        return
    assert [h["status"] for h in message["history"]] == ["queued", "sent", "delivered"]
    lines = (govhub_home / "sms" / "outbox.jsonl").read_text(encoding="utf-8").splitlines()
    written = [json.loads(line) for line in lines if message_id in line]
    assert [w["text"] for w in written] == [message["text"]]
    await hub.settle()
    async with hub.runtime.db.session() as session:
        from sqlalchemy import text

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
