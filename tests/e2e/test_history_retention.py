"""The registry's and alerting's history follow the exchange's retention (docs/exchange.md,
"Retention and archive"): when segments of a topic's log are archived, what the other
services derived from those records goes too, by the same boundary, through the bus, except
what still stands (a golden record's current claims, a pending timer's trigger fact)."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from govhub_common.city.format import kind_specs
from govhub_common.clock import utcnow
from govhub_common.event_contracts.exchange import (
    LOG_ARCHIVED,
    ArchivedSegment,
    LogArchived,
    RetentionPeriod,
)
from govhub_common.events import CloudEvent
from govhub_common.testing import Hub, running_hub, wait_for
from tests.alerting.support import evaluate
from tests.conftest import GUANGZHOU
from tests.exchange.support import BASE, agency_headers, maintain_log, publish
from tests.registry.support import make_ric, make_uscc, published, record
from tests.registry.support import publish as registry_publish

TOPIC = "enterprise_registered"  # mapped by the city's registry, the trigger of a rule
OWNER = "gz-amr"
RETENTION = {"days": 30, "legal_basis": "《企业信息公示暂行条例》第八条"}


def _licence(uscc: str, name: str, established: date) -> dict[str, Any]:
    return {
        "uscc": uscc,
        "name": name,
        "legal_rep_id": make_ric(),
        "legal_rep_name": "陈志强",
        "address": "广州市越秀区中山五路1号",
        "district": "越秀区",
        "established_date": established.isoformat(),
    }


async def _rows(hub: Hub, sql: str, *args: Any) -> list[Any]:
    async with hub.runtime.db.autocommit() as raw:
        return list(await raw.fetch(sql, *args))


async def _known(hub: Hub, usccs: list[str]) -> bool:
    """Whether the registry holds every one of these legal entities."""
    rows = await _rows(
        hub, "SELECT count(*) AS n FROM registry.legal_entity WHERE uscc = ANY($1)", usccs
    )
    return bool(rows[0]["n"] == len(usccs))


async def _history_seqs(hub: Hub, uscc: str) -> set[int]:
    reply = await hub.client.get(
        f"/registry/v1/legal-entities/{uscc}/history", headers=hub.operator()
    )
    assert reply.status_code == 200, reply.text
    return {row["seq"] for row in reply.json()["data"]}


async def test_the_registry_and_alerting_forget_what_the_exchange_archived(
    fresh_db_url: str, tmp_path: Path
) -> None:
    async with running_hub(fresh_db_url) as hub:
        # The rule's topics, as the city's files define them (alerting installs the rule
        # once they all exist); only the licences have a retention.
        specs = {s["code"]: s for _, s in kind_specs(GUANGZHOU / "topics.yaml", "Topic")}
        for code in (TOPIC, "local_tax_registered", "national_tax_registered"):
            spec = specs[code]
            made = await hub.client.post(
                f"{BASE}/agencies", json={"code": spec["owner"], "name": "广州市测试局"},
                headers=hub.operator(),
            )  # fmt: skip
            assert made.status_code == 201, made.text
            body = {k: v for k, v in spec.items() if k != "owner"}
            if code == TOPIC:
                body["retention"] = RETENTION
            created = await hub.client.post(
                f"{BASE}/topics", json=body, headers=agency_headers(hub, spec["owner"])
            )
            assert created.status_code == 201, created.text
        await hub.wait_idle()
        rule = await hub.client.get(
            "/alerting/v1/rules/tax_registration_missing", headers=hub.operator()
        )
        assert rule.status_code == 200, rule.text
        async with hub.runtime.db.autocommit() as raw:
            await raw.execute(
                "UPDATE exchange.topics SET segment_records = 10 WHERE code = $1", TOPIC
            )

        # Fifteen enterprises; the first ten registered again later (a new version each):
        # seqs 1-10 the first ten, 11-15 five of them again, 16-20 five more, 21-25 the
        # other five of the first ten again. Even ones were established long ago (their
        # timers fire), odd ones in three months (their timers stay pending).
        later = date.today() + timedelta(days=90)
        usccs = [make_uscc() for _ in range(15)]

        def licence(i: int, version: int) -> dict[str, Any]:
            established = date(2008, 3, 1) if i % 2 == 0 else later
            return {
                "record_id": f"E{i}",
                "data": _licence(
                    usccs[i], f"广州市越秀区示例商贸有限公司{i}号（第{version}版）", established
                ),
            }

        for batch in (
            [licence(i, 1) for i in range(10)],
            [licence(i, 2) for i in range(5)],
            [licence(i, 1) for i in range(10, 15)],
            [licence(i, 2) for i in range(5, 10)],
        ):
            accepted = await publish(hub, OWNER, TOPIC, batch)
            assert accepted["counts"]["accepted"] == len(batch), accepted["rejected"]
        await hub.wait_idle()

        # Applied, however often a transient fault made a consumer retry an event.
        async def applied() -> bool:
            stored = await _rows(
                hub, "SELECT count(*) AS n FROM alerting.records WHERE topic = $1", TOPIC
            )
            return stored[0]["n"] == 25 and await _known(hub, usccs)

        await wait_for(applied, timeout=60)
        await evaluate(hub, utcnow().isoformat())  # the timers due by now fire
        await hub.wait_idle()

        before = {u: await _history_seqs(hub, u) for u in usccs}
        assert before[usccs[0]] == {1, 11} and before[usccs[5]] == {6, 21}
        golden_before = [
            (
                await hub.client.get(f"/registry/v1/legal-entities/{u}", headers=hub.operator())
            ).json()
            for u in usccs
        ]
        stored = await _rows(hub, "SELECT seq FROM alerting.records WHERE topic = $1", TOPIC)
        assert sorted(r["seq"] for r in stored) == list(range(1, 26))
        facts = await _rows(
            hub,
            "SELECT f.id, f.seq, EXISTS (SELECT 1 FROM alerting.timers t "
            "WHERE t.trigger_fact_id = f.id AND t.fired_at IS NULL AND t.cancelled_at IS NULL) "
            "AS pending FROM alerting.facts f WHERE f.topic = $1",
            TOPIC,
        )
        pending_old = {f["id"] for f in facts if f["seq"] < 21 and f["pending"]}
        settled_old = {f["id"] for f in facts if f["seq"] < 21 and not f["pending"]}
        live = {f["id"] for f in facts if f["seq"] >= 21}
        # Both kinds of old fact are there to tell apart.
        assert pending_old and settled_old and live
        warnings = await _rows(hub, "SELECT id, evidence::text AS evidence FROM alerting.warnings")
        assert warnings  # the old licences' deadlines passed

        done = await maintain_log(hub, tmp_path, days_ahead=31)
        assert [(a["first_seq"], a["last_seq"]) for a in done.archived] == [(1, 10), (11, 20)]
        await hub.wait_idle()

        async def forgotten() -> bool:
            left = await _rows(
                hub, "SELECT count(*) AS n FROM alerting.records WHERE topic = $1", TOPIC
            )
            return left[0]["n"] == 5 and await _history_seqs(hub, usccs[0]) == {11}

        await wait_for(forgotten, timeout=60)

        # The registry: an assertion of an archived record goes, unless it is still its
        # agency's current claim; the golden records are as they were.
        after = {u: await _history_seqs(hub, u) for u in usccs}
        assert after[usccs[0]] == {11}  # seq 1 was superseded by 11, which stands
        assert after[usccs[5]] == {21}  # seq 6 was superseded by 21, still live
        assert after[usccs[12]] == {18}  # archived, but its only statement
        assert after == {u: {s for s in seqs if s > 10} for u, seqs in before.items()}
        golden_after = [
            (
                await hub.client.get(f"/registry/v1/legal-entities/{u}", headers=hub.operator())
            ).json()
            for u in usccs
        ]
        assert golden_after == golden_before

        # Alerting: the archived records go; their facts too, but for those a pending timer
        # was set from. The warnings keep their evidence.
        stored = await _rows(hub, "SELECT seq FROM alerting.records WHERE topic = $1", TOPIC)
        assert sorted(r["seq"] for r in stored) == [21, 22, 23, 24, 25]
        kept = {
            f["id"]
            for f in await _rows(hub, "SELECT id FROM alerting.facts WHERE topic = $1", TOPIC)
        }
        assert kept == pending_old | live
        assert await _rows(hub, "SELECT id, evidence::text AS evidence FROM alerting.warnings") == (
            warnings
        )

        # The event may come again: nothing more goes.
        async with hub.runtime.db.autocommit() as raw:
            payload = await raw.fetchval(
                "SELECT payload::text FROM exchange.outbox WHERE type = 'exchange.log.archived' "
                "ORDER BY id DESC LIMIT 1"
            )
        again = CloudEvent.from_json(payload.encode())
        await hub.runtime.bus.publish([again.model_copy(update={"id": str(uuid.uuid4())})])
        await hub.wait_idle()
        assert {u: await _history_seqs(hub, u) for u in usccs} == after
        assert {
            f["id"]
            for f in await _rows(hub, "SELECT id FROM alerting.facts WHERE topic = $1", TOPIC)
        } == kept

        # The records the registry could not place go at the same boundary. (Sent on the bus
        # as the exchange would: its schema refuses an impossible date, an older topic's
        # schema may not have.)
        other = "enterprise_deregistered"
        bad = {"uscc": usccs[0], "deregistered_date": "2024-02-30", "reason": "歇业"}
        for seq in (1, 2, 3, 12):
            await registry_publish(hub, published(other, OWNER, [record(bad, seq=seq)]))
        await hub.wait_idle()
        archived = ArchivedSegment(
            topic=other,
            segment=1,
            first_seq=1,
            last_seq=10,
            records=10,
            live_from=11,
            file=f"{other}/000000000001-000000000010.ndjson.gz",
            retention=RetentionPeriod(**RETENTION),
            archived_at=utcnow(),
        )
        await hub.runtime.bus.publish(
            [
                CloudEvent(
                    source="govhub/exchange",
                    type=LOG_ARCHIVED,
                    data=LogArchived(segments=[archived]).model_dump(mode="json"),
                )
            ]
        )
        await hub.wait_idle()
        unmapped = await hub.client.get(
            "/registry/v1/unmapped-records", params={"topic": other}, headers=hub.operator()
        )
        assert [u["seq"] for u in unmapped.json()["data"]] == [12]
