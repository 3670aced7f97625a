"""Precision and recall of automatic links on generated data with injected typos.

Generates registered persons (Faker zh_CN), loads them through the ingest path into a
scratch database, then matches records with a broken ID number: most belong to a registered
person (with typos in ID, name, birth date and address), some to nobody (often sharing a
birth date and surname with someone registered). A scratch database is created and dropped.

    GOVHUB_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres \
        .venv/bin/python bench/registry_matching_eval.py [persons] [queries] [seed]

Exits 1 below the targets (precision 0.99, recall 0.95).
"""

from __future__ import annotations

import asyncio
import os
import random
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import opencc
from faker import Faker
from stdnum.cn import ric

from govhub_common.db import Database
from govhub_common.migrations import upgrade_async
from govhub_common.testing import create_test_database, drop_test_database
from govhub_registry.app import SERVICE
from govhub_registry.ingest.mapping import (
    AttributeRule,
    DerivedFromId,
    FactRule,
    TopicMapping,
    key_is_valid,
    map_record,
)
from govhub_registry.ingest.service import apply_records
from govhub_registry.matching.service import decide, find_candidates

REGIONS = ["440103", "440104", "440105", "440106", "440111", "440112", "440113", "440114"]
_S2T = opencc.OpenCC("s2t")


@dataclass
class Figures:
    queries: int
    true_matches: int
    auto_links: int
    correct_links: int
    reviews: int
    seconds: float

    @property
    def precision(self) -> float:
        return self.correct_links / self.auto_links if self.auto_links else 1.0

    @property
    def recall(self) -> float:
        return self.correct_links / self.true_matches if self.true_matches else 1.0


def _ric(rng: random.Random, birth: date) -> str:
    body = f"{rng.choice(REGIONS)}{birth:%Y%m%d}{rng.randrange(1000):03d}"
    return body + ric.calc_check_digit(body + "0")


def _break(rng: random.Random, number: str) -> str:
    """A typo that makes the check character fail: in the check character, the serial or
    the region code (never a valid number by chance)."""
    while True:
        where = rng.choice([17, 17, 14, 15, 16, 2, 3, 4, 5])
        chars = list(number)
        chars[where] = rng.choice("0123456789X" if where == 17 else "0123456789")
        candidate = "".join(chars)
        if candidate != number and not key_is_valid("person", candidate):
            return candidate


def _typo(rng: random.Random, text: str) -> str:
    if len(text) < 4:
        return text
    i = rng.randrange(1, len(text) - 1)
    return text[:i] + text[i + 1 :] if rng.random() < 0.5 else text[:i] + "路" + text[i + 1 :]


def _variant_name(rng: random.Random, name: str) -> str:
    roll = rng.random()
    if roll < 0.3:
        return str(_S2T.convert(name))
    if roll < 0.4:
        return " ".join(name)
    if roll < 0.5:
        return name.translate({ord(" "): "\u3000"}) + "\u3000"
    return name


def generate(
    fake: Faker, rng: random.Random, persons: int, queries: int
) -> tuple[list[dict[str, Any]], list[tuple[dict[str, Any], str | None]]]:
    registered = []
    for _ in range(persons):
        birth = date(1930, 1, 1) + timedelta(days=rng.randrange(75 * 365))
        registered.append(
            {
                "id_number": _ric(rng, birth),
                "name": fake.name(),
                "sex": "男",
                "birth_date": birth.isoformat(),
                "household_id": uuid.uuid4().hex[:10],
                "address": fake.address(),
            }
        )
    sample: list[tuple[dict[str, Any], str | None]] = []
    for _ in range(queries):
        if rng.random() < 0.8:
            who = rng.choice(registered)
            stated_birth: str = who["birth_date"]
            if rng.random() < 0.1:
                stated_birth = (date.fromisoformat(stated_birth) + timedelta(days=1)).isoformat()
            data = {
                "id_number": _break(rng, who["id_number"]),
                "name": _variant_name(rng, who["name"]),
                "birth_date": stated_birth,
                "address": _typo(rng, who["address"]) if rng.random() < 0.5 else who["address"],
            }
            sample.append((data, who["id_number"]))
        else:
            # Nobody registered: at random, or a hard case sharing the birth date and the
            # surname, or even the whole name (namesakes born the same day).
            twin = rng.choice(registered)
            roll = rng.random()
            if roll < 0.5:
                birth = date(1930, 1, 1) + timedelta(days=rng.randrange(75 * 365))
                name = fake.name()
            elif roll < 0.8:
                birth = date.fromisoformat(twin["birth_date"])
                name = twin["name"][0] + fake.name()[1:]
            else:
                birth = date.fromisoformat(twin["birth_date"])
                name = twin["name"]
            data = {
                "id_number": _break(rng, _ric(rng, birth)),
                "name": name,
                "birth_date": birth.isoformat(),
                "address": fake.address(),
            }
            sample.append((data, None))
    return registered, sample


# How the generated household registrations are read (the Guangzhou city's mapping of
# person_registered, limited to what the generator writes).
PERSON_REGISTERED = TopicMapping(
    subject="person",
    key="id_number",
    attributes={
        "name": AttributeRule(field="name", rank=1),
        "birth_date": AttributeRule(field="birth_date", rank=1),
        "address": AttributeRule(field="address", rank=1),
    },
    fact=FactRule(kind="registration", registration="household_registration"),
)


async def evaluate(database_url: str, *, persons: int, queries: int, seed: int) -> Figures:
    rng = random.Random(seed)
    fake = Faker("zh_CN")
    fake.seed_instance(seed)
    registered, sample = generate(fake, rng, persons, queries)
    rule = PERSON_REGISTERED
    await upgrade_async(SERVICE.migrations, database_url, SERVICE.schema)
    db = Database(database_url, pool_size=2)
    when = "2024-01-01T09:00:00+08:00"
    try:
        for start in range(0, len(registered), 1000):
            chunk = [
                map_record(
                    "person_registered",
                    rule,
                    {"seq": start + i, "business_time": when, "data": data},
                    agency="gz-psb",
                    where="$",
                    derived=DerivedFromId(),
                )
                for i, data in enumerate(registered[start : start + 1000])
            ]
            async with db.session() as session:
                await apply_records(session, topic="person_registered", rule=rule, records=chunk)
        records = [
            map_record(
                "person_registered",
                rule,
                {"seq": 10_000_000 + i, "business_time": when, "data": data},
                agency="gz-psb",
                where="$",
                derived=DerivedFromId(),
            )
            for i, (data, _) in enumerate(sample)
        ]
        started = time.perf_counter()
        async with db.session() as session:
            candidates = await find_candidates(session, records=records)
        seconds = time.perf_counter() - started
    finally:
        await db.close()
    figures = Figures(len(sample), sum(1 for _, t in sample if t), 0, 0, 0, seconds)
    for (_, truth), found in zip(sample, candidates, strict=True):
        decision, best = decide(found)
        if decision == "auto_link" and best is not None:
            figures.auto_links += 1
            figures.correct_links += int(best.id == truth)
        elif decision == "review":
            figures.reviews += 1
    return figures


async def _run(persons: int, queries: int, seed: int) -> Figures:
    admin = os.environ.get("GOVHUB_DATABASE_URL") or os.environ.get(
        "GOVHUB_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
    )
    url = await create_test_database(admin, prefix="govhub_eval")
    try:
        return await evaluate(url, persons=persons, queries=queries, seed=seed)
    finally:
        await drop_test_database(admin, url)


def main(*, persons: int = 5000, queries: int = 2000, seed: int = 7) -> Figures:
    figures = asyncio.run(_run(persons, queries, seed))
    print(
        f"matching evaluation: {persons} registered persons, {figures.queries} records with a "
        f"broken ID ({figures.true_matches} of registered persons)\n"
        f"  auto-links {figures.auto_links} (correct {figures.correct_links}), "
        f"sent to review {figures.reviews}\n"
        f"  precision {figures.precision:.4f}  recall {figures.recall:.4f}  "
        f"(targets: >= 0.99, >= 0.95)\n"
        f"  candidate search and scoring: {figures.seconds:.2f} s for {figures.queries} records"
    )
    return figures


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:4]]
    defaults = [5000, 2000, 7]
    persons, queries, seed = args + defaults[len(args) :]
    figures = main(persons=persons, queries=queries, seed=seed)
    sys.exit(0 if figures.precision >= 0.99 and figures.recall >= 0.95 else 1)
