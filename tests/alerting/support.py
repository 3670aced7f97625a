"""Alerting test helpers: record events as the exchange and registry publish them, a
capture of what alerting emits on the bus, and business dates per test."""

from __future__ import annotations

import itertools
import random
import uuid
from datetime import date, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa

from govhub_common.bus import Subscription
from govhub_common.clock import BUSINESS_TZ
from govhub_common.events import CloudEvent
from govhub_common.testing import Hub, published_record, records_published

_SEQ = itertools.count(random.randrange(10**9, 2 * 10**9))
# Each test gets its own business year, so cohorts and sweeps of different tests never mix.
_YEARS = itertools.count(2100 + random.randrange(0, 500) * 10)


def next_year() -> int:
    return next(_YEARS)


def next_seq() -> int:
    return next(_SEQ)


def uscc() -> str:
    return "91440101" + uuid.uuid4().hex[:10].upper()


def licence(code: str, day: date, mobile: str = "+8613800138000") -> dict[str, object]:
    return {
        "uscc": code,
        "name": "广州市天河区示范贸易有限公司",
        "legal_rep_id": "440106199001011234",
        "legal_rep_name": "张三",
        "address": "广州市天河区天河路1号",
        "district": "天河区",
        "established_date": day.isoformat(),
        "mobile": mobile,
    }


def new_id() -> str:
    """A rule id of its own for a test."""
    return f"test_{uuid.uuid4().hex[:8]}"


def record_event(topic: str, publisher: str, *records: dict[str, Any]) -> CloudEvent:
    """An exchange.record.published event as the exchange stages it (its contract)."""
    return records_published(
        topic, publisher, [published_record(data, seq=next_seq()) for data in records]
    )


def registry_change(
    registry: str, *items: dict[str, Any], time: datetime | None = None
) -> CloudEvent:
    """A registry.<registry>.changed event as docs/contracts.md describes it: each item with
    the changed attribute names and their current values."""
    key, list_name = {"legal_entity": ("uscc", "entities"), "person": ("id_number", "persons")}[
        registry
    ]
    event = CloudEvent(
        source="govhub/registry",
        type=f"registry.{registry}.changed",
        subject="test",
        data={
            list_name: [
                {
                    key: item["subject"],
                    "attributes": sorted(item["values"]),
                    "values": item["values"],
                    "source_agency": item.get("source_agency", "gz-amr"),
                    "seq": item.get("seq", next_seq()),
                }
                for item in items
            ]
        },
    )
    return event.model_copy(update={"time": time}) if time else event


def moment(day: date, hour: int = 9) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=BUSINESS_TZ)


def at(day: date, hour: int = 9) -> str:
    """A moment of a business day (Asia/Shanghai), as the API takes it."""
    return datetime.combine(day, time(hour), tzinfo=BUSINESS_TZ).isoformat()


class Capture:
    """Everything alerting emits on the bus, as a consumer group of its own."""

    def __init__(self) -> None:
        self.events: list[CloudEvent] = []

    async def handle(self, event: CloudEvent) -> None:
        self.events.append(event)

    def items(self, type_: str, key: str) -> list[dict[str, Any]]:
        return [item for e in self.events if e.type == type_ for item in e.data[key]]

    def warnings(self, type_: str, subject: str) -> list[dict[str, Any]]:
        return [w for w in self.items(type_, "warnings") if w["subject"] == subject]

    def reminders(self, subject: str) -> list[dict[str, Any]]:
        return [
            r for r in self.items("alerting.reminder.due", "reminders") if r["subject"] == subject
        ]


async def capture_on(hub: Hub) -> Capture:
    capture = Capture()
    await hub.runtime.bus.subscribe(
        Subscription(f"test.capture.{uuid.uuid4().hex[:6]}", ["alerting.#"], capture.handle)
    )
    return capture


async def evaluate(hub: Hub, moment: date | str) -> dict[str, Any]:
    as_of = at(moment) if isinstance(moment, date) else moment
    response = await hub.client.post(
        "/alerting/v1/evaluate", json={"as_of": as_of}, headers=hub.operator()
    )
    assert response.status_code == 200, response.text
    await hub.settle()
    return dict(response.json())


async def warnings_of(hub: Hub, agency: str, **params: Any) -> list[dict[str, Any]]:
    response = await hub.client.get(
        "/alerting/v1/warnings", params=params, headers=hub.auth(agency, "alerting:read")
    )
    assert response.status_code == 200, response.text
    return list(response.json()["data"])


async def scalar(hub: Hub, sql: str, **params: Any) -> Any:
    async with hub.runtime.db.session() as session:
        return (await session.execute(sa.text(sql), params)).scalar_one()


async def facts_about(hub: Hub, *subjects: str) -> int:
    """How many facts alerting keeps about these subjects (to wait for the bus)."""
    return int(
        await scalar(
            hub, "SELECT count(*) FROM alerting.facts WHERE subject = ANY(:s)", s=list(subjects)
        )
    )


def days(n: int) -> timedelta:
    return timedelta(days=n)
