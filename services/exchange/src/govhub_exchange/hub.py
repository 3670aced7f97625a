"""What the hub itself sets up and feeds: the hub_warnings topic, and how the hub creates a
topic of its own."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from govhub_common.event_contracts.alerting import HubWarning
from govhub_common.security import Principal
from govhub_exchange.catalog import service as catalog
from govhub_exchange.catalog.models import Topic
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

# The optional items each later version of hub_warnings adds, in order (a version only adds
# optional items, so subscribers of earlier items keep receiving them unchanged).
WARNINGS_VERSIONS: list[dict[str, Any]] = [
    {  # 2: how a warning was closed, so an agency tells complied-late from false-positive
        "resolution": {
            "type": ["string", "null"],
            "title": "处理结果",
            "description": "complied_late, exempt, false_positive, penalised or other",
            "x-sensitivity": "internal",
        },
        "resolved_at": {
            "type": ["string", "null"],
            "format": "date-time",
            "title": "办结时间",
            "x-sensitivity": "internal",
        },
    },
]

HUB = Principal(HUB_AGENCY, frozenset({"operator"}))


async def create_hub_topic(
    session: AsyncSession, *, code: str, title: str, description: str, schema: dict[str, Any]
) -> None:
    """One of the hub's own topics (conditional: its owner, the hub, grants them)."""
    await catalog.create_topic(
        session,
        who=HUB,
        body=TopicCreate.model_validate(
            {
                "code": code,
                "title": title,
                "description": description,
                "sharing_type": "conditional",
                "schema": schema,
            }
        ),
    )


async def ensure_warnings_topic(session: AsyncSession) -> None:
    """Create hub_warnings on a new hub, and add each version it lacks on an older one."""
    row = (
        await session.execute(
            sa.select(col(Topic.current_version))
            .where(col(Topic.code) == WARNINGS_TOPIC)
            .with_for_update()
        )
    ).first()
    if row is None:
        await create_hub_topic(
            session,
            code=WARNINGS_TOPIC,
            title="预警信息",
            description="数据中心发出的预警，各部门按订阅接收",
            schema=WARNINGS_SCHEMA,
        )
        current_version = 1
    else:
        current_version = row.current_version
    schema = await catalog.topic_schema(session, code=WARNINGS_TOPIC, version=current_version)
    for added in WARNINGS_VERSIONS:
        # Judged by the items, not the version number: an operator may have added a version.
        missing = {name: item for name, item in added.items() if name not in schema["properties"]}
        if missing:
            schema = {**schema, "properties": {**schema["properties"], **missing}}
            await catalog.add_version(session, who=HUB, code=WARNINGS_TOPIC, schema=schema)


# The items of a hub_warnings record a warning event's warning gives (besides its id).
_WARNING_ITEMS = (
    "rule_id",
    "title",
    "subject",
    "assigned_agency",
    "status",
    "raised_at",
    "due_date",
    "resolution",
    "resolved_at",
)


def warning_record(index: int, warning: HubWarning) -> Incoming:
    w = warning.model_dump(mode="json", include=set(_WARNING_ITEMS))
    data = {"warning_id": str(warning.id), **w}
    return Incoming(
        index=index,
        line=None,
        raw={"record_id": str(warning.id), "data": data, "business_time": w["raised_at"]},
    )


async def append_warnings(session: AsyncSession, warnings: list[HubWarning]) -> dict[str, Any]:
    """Each warning becomes a record of hub_warnings (a status change: a new version); one
    the topic's schema refuses is quarantined rather than retried forever."""
    items = [warning_record(i, w) for i, w in enumerate(warnings)]
    return await publishing.publish_in(
        session, publisher=HUB_AGENCY, topic_code=WARNINGS_TOPIC, items=items
    )
