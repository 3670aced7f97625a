"""The simulated city: who registers, pays, dies and receives relief on which day.

Deterministic for a seed. Besides the records to publish, it keeps the ground truth
(which enterprises should be reminded and warned, which pensions were paid after death,
which households were given the same relief twice), so the report can measure each rule's
precision and recall against it.
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from faker import Faker

from govhub_demo.identifiers import DISTRICTS, mobile, resident_id, unified_social_credit_code

# Figures of the founding document (Guangzhou, 2008).
FULL_SCALE_ENTERPRISES = 34_000
FULL_SCALE_PENSIONERS = 6_000
FULL_SCALE_HOUSEHOLDS = 3_000

# Days after the licence: the reminder (day 20) and the deadline (day 30).
REMINDER_DAYS = 20
DEADLINE_DAYS = 30
RELIEF_WINDOW_DAYS = 90

INDUSTRIES = ["C39", "F51", "F52", "I65", "L72", "M73", "E47", "H62", "K70", "O80"]
RELIEF_ITEMS = ["棉被", "大米", "食用油", "慰问金", "冬衣"]


@dataclass(frozen=True)
class Record:
    topic: str
    record_id: str
    data: dict[str, Any]


@dataclass
class GroundTruth:
    """What a perfect hub would report for the simulated period."""

    enterprises: int = 0
    tax_registered_by_end: int = 0
    reminders: set[str] = field(default_factory=set)
    warnings: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    complied_late: set[str] = field(default_factory=set)


@dataclass
class City:
    start: date
    days: int
    published: dict[int, list[Record]] = field(default_factory=lambda: defaultdict(list))
    truth: GroundTruth = field(default_factory=GroundTruth)

    @property
    def end(self) -> date:
        return self.start + timedelta(days=self.days - 1)

    def day_of(self, when: date) -> int:
        return (when - self.start).days

    def publish(self, when: date, topic: str, record_id: str, data: dict[str, Any]) -> None:
        """Publish on the business date itself, or later (a late report)."""
        day = self.day_of(when)
        if 0 <= day < self.days:
            self.published[day].append(Record(topic, record_id, data))

    def records(self) -> int:
        return sum(len(v) for v in self.published.values())


class Names:
    """Pools drawn once from Faker's zh_CN locale: drawing per record is far too slow."""

    def __init__(self, seed: int, size: int = 4000) -> None:
        fake = Faker("zh_CN")
        fake.seed_instance(seed)
        self.companies = [fake.company() for _ in range(size)]
        self.men = [fake.name_male() for _ in range(size)]
        self.women = [fake.name_female() for _ in range(size)]
        self.streets = [fake.street_name() for _ in range(size // 4)]

    def company(self, rng: random.Random) -> str:
        # Prefix a trade name fragment so 34,000 enterprises do not share 4,000 names.
        return rng.choice("广穗羊城珠江白云越秀天河番禺花城南粤岭南") + rng.choice(self.companies)

    def person(self, rng: random.Random, female: bool) -> str:
        return rng.choice(self.women if female else self.men)

    def street(self, rng: random.Random) -> str:
        return rng.choice(self.streets)


def simulate(*, seed: int, scale: float, days: int, start: date = date(2008, 1, 1)) -> City:
    rng = random.Random(seed)
    fake = Names(seed)
    city = City(start=start, days=days)
    _enterprises(city, rng, fake, round(FULL_SCALE_ENTERPRISES * scale * days / 365))
    _pensioners(city, rng, fake, max(1, round(FULL_SCALE_PENSIONERS * scale)))
    _households(city, rng, fake, max(1, round(FULL_SCALE_HOUSEHOLDS * scale)))
    return city


def _iso(day: date) -> str:
    return day.isoformat()


def _enterprises(city: City, rng: random.Random, fake: Names, count: int) -> None:
    truth = city.truth
    truth.enterprises = count
    last = city.end
    for _ in range(count):
        region = rng.choice(list(DISTRICTS))
        code = unified_social_credit_code(rng, region)
        licensed = city.start + timedelta(days=rng.randrange(city.days))
        rep_birth = date(rng.randrange(1955, 1998), rng.randrange(1, 13), rng.randrange(1, 29))
        female = rng.random() < 0.4
        city.publish(
            licensed,
            "enterprise_registered",
            f"ER-{code}",
            {
                "uscc": code,
                "name": fake.company(rng),
                "legal_rep_id": resident_id(rng, rng.choice(list(DISTRICTS)), rep_birth, female),
                "legal_rep_name": fake.person(rng, female),
                "address": f"广州市{DISTRICTS[region]}{fake.street(rng)}{rng.randrange(1, 999)}号",
                "district": DISTRICTS[region],
                "industry": rng.choice(INDUSTRIES),
                "registered_capital": rng.choice([10, 30, 50, 100, 200, 500, 1000]) * 10_000,
                "established_date": _iso(licensed),
                "mobile": mobile(rng),
            },
        )
        # How long until tax registration: most on time, some after the day-20
        # reminder, some only after the day-30 warning, a few never. Days 20 and 30
        # themselves are avoided so the truth does not hinge on a boundary convention.
        roll = rng.random()
        if roll < 0.50:
            delay: int | None = rng.randrange(1, REMINDER_DAYS)
        elif roll < 0.60:
            delay = rng.randrange(REMINDER_DAYS + 1, DEADLINE_DAYS)
        elif roll < 0.96:
            delay = rng.randrange(DEADLINE_DAYS + 5, 75)
        else:
            delay = None
        reminder_day = licensed + timedelta(days=REMINDER_DAYS)
        deadline = licensed + timedelta(days=DEADLINE_DAYS)
        registered = licensed + timedelta(days=delay) if delay is not None else None
        if reminder_day <= last and (registered is None or registered > reminder_day):
            truth.reminders.add(code)
        if deadline < last and (registered is None or registered > deadline):
            truth.warnings["tax_registration_missing"].add(code)
            if registered is not None and registered <= last:
                truth.complied_late.add(code)
        if registered is not None:
            if registered <= last:
                truth.tax_registered_by_end += 1
            offices = rng.choice([("local",), ("national",), ("local", "national")])
            for office in offices:
                city.publish(
                    registered,
                    f"{office}_tax_registered",
                    f"TR-{office}-{code}",
                    {"uscc": code, "tax_no": code[2:], "registered_date": _iso(registered)},
                )
            city.publish(
                licensed + timedelta(days=rng.randrange(1, 15)),
                "quality_code_assigned",
                f"QC-{code}",
                {"uscc": code, "org_code": code[8:17], "assigned_date": _iso(licensed)},
            )
        # A few close down again; some of those never tell the tax offices.
        if registered is not None and rng.random() < 0.04:
            closed = registered + timedelta(days=rng.randrange(20, 200))
            city.publish(
                closed,
                "enterprise_deregistered",
                f"ED-{code}",
                {"uscc": code, "deregistered_date": _iso(closed), "reason": "决议解散"},
            )
            if rng.random() < 0.7:
                tax_closed = closed + timedelta(days=rng.randrange(1, DEADLINE_DAYS - 2))
                for office in ("local", "national"):
                    city.publish(
                        tax_closed,
                        f"{office}_tax_deregistered",
                        f"TD-{office}-{code}",
                        {"uscc": code, "deregistered_date": _iso(tax_closed)},
                    )
            elif closed + timedelta(days=DEADLINE_DAYS) < last:
                truth.warnings["tax_deregistration_missing"].add(code)


def _person(rng: random.Random, fake: Names, birth_from: int, birth_to: int) -> dict[str, Any]:
    region = rng.choice(list(DISTRICTS))
    female = rng.random() < 0.5
    birth = date(rng.randrange(birth_from, birth_to), rng.randrange(1, 13), rng.randrange(1, 29))
    return {
        "id_number": resident_id(rng, region, birth, female),
        "name": fake.person(rng, female),
        "sex": "F" if female else "M",
        "birth_date": _iso(birth),
        "household_id": f"HH{region}{rng.randrange(10**8):08d}",
        "address": f"广州市{DISTRICTS[region]}{fake.street(rng)}{rng.randrange(1, 999)}号",
        "district": DISTRICTS[region],
        "mobile": mobile(rng),
    }


def _pensioners(city: City, rng: random.Random, fake: Names, count: int) -> None:
    """Monthly pensions on the 15th; some pensioners die, and for some of those the
    pension keeps being paid (骗保). Deaths are reported up to ten days late."""
    for _ in range(count):
        person = _person(rng, fake, 1925, 1955)
        city.publish(city.start, "person_registered", f"PR-{person['id_number']}", person)
        died: date | None = None
        death_known = False
        if rng.random() < 0.06:
            died = city.start + timedelta(days=rng.randrange(city.days))
            if died.day == 15:
                died += timedelta(days=1)
            topic, agency_prefix = rng.choice([("person_died", "PD"), ("death_certified", "DC")])
            reported = died + timedelta(days=rng.randrange(0, 11))
            death_known = reported <= city.end
            city.publish(
                reported,
                topic,
                f"{agency_prefix}-{person['id_number']}",
                {
                    "id_number": person["id_number"],
                    "name": person["name"],
                    "death_date": _iso(died),
                },
            )
        keeps_paying = died is not None and rng.random() < 0.3
        paid_after_death = False
        month = date(city.start.year, city.start.month, 15)
        while month <= city.end:
            if died is None or month < died or keeps_paying:
                paid_after_death |= died is not None and month > died
                city.publish(
                    month,
                    "pension_paid",
                    f"PP-{person['id_number']}-{month:%Y%m}",
                    {
                        "id_number": person["id_number"],
                        "name": person["name"],
                        "amount": rng.choice([1850, 2300, 2760, 3120]),
                        "paid_date": _iso(month),
                        "period": f"{month:%Y-%m}",
                    },
                )
            month = (month.replace(day=1) + timedelta(days=32)).replace(day=15)
        if paid_after_death and death_known:
            city.truth.warnings["pension_after_death"].add(person["id_number"])


RELIEF_TOPICS = ["civil_relief_given", "union_relief_given", "redcross_relief_given"]


def _households(city: City, rng: random.Random, fake: Names, count: int) -> None:
    """Relief to poor households (困难户); some get the same item from two agencies
    within the window (一户多领), others from one agency or far enough apart."""
    for _ in range(count):
        head = _person(rng, fake, 1940, 1990)
        city.publish(city.start, "person_registered", f"PR-{head['id_number']}", head)
        item = rng.choice(RELIEF_ITEMS)
        first_day = rng.randrange(0, max(1, city.days - RELIEF_WINDOW_DAYS))
        first = city.start + timedelta(days=first_day)
        givers = rng.sample(RELIEF_TOPICS, 2)
        roll = rng.random()
        gifts = [(givers[0], first)]
        if roll < 0.12:  # the same item twice, from two agencies, within the window
            second = first + timedelta(days=rng.randrange(1, RELIEF_WINDOW_DAYS - 5))
            gifts.append((givers[1], second))
            if second <= city.end:
                # alerting names a duplicate by household and item
                city.truth.warnings["duplicate_relief"].add(f"{head['household_id']}/{item}")
        elif roll < 0.2:  # two agencies, but months apart: not a duplicate
            later = first + timedelta(days=RELIEF_WINDOW_DAYS + rng.randrange(30, 90))
            gifts.append((givers[1], later))
        for topic, when in gifts:
            city.publish(
                when,
                topic,
                f"RG-{topic}-{head['household_id']}-{when:%Y%m%d}",
                {
                    "household_id": head["household_id"],
                    "id_number": head["id_number"],
                    "item": item,
                    "quantity": 1,
                    "given_date": _iso(when),
                },
            )
