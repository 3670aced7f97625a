"""The simulated city: who registers, pays, dies and receives relief on which day.

Deterministic for a seed. Besides the records to publish, it keeps the ground truth
(which enterprises should be reminded and warned, which pensions were paid after death,
which households were given the same relief twice), so the report can measure each rule's
precision and recall against it. It also injects data-quality faults (late reports, wrong
check characters, addresses that contradict market regulation's) where no warning rule
looks, and keeps what it injected, so the report can find each again in the agencies'
scorecards (docs/quality.md).
"""

from __future__ import annotations

import random
import re
from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import Any

from faker import Faker

from govhub_demo.identifiers import (
    DISTRICTS,
    corrupt_check_character,
    mobile,
    resident_id,
    unified_social_credit_code,
)

# Figures of the founding document (Guangzhou, 2008).
FULL_SCALE_ENTERPRISES = 34_000
FULL_SCALE_PENSIONERS = 6_000
FULL_SCALE_HOUSEHOLDS = 3_000

# Days after the licence: the reminder (day 20) and the deadline (day 30).
REMINDER_DAYS = 20
DEADLINE_DAYS = 30
RELIEF_WINDOW_DAYS = 90

# The injected faults. Each is on a topic and data item no warning rule decides on, so the
# rules' ground truth is the same with or without them (tests/demo/test_city.py):
# quality supervision reports its organisation codes three days late (no rule reads them),
LATE_TOPIC, LATE_AGENCY, LATE_DAYS = "quality_code_assigned", "gz-qts", 3
# social security sends one pension payment in twenty with a mistyped resident ID besides the
# real ones (the exchange rejects them, so the rules never see them),
BAD_ID_TOPIC, BAD_ID_AGENCY, BAD_ID_ITEM = "pension_paid", "gz-hrss", "id_number"
BAD_ID_SHARE = 0.05  # of the records sent on the topic
# and local tax records another address than market regulation's for some enterprises (the
# registry's address, not a rule's input).
ADDRESS_TOPIC, ADDRESS_AGENCY = "local_tax_registered", "gz-ltax"
ADDRESS_SHARE = 0.03  # of the topic's records

INDUSTRIES = ["C39", "F51", "F52", "I65", "L72", "M73", "E47", "H62", "K70", "O80"]
RELIEF_ITEMS = ["棉被", "大米", "食用油", "慰问金", "冬衣"]


@dataclass(frozen=True)
class Record:
    topic: str
    record_id: str
    data: dict[str, Any]
    # The day it happened, when published later than that (a late report); None: the day
    # it is published.
    business_date: date | None = None
    # Sent with a fault on purpose: the exchange must reject it.
    invalid: bool = False


@dataclass(frozen=True)
class InjectedFaults:
    """What the simulation got wrong on purpose, as the scorecards must show it."""

    late_topic: str
    late_agency: str
    late_days: int
    late_records: int  # published late_days after their business date
    bad_id_topic: str
    bad_id_agency: str
    bad_id_item: str
    bad_id_records: int  # extra records with a wrong check character in bad_id_item
    bad_id_received: int  # every record sent on the topic, the bad ones included
    address_topic: str
    address_agency: str
    address_conflicts: int  # enterprises whose address differs from market regulation's

    @property
    def late_delay_seconds(self) -> int:
        return self.late_days * 86_400

    @property
    def bad_id_share(self) -> float | None:
        """Rejected over received, rounded as the scorecard rounds a share."""
        return (
            round(self.bad_id_records / self.bad_id_received, 6) if self.bad_id_received else None
        )


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
    faults: InjectedFaults | None = None

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

    def valid_records(self) -> int:
        """The records the exchange must accept: all but the faulty ones sent on purpose."""
        return sum(1 for v in self.published.values() for r in v if not r.invalid)


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


def simulate(
    *, seed: int, scale: float, days: int, start: date = date(2008, 1, 1), faults: bool = True
) -> City:
    """The city of a seed; `faults`: with the data-quality faults injected."""
    rng = random.Random(seed)
    fake = Names(seed)
    city = City(start=start, days=days)
    _enterprises(city, rng, fake, round(FULL_SCALE_ENTERPRISES * scale * days / 365))
    _pensioners(city, rng, fake, max(1, round(FULL_SCALE_PENSIONERS * scale)))
    _households(city, rng, fake, max(1, round(FULL_SCALE_HOUSEHOLDS * scale)))
    if faults:
        # Their own random stream: the city itself is the same with or without them.
        city.faults = _inject_faults(city, random.Random(f"{seed}/faults"))
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
        licence: dict[str, Any] = {
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
        }
        city.publish(licensed, "enterprise_registered", f"ER-{code}", licence)
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
                tax: dict[str, Any] = {
                    "uscc": code,
                    "tax_no": code[2:],
                    "registered_date": _iso(registered),
                }
                if office == "local":  # local tax records the address too
                    tax["address"] = licence["address"]
                city.publish(registered, f"{office}_tax_registered", f"TR-{office}-{code}", tax)
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


# --- the injected faults -------------------------------------------------------------------


def _inject_faults(city: City, rng: random.Random) -> InjectedFaults:
    conflicts = _other_addresses(city, rng)
    bad, received = _bad_check_characters(city, rng)
    late = _late_reports(city)
    return InjectedFaults(
        late_topic=LATE_TOPIC,
        late_agency=LATE_AGENCY,
        late_days=LATE_DAYS,
        late_records=late,
        bad_id_topic=BAD_ID_TOPIC,
        bad_id_agency=BAD_ID_AGENCY,
        bad_id_item=BAD_ID_ITEM,
        bad_id_records=bad,
        bad_id_received=received,
        address_topic=ADDRESS_TOPIC,
        address_agency=ADDRESS_AGENCY,
        address_conflicts=conflicts,
    )


def _on(city: City, topic: str) -> list[tuple[int, int]]:
    """(day, position) of each of the topic's records, in publishing order."""
    return [
        (day, i)
        for day in sorted(city.published)
        for i, record in enumerate(city.published[day])
        if record.topic == topic
    ]


def _other_addresses(city: City, rng: random.Random) -> int:
    """Another house number in some of local tax's addresses: each is one conflict with
    market regulation's (published earlier: a tax registration follows the licence)."""
    places = _on(city, ADDRESS_TOPIC)
    chosen = rng.sample(places, round(len(places) * ADDRESS_SHARE))
    for day, i in chosen:
        record = city.published[day][i]
        address = record.data["address"]
        number = re.search(r"(\d+)号$", address)
        assert number is not None, address  # _enterprises writes "...路123号"
        other = f"{address[: number.start(1)]}{int(number.group(1)) + rng.randrange(1, 100)}号"
        city.published[day][i] = replace(record, data={**record.data, "address": other})
    return len(chosen)


def _bad_check_characters(city: City, rng: random.Random) -> tuple[int, int]:
    """Beside some real records, the same record with the ID's check character mistyped, so
    that BAD_ID_SHARE of what is sent on the topic is bad. Returns (bad, sent)."""
    places = _on(city, BAD_ID_TOPIC)
    count = round(len(places) * BAD_ID_SHARE / (1 - BAD_ID_SHARE))
    for day, i in sorted(rng.sample(places, count)):
        record = city.published[day][i]
        good = record.data[BAD_ID_ITEM]
        bad = corrupt_check_character(rng, good)
        city.published[day].append(
            Record(
                record.topic,
                record.record_id.replace(good, bad),
                {**record.data, BAD_ID_ITEM: bad},
                invalid=True,
            )
        )
    return count, len(places) + count


def _late_reports(city: City) -> int:
    """Every record of LATE_TOPIC published LATE_DAYS after its business date (those that
    would then fall after the simulated period are never published)."""
    late: list[tuple[int, Record]] = []
    for day in sorted(city.published):
        records = city.published[day]
        late += [(day, r) for r in records if r.topic == LATE_TOPIC]
        city.published[day] = [r for r in records if r.topic != LATE_TOPIC]
    published = 0
    for day, record in late:
        if day + LATE_DAYS < city.days:
            when = city.start + timedelta(days=day)
            city.published[day + LATE_DAYS].append(replace(record, business_date=when))
            published += 1
    for day in [d for d, records in city.published.items() if not records]:
        del city.published[day]
    return published
