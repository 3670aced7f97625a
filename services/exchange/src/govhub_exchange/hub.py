"""What the hub itself sets up and feeds: the operator client and the hub_warnings topic."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from govhub_common.security import Principal
from govhub_exchange.catalog import service as catalog
from govhub_exchange.catalog.schemas import TopicCreate
from govhub_exchange.identity.service import HUB_AGENCY
from govhub_exchange.publishing import service as publishing
from govhub_exchange.publishing.parsing import Incoming

WARNINGS_TOPIC = "hub_warnings"

WARNINGS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "warning_id": {"type": "string", "title": "预警编号", "x-sensitivity": "internal"},
        "rule_id": {"type": "string", "title": "预警规则", "x-sensitivity": "internal"},
        "title": {"type": "string", "title": "预警标题", "x-sensitivity": "internal"},
        "subject": {"type": "string", "title": "预警对象", "x-sensitivity": "sensitive"},
        "assigned_agency": {"type": "string", "title": "责任部门", "x-sensitivity": "internal"},
        "status": {"type": "string", "title": "处理状态", "x-sensitivity": "internal"},
        "raised_at": {
            "type": "string",
            "format": "date-time",
            "title": "预警时间",
            "x-sensitivity": "internal",
        },
        "due_date": {
            "type": ["string", "null"],
            "format": "date",
            "title": "办理期限",
            "x-sensitivity": "internal",
        },
    },
    "required": [
        "warning_id",
        "rule_id",
        "title",
        "subject",
        "assigned_agency",
        "status",
        "raised_at",
    ],
}


async def ensure_warnings_topic(session: AsyncSession) -> None:
    exists = (
        await session.execute(
            sa.text("SELECT 1 FROM exchange.topics WHERE code = :c"), {"c": WARNINGS_TOPIC}
        )
    ).first()
    if exists:
        return
    await catalog.create_topic(
        session,
        who=Principal(HUB_AGENCY, frozenset({"operator"})),
        body=TopicCreate.model_validate(
            {
                "code": WARNINGS_TOPIC,
                "title": "预警信息",
                "description": "数据中心发出的预警，各部门按订阅接收",
                "sharing_type": "conditional",
                "schema": WARNINGS_SCHEMA,
            }
        ),
    )


def warning_record(index: int, warning: dict[str, Any]) -> Incoming:
    data = {
        "warning_id": str(warning.get("id")),
        "rule_id": str(warning.get("rule_id")),
        "title": warning.get("title"),
        "subject": warning.get("subject"),
        "assigned_agency": warning.get("assigned_agency"),
        "status": warning.get("status"),
        "raised_at": warning.get("raised_at"),
        "due_date": warning.get("due_date"),
    }
    return Incoming(
        index=index,
        line=None,
        raw={
            "record_id": str(warning.get("id")),
            "data": data,
            "business_time": warning.get("raised_at"),
        },
    )


async def append_warnings(session: AsyncSession, warnings: list[dict[str, Any]]) -> dict[str, Any]:
    """Each warning becomes a record of hub_warnings (a status change: a new version).
    A malformed warning is quarantined rather than retried forever."""
    items = [warning_record(i, w) for i, w in enumerate(warnings) if isinstance(w, dict)]
    return await publishing.publish_in(
        session, publisher=HUB_AGENCY, topic_code=WARNINGS_TOPIC, items=items
    )
