"""Helpers of the SMS tests (a module of its own name, so no other suite's conftest shadows it)."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from govhub_common import testing
from govhub_common.clock import BUSINESS_TZ
from tests.sms.providers.smsc_process import SmscProcess

# The pinned "now" of sms_hub: a Monday morning in Guangzhou.
PINNED_NOW = datetime(2030, 6, 3, 10, 0, tzinfo=BUSINESS_TZ)


def random_mobile() -> str:
    return f"+86139{random.randrange(10**8):08d}"


def at(day: int, hour: int = 10, minute: int = 0) -> datetime:
    """A business time in July 2030; each test uses its own day, so caps never overlap."""
    return datetime(2030, 7, day, hour, minute, tzinfo=BUSINESS_TZ)


@dataclass
class SmsHub:
    hub: testing.Hub
    smsc: SmscProcess
    fallback_outbox: Path

    async def post(self, path: str, body: Any, headers: dict[str, str] | None = None) -> Any:
        return await self.hub.client.post(
            f"/sms{path}", json=body, headers=headers or self.hub.operator()
        )

    async def get(self, path: str, **params: Any) -> Any:
        return await self.hub.client.get(f"/sms{path}", params=params, headers=self.hub.operator())

    async def dispatch(self, as_of: datetime) -> dict[str, Any]:
        response = await self.post("/v1/dispatch", {"as_of": as_of.isoformat()})
        assert response.status_code == 200, response.text
        return dict(response.json())

    async def message(self, message_id: str) -> dict[str, Any]:
        response = await self.get(f"/v1/messages/{message_id}")
        assert response.status_code == 200, response.text
        return dict(response.json())

    async def wait_status(
        self, message_id: str, *statuses: str, timeout: float = 15
    ) -> dict[str, Any]:
        async def done() -> dict[str, Any] | None:
            message = await self.message(message_id)
            return message if message["status"] in statuses else None

        result: dict[str, Any] = await testing.wait_for(done, timeout=timeout, interval=0.05)
        return result


SIGNATURE = "【广州市政务服务数据管理局】"
PARAMS = {"name": "广州市某某科技有限公司", "deadline": "2030年7月20日"}


def reminder_body(recipient: str, **overrides: Any) -> dict[str, Any]:
    return {
        "recipient": recipient,
        "template": "tax_registration_reminder",
        "params": PARAMS,
        **overrides,
    }
