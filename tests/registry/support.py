"""Building exchange events and valid identifiers for the registry tests."""

from __future__ import annotations

import itertools
import random
import uuid
from datetime import date
from typing import Any

from stdnum.cn import ric, uscc

from govhub_common.bus import Subscription
from govhub_common.events import CloudEvent
from govhub_common.testing import Hub, published_record, records_published

_seq = itertools.count(int(random.random() * 1e9))
_serial = itertools.count(random.randrange(100, 900))


def next_seq() -> int:
    return next(_seq)


def make_ric(birth: date = date(1950, 3, 7), region: str = "440106", sex: str = "male") -> str:
    serial = next(_serial) % 100
    gender_digit = random.choice("13579" if sex == "male" else "02468")
    body = f"{region}{birth:%Y%m%d}{serial:02d}{gender_digit}"
    return body + ric.calc_check_digit(body + "0")  # stdnum skips the last character


def twin_ric(id_number: str) -> str:
    """Another valid ID of the same region, birth date and sex, one digit away from the given
    one: two such people with one name are what only an operator can tell apart."""
    digit = int(id_number[16])
    body = id_number[:16] + str((digit + 2) % 10)
    return body + ric.calc_check_digit(body + "0")


def make_uscc() -> str:
    alphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"
    body = "91440101" + "".join(random.choice(alphabet) for _ in range(9))
    return body + uscc.calc_check_digit(body)


def break_check(identifier: str) -> str:
    """The same identifier with a wrong check character."""
    last = identifier[-1]
    return identifier[:-1] + ("0" if last != "0" else "1")


def record(
    data: dict[str, Any], *, seq: int | None = None, when: str = "2024-03-01T10:00:00+08:00"
) -> dict[str, Any]:
    return published_record(
        data,
        seq=seq if seq is not None else next_seq(),
        record_id=f"r-{next_seq()}",
        business_time=when,
        published_at=when,
    )


def published(topic: str, publisher: str, records: list[dict[str, Any]]) -> CloudEvent:
    """As the exchange stages it (its contract)."""
    event: CloudEvent = records_published(topic, publisher, records)
    return event


async def publish(hub: Hub, event: CloudEvent) -> None:
    """With the in-process bus, this returns once the registry has handled the event."""
    await hub.runtime.bus.publish([event])


class Collector:
    """A test consumer group collecting the registry's events."""

    def __init__(self) -> None:
        self.events: list[CloudEvent] = []

    async def handle(self, event: CloudEvent) -> None:
        self.events.append(event)

    def items(self, event_type: str, key: str) -> list[dict[str, Any]]:
        return [i for e in self.events if e.type == event_type for i in e.data[key]]


async def collect(hub: Hub, group: str, *patterns: str) -> Collector:
    collector = Collector()
    await hub.runtime.bus.subscribe(Subscription(group, patterns, collector.handle))
    return collector


def enterprise(uscc: str, **overrides: object) -> dict[str, object]:
    data: dict[str, object] = {
        "uscc": uscc,
        "name": "广州市海创信息有限公司",
        "legal_rep_id": make_ric(date(1970, 5, 1)),
        "legal_rep_name": "李明",
        "address": "广州市天河区体育西路1号",
        "district": "天河区",
        "industry": "I6510",
        "registered_capital": 1000000,
        "established_date": "2024-03-01",
        "mobile": "13800138000",
    }
    data.update(overrides)
    return data


def person(id_number: str, name: str = "张三", **overrides: object) -> dict[str, object]:
    birth = f"{id_number[6:10]}-{id_number[10:12]}-{id_number[12:14]}"
    data: dict[str, object] = {
        "id_number": id_number,
        "name": name,
        "sex": "男" if int(id_number[16]) % 2 else "女",
        "birth_date": birth,
        "household_id": f"H{uuid.uuid4().hex[:8]}",
        "address": "广州市越秀区中山五路2号",
        "district": "越秀区",
        "mobile": "13900139000",
    }
    data.update(overrides)
    return data
