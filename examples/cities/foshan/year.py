"""佛山市's year 2024, generated: every record its agencies publish, each on its business day,
and the answers a correct hub must give (README.md lists them).

Deterministic (a fixed seed and fixed outcome patterns, so every kind of answer occurs) and
small (about 500 records), so that a replay through the HTTP APIs runs in about a minute.
No record falls on a rule's boundary day (the reminder day, a deadline): the answers do not
hinge on whether a deadline counts its last day.
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from itertools import cycle
from typing import Any

from govhub_demo.identifiers import mobile, resident_id, unified_social_credit_code

YEAR = 2024
START = date(YEAR, 1, 1)
END = date(YEAR, 12, 31)
SEED = 20240101

# The rules' periods (rules.yaml).
FIRE_REMINDER_DAYS = 10
FIRE_DEADLINE_DAYS = 15
FOOD_DEADLINE_DAYS = 20

# 佛山市各区 with their administrative division codes.
DISTRICTS = {"440604": "禅城区", "440605": "南海区", "440606": "顺德区", "440607": "三水区"}
CATEGORIES = ("餐饮", "零售", "美容")
SHOP_NAMES = ("陈记", "顺德", "岭南", "祖庙", "南风", "石湾", "西樵", "乐从", "大良", "九江")
SHOP_KINDS = {"餐饮": "鱼生馆", "零售": "便利店", "美容": "美发工作室"}
ELDERS = (
    "何伯",
    "梁婆",
    "陈伯",
    "黄婆",
    "李伯",
    "区婆",
    "冯伯",
    "关婆",
    "潘伯",
    "邓婆",
    "麦伯",
    "谭婆",
)

SHOPS = 40
SUBSIDISED = 12
ELDERS_PAID_BY_CITY = 10


@dataclass(frozen=True)
class Record:
    day: date  # its business day (the business_time it is published with)
    topic: str
    record_id: str
    data: dict[str, Any]
    sent_on: date | None = None  # published on a later day (a retry); else on its day

    @property
    def published_on(self) -> date:
        return self.sent_on or self.day


@dataclass
class Answers:
    """What the hub must report after the year, exactly."""

    # rule id -> the subjects of its warnings (one warning each)
    warnings: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    # rule id -> the subjects whose warning was resolved as complied_late
    complied_late: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    # shops (uscc) sent the fire-inspection reminder, and the deadline each was told
    reminders: dict[str, date] = field(default_factory=dict)
    rejected: set[str] = field(default_factory=set)  # record ids the exchange refuses
    duplicates: set[str] = field(default_factory=set)  # record ids sent a second time
    accepted: int = 0  # records stored once each


@dataclass
class Year:
    records: list[Record] = field(default_factory=list)
    answers: Answers = field(default_factory=Answers)

    def by_day(self) -> dict[date, list[Record]]:
        days: dict[date, list[Record]] = defaultdict(list)
        for record in self.records:
            days[record.published_on].append(record)
        return dict(sorted(days.items()))

    def add(self, day: date, topic: str, record_id: str, data: dict[str, Any]) -> None:
        assert START <= day <= END, (record_id, day)
        self.records.append(Record(day, topic, record_id, data))


def generate(seed: int = SEED) -> Year:
    rng = random.Random(seed)
    year = Year()
    _shops(year, rng)
    _subsidies(year, rng)
    _allowances(year, rng)
    _invalid_and_resent(year, rng)
    return year


def _shops(year: Year, rng: random.Random) -> None:
    answers = year.answers
    # Days after opening the fire inspection comes: on time before the reminder, after the
    # reminder but in time, after the deadline (complied late), never.
    fire_outcomes = cycle(["early", "early", "after_reminder", "late", "early", "late", "never"])
    food_outcomes = cycle(["on_time", "late", "on_time", "never"])
    for n in range(SHOPS):
        region = rng.choice(list(DISTRICTS))
        uscc = unified_social_credit_code(rng, region)
        category = CATEGORIES[n % len(CATEGORIES)]
        # Open by the end of October: every deadline and late compliance falls in the year.
        opened = START + timedelta(days=7 + rng.randrange(300))
        name = f"佛山市{DISTRICTS[region]}{rng.choice(SHOP_NAMES)}{SHOP_KINDS[category]}"
        year.add(
            opened,
            "shop_opened",
            f"SO-{uscc}",
            {
                "uscc": uscc,
                "shop_name": name,
                "category": category,
                "district": DISTRICTS[region],
                "opened_date": opened.isoformat(),
                "mobile": mobile(rng),
            },
        )
        outcome = next(fire_outcomes)
        delay = {
            "early": rng.randrange(1, FIRE_REMINDER_DAYS),
            "after_reminder": rng.randrange(FIRE_REMINDER_DAYS + 1, FIRE_DEADLINE_DAYS),
            "late": rng.randrange(FIRE_DEADLINE_DAYS + 3, 45),
            "never": None,
        }[outcome]
        if delay is None or delay > FIRE_REMINDER_DAYS:
            answers.reminders[uscc] = opened + timedelta(days=FIRE_DEADLINE_DAYS)
        if delay is None or delay > FIRE_DEADLINE_DAYS:
            answers.warnings["fire_inspection_missing"].add(uscc)
            if delay is not None:
                answers.complied_late["fire_inspection_missing"].add(uscc)
        if delay is not None:
            inspected = opened + timedelta(days=delay)
            year.add(
                inspected,
                "fire_inspection_passed",
                f"FI-{uscc}",
                {"uscc": uscc, "inspected_date": inspected.isoformat(), "inspector": "防火监督员"},
            )
        if category != "餐饮":
            continue
        food = next(food_outcomes)
        permit_delay = {
            "on_time": rng.randrange(1, FOOD_DEADLINE_DAYS),
            "late": rng.randrange(FOOD_DEADLINE_DAYS + 3, 50),
            "never": None,
        }[food]
        if permit_delay is None or permit_delay > FOOD_DEADLINE_DAYS:
            answers.warnings["food_permit_missing"].add(uscc)
            if permit_delay is not None:
                answers.complied_late["food_permit_missing"].add(uscc)
        if permit_delay is not None:
            issued = opened + timedelta(days=permit_delay)
            year.add(
                issued,
                "food_permit_issued",
                f"FP-{uscc}",
                {"uscc": uscc, "permit_no": f"JY{uscc[2:16]}", "issued_date": issued.isoformat()},
            )


PAYDAYS = [date(YEAR, 3, 15), date(YEAR, 6, 15), date(YEAR, 9, 15), date(YEAR, 12, 15)]


def _subsidies(year: Year, rng: random.Random) -> None:
    """Quarterly job subsidies to established enterprises; some close in the summer. Most
    payments stop at the closure; for some, one more payment goes out (the rule's find)."""
    for n in range(SUBSIDISED):
        uscc = unified_social_credit_code(rng, rng.choice(list(DISTRICTS)))
        closes = n % 4  # 0 stays open, 1 closes honestly, 2 and 3 are paid once more
        closed = date(YEAR, 7, 1) + timedelta(days=rng.randrange(60)) if closes else None
        if closed is not None:
            year.add(
                closed,
                "shop_closed",
                f"SC-{uscc}",
                {"uscc": uscc, "closed_date": closed.isoformat(), "reason": "决议解散"},
            )
        for quarter, payday in enumerate(PAYDAYS, start=1):
            after_closure = closed is not None and payday > closed
            if after_closure and (closes == 1 or quarter == 4):
                continue
            if after_closure:
                year.answers.warnings["subsidy_after_closure"].add(uscc)
            year.add(
                payday,
                "job_subsidy_paid",
                f"JS-{uscc}-Q{quarter}",
                {
                    "uscc": uscc,
                    "amount": rng.choice([3000, 5000, 8000]),
                    "paid_date": payday.isoformat(),
                    "quarter": f"{YEAR}Q{quarter}",
                },
            )


def _allowances(year: Year, rng: random.Random) -> None:
    """高龄津贴: the city pays its elders on the 5th of each month; the street office pays
    two elders of its own, and four of the city's once more for one month (the rule's find)."""
    elders = []
    for n, name in enumerate(ELDERS):
        born = date(rng.randrange(1930, 1944), rng.randrange(1, 13), rng.randrange(1, 29))
        elders.append((resident_id(rng, "440604", born, n % 2 == 1), name))
    city_paid, street_only = elders[:ELDERS_PAID_BY_CITY], elders[ELDERS_PAID_BY_CITY:]
    for id_number, name in city_paid:
        for month in range(1, 13):
            paid = date(YEAR, month, 5)
            year.add(
                paid,
                "elderly_allowance_civil",
                f"EC-{id_number}-{month:02d}",
                _allowance(id_number, name, paid),
            )
    twice = rng.sample(city_paid, 4)
    for id_number, name in twice:
        paid = date(YEAR, rng.randrange(2, 12), 20)
        year.add(
            paid,
            "elderly_allowance_street",
            f"ES-{id_number}-{paid.month:02d}",
            _allowance(id_number, name, paid),
        )
        year.answers.warnings["elderly_allowance_twice"].add(f"{id_number}/{paid:%Y-%m}")
    for id_number, name in street_only:
        for month in (4, 5, 6):
            paid = date(YEAR, month, 20)
            year.add(
                paid,
                "elderly_allowance_street",
                f"ES-{id_number}-{month:02d}",
                _allowance(id_number, name, paid),
            )


def _allowance(id_number: str, name: str, paid: date) -> dict[str, Any]:
    return {
        "id_number": id_number,
        "name": name,
        "amount": 200,
        "paid_date": paid.isoformat(),
        "period": f"{paid:%Y-%m}",
    }


def _invalid_and_resent(year: Year, rng: random.Random) -> None:
    """Records the exchange must refuse (each against the topic's schema), and records an
    agency's system sends twice (a retry after a timeout): stored once, counted duplicate."""
    valid = list(year.records)
    good = next(r for r in valid if r.topic == "shop_opened")
    day = good.day
    bad_check_digit = good.data["uscc"][:-1] + ("0" if good.data["uscc"][-1] != "0" else "1")
    invalid = [
        ("SO-BAD-USCC", {**good.data, "uscc": bad_check_digit}),
        ("SO-BAD-MOBILE", {**good.data, "mobile": "12345"}),
        ("SO-NO-DATE", {k: v for k, v in good.data.items() if k != "opened_date"}),
        ("SO-EXTRA-FIELD", {**good.data, "owner_id": "440604193001011234"}),
    ]
    for record_id, data in invalid:
        year.add(day, "shop_opened", record_id, data)
        year.answers.rejected.add(record_id)
    resent = rng.sample([r for r in valid if r.topic == "job_subsidy_paid"], 3)
    resent += rng.sample([r for r in valid if r.topic == "elderly_allowance_civil"], 2)
    for record in resent:
        # The same record id, data and business time, sent again the next day.
        year.records.append(replace(record, sent_on=record.day + timedelta(days=1)))
        year.answers.duplicates.add(record.record_id)
    year.answers.accepted = len(valid)
