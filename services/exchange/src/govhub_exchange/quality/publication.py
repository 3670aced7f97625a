"""Each month's scorecards as records of the hub-owned topic hub_scorecards (订阅后按月接收),
and the Prometheus gauges of the last month published: both from one computation, so the
topic and the metrics show what the API answered for that month when it closed."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from govhub_common.clock import business_date, start_of_business_day
from govhub_exchange.catalog.models import Topic
from govhub_exchange.hub import create_hub_topic
from govhub_exchange.identity.service import HUB_AGENCY
from govhub_exchange.metrics import (
    SCORECARD_GRADE,
    SCORECARD_MONTH,
    SCORECARD_SCORE,
    SCORECARD_TOPIC_SCORE,
)
from govhub_exchange.publishing import service as publishing
from govhub_exchange.publishing.parsing import Incoming
from govhub_exchange.quality.schemas import DIMENSIONS, Scorecard
from govhub_exchange.quality.service import Targets, month_period, scorecards

SCORECARDS_TOPIC = "hub_scorecards"

_SCORE = {"type": ["number", "null"], "minimum": 0, "maximum": 100}
SCORECARDS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "month": {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}$", "title": "月份"},
        "agency": {"type": "string", "title": "部门"},
        "topic": {"type": ["string", "null"], "title": "主题（空：部门总体）"},
        "grade": {**_SCORE, "title": "综合得分"},
        "grade_letter": {"type": ["string", "null"], "title": "等级"},
        "grade_change": {"type": ["number", "null"], "title": "环比变化"},
        **{
            name: {**_SCORE, "title": title}
            for name, title in (
                ("timeliness", "及时性"),
                ("validity", "有效性"),
                ("uniqueness", "唯一性与稳定性"),
                ("consistency", "一致性"),
                ("completeness", "完整性"),
                ("responsiveness", "响应性"),
            )
        },
        "scorecard": {"type": "object", "title": "评分卡明细（docs/quality.md）"},
    },
    "required": ["month", "agency", "topic", "grade", "scorecard"],
}

# One replica closes months at a time.
_CLOSE_LOCK = "SELECT pg_advisory_xact_lock(hashtext('exchange.scorecards.close'))"


async def ensure_scorecards_topic(session: AsyncSession) -> None:
    exists = (
        await session.execute(sa.select(col(Topic.code)).where(col(Topic.code) == SCORECARDS_TOPIC))
    ).first()
    if exists is None:
        await create_hub_topic(
            session,
            code=SCORECARDS_TOPIC,
            title="数据质量评分卡",
            description="数据中心每月发布的各部门、各主题数据质量评分卡",
            schema=SCORECARDS_SCHEMA,
        )


def scorecard_record(index: int, card: Scorecard) -> Incoming:
    month = card.period.month or card.period.from_date.strftime("%Y-%m")
    record_id = f"{month}/{card.agency}" + (f"/{card.topic}" if card.topic else "")
    body = card.model_dump(mode="json", by_alias=True)
    data: dict[str, Any] = {
        "month": month,
        "agency": card.agency,
        "topic": card.topic,
        "grade": card.grade.score,
        "grade_letter": card.grade.letter,
        "grade_change": card.grade.change,
        **{d: body[d]["score"] if body[d] else None for d in DIMENSIONS},
        "scorecard": body,
    }
    business_time = start_of_business_day(card.period.from_date).isoformat()
    return Incoming(
        index=index,
        line=None,
        raw={"record_id": record_id, "data": data, "business_time": business_time},
    )


async def month_scorecards(
    session: AsyncSession, *, month: date, now: datetime, targets: Targets
) -> list[Scorecard]:
    """A month's agency scorecards and topic scorecards."""
    start, end = month_period(month)
    label = month.strftime("%Y-%m")
    common: dict[str, Any] = {
        "start": start,
        "end": end,
        "month": label,
        "agency": None,
        "topic": None,
        "now": now,
        "targets": targets,
    }
    return [
        *await scorecards(session, by_topic=False, **common),
        *await scorecards(session, by_topic=True, **common),
    ]


async def close_months(
    session: AsyncSession, *, now: datetime, targets: Targets
) -> tuple[list[str], int]:
    """Publish the scorecards of every month ended by `now` that has figures and is not
    published yet; returns the months and the records published."""
    await session.execute(sa.text(_CLOSE_LOCK))
    first_day = (
        await session.execute(sa.text("SELECT min(day) FROM exchange.quality_days"))
    ).scalar_one()
    if first_day is None:
        return [], 0
    this_month = business_date(now).replace(day=1)
    done = set(
        (await session.execute(sa.text("SELECT month FROM exchange.scorecard_months"))).scalars()
    )
    months: list[str] = []
    published = 0
    month = first_day.replace(day=1)
    while month < this_month:
        if month not in done:
            cards = await month_scorecards(session, month=month, now=now, targets=targets)
            items = [scorecard_record(i, card) for i, card in enumerate(cards)]
            result = await publishing.publish_in(
                session,
                publisher=HUB_AGENCY,
                topic_code=SCORECARDS_TOPIC,
                items=items,
                arrived_at=now,
            )
            if result["counts"]["rejected"]:
                raise RuntimeError(f"hub_scorecards refused records: {result['rejected'][:1]}")
            seqs = [r["seq"] for r in result["accepted"]] + [r["seq"] for r in result["duplicates"]]
            await session.execute(
                sa.text(
                    "INSERT INTO exchange.scorecard_months (month, published_at, scorecards, "
                    "first_seq, last_seq) VALUES (:m, :at, :n, :first, :last)"
                ),
                {
                    "m": month,
                    "at": now,
                    "n": len(items),
                    "first": min(seqs, default=None),
                    "last": max(seqs, default=None),
                },
            )
            months.append(month.strftime("%Y-%m"))
            published += len(items)
        month = (month + timedelta(days=32)).replace(day=1)
    return months, published


async def refresh_scorecard_gauges(session: AsyncSession) -> None:
    """The gauges of the last month published, read from its hub_scorecards records (by
    their place in the log: a few hundred rows, however long the topic grows)."""
    last = (
        await session.execute(
            sa.text(
                "SELECT month, first_seq, last_seq FROM exchange.scorecard_months "
                "ORDER BY month DESC LIMIT 1"
            )
        )
    ).first()
    if last is None:
        return
    month = last.month
    rows = await session.execute(
        sa.text(
            "SELECT data::text AS data FROM exchange.log_range(:t, :first, :last + 1) "
            "WHERE data->>'month' = :m"
        ),
        {
            "t": SCORECARDS_TOPIC,
            "first": last.first_seq or 0,
            "last": last.last_seq or -1,
            "m": month.strftime("%Y-%m"),
        },
    )
    SCORECARD_MONTH.set(start_of_business_day(month).timestamp())
    for gauge in (SCORECARD_GRADE, SCORECARD_SCORE, SCORECARD_TOPIC_SCORE):
        gauge.clear()
    for row in rows:
        data = orjson.loads(row.data)
        if data["topic"] is None:
            if data["grade"] is not None:
                SCORECARD_GRADE.labels(data["agency"]).set(data["grade"])
            for d in DIMENSIONS:
                if data.get(d) is not None:
                    SCORECARD_SCORE.labels(data["agency"], d).set(data[d])
        else:
            for d in DIMENSIONS:
                if data.get(d) is not None:
                    SCORECARD_TOPIC_SCORE.labels(data["agency"], data["topic"], d).set(data[d])
