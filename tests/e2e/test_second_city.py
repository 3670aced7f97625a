"""A second city beside Guangzhou: 佛山市 (examples/cities/foshan) is set up on an empty hub
from its files by `govhub apply` (the public HTTP APIs only), and its generated year is
replayed in simulation mode (all-in-one, real PostgreSQL and RabbitMQ). The hub's answers must match the
year's known answers exactly: the warnings of each of its four rules, the late compliances,
the SMS reminders, the rejected and the duplicate records."""

from __future__ import annotations

import asyncio
import importlib.util
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from govhub_common.clock import BUSINESS_TZ
from govhub_common.event_contracts import UnknownEventType, parse_data
from govhub_common.testing import HubProcess, bus_tap, wait_for
from govhub_demo.client import HubClient

CITY = Path(__file__).resolve().parents[2] / "examples" / "cities" / "foshan"
GOVHUB = str(Path(sys.executable).parent / "govhub")

pytestmark = pytest.mark.timeout(900)


def _year_module() -> Any:
    """examples/ is not a package: load the city's generator from its file."""
    spec = importlib.util.spec_from_file_location("foshan_year", CITY / "year.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


foshan = _year_module()


def at(day: date, hour: int, minute: int = 0, second: int = 0) -> str:
    return datetime.combine(day, time(hour, minute, second), tzinfo=BUSINESS_TZ).isoformat()


def city_documents(folder: Path) -> dict[str, list[dict[str, Any]]]:
    """The city's documents by kind (the test reads the topics' owners and the clients)."""
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for path in sorted(folder.glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if document:
                by_kind.setdefault(document["kind"], []).append(document)
    return by_kind


async def set_up_city(hub: HubClient, process: HubProcess, secrets: Path) -> dict[str, str]:
    """`govhub apply` the city's files to the hub, as its operator would; each agency's
    client secret is written once to `secrets`. Returns each topic's owner."""
    applied = await asyncio.to_thread(
        subprocess.run,
        [GOVHUB, "apply", "-f", str(CITY), "--url", process.url, "--secrets-dir", str(secrets)],
        env={**process.env, "GOVHUB_CLIENT_SECRET": process.operator_secret()},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert applied.returncode == 0, applied.stdout + applied.stderr
    documents = city_documents(CITY)
    for client in documents["Client"]:
        client_id = client["spec"]["client_id"]
        secret = (secrets / f"{client_id}.secret").read_text().strip()
        hub.credentials[client["spec"]["agency"]] = (client_id, secret)
    return {topic["spec"]["code"]: topic["spec"]["owner"] for topic in documents["Topic"]}


async def replay(hub: HubClient, year: Any, owners: dict[str, str]) -> dict[str, Any]:
    """Publish each day's records with their business time, then end the business day: the
    timers due by then fire (reminders, deadlines); the reminders go out the next morning."""
    counts = {"accepted": 0, "duplicates": 0, "rejected": 0}
    refused: dict[str, list[dict[str, Any]]] = {}
    duplicated: set[str] = set()
    by_day = year.by_day()
    reminders_waiting = False
    day = foshan.START
    while day <= foshan.END:
        if reminders_waiting:
            await hub.call("POST", "/sms/v1/dispatch", json={"as_of": at(day, 9, 30)})
            reminders_waiting = False
        by_topic: dict[str, list[dict[str, Any]]] = {}
        for record in by_day.get(day, []):
            by_topic.setdefault(record.topic, []).append(
                {
                    "record_id": record.record_id,
                    "data": record.data,
                    "business_time": at(record.day, 10),
                }
            )
        for topic, records in by_topic.items():
            reply = (
                await hub.call(
                    "POST", f"/exchange/v1/topics/{topic}/records", owners[topic], json=records
                )
            ).json()
            for key in counts:
                counts[key] += reply["counts"][key]
            refused.update({r["record_id"]: r["errors"] for r in reply["rejected"]})
            duplicated.update(r["record_id"] for r in reply["duplicates"])
        if by_topic:
            await hub.settle()  # registry and alerting have the day's records
        fired = (
            await hub.call("POST", "/alerting/v1/evaluate", json={"as_of": at(day, 23, 59, 59)})
        ).json()
        reminders_waiting = reminders_waiting or fired["reminders_due"] > 0
        if fired["timers_fired"] or fired["warnings_raised"] or fired["warnings_resolved"]:
            await hub.settle()  # reminders reach the SMS gateway, warnings the exchange
        day += timedelta(days=1)
    await hub.call("POST", "/sms/v1/dispatch", json={"as_of": at(day, 9, 30)})
    await hub.settle()
    return {"counts": counts, "refused": refused, "duplicated": duplicated}


@pytest.fixture
async def process(fresh_db_url: str, amqp_url: str) -> AsyncIterator[HubProcess]:
    exchange = f"govhub.test.{uuid.uuid4().hex[:8]}"
    process = HubProcess(
        fresh_db_url,
        args=["--simulate"],
        env={
            "GOVHUB_AMQP_URL": amqp_url,
            "GOVHUB_AMQP_EXCHANGE": exchange,
            "GOVHUB_AMQP_QUEUE_PREFIX": f"{exchange}.",
            "GOVHUB_AMQP_DELETE_QUEUES_AT_STOP": "true",
            # Foshan's hub has nothing of Guangzhou's (tests/conftest.py sets it for the suites).
            "GOVHUB_CITY_FILES": None,
        },
    )
    try:
        await process.start()
        yield process
    finally:
        await process.stop()


async def test_foshan_from_its_files_replays_its_year_with_the_known_answers(
    process: HubProcess, tmp_path: Path
) -> None:
    hub = HubClient(process.url, process.operator_secret())
    # Every event of the year on the real broker, checked against its contract at the end.
    async with bus_tap(process.env["GOVHUB_AMQP_URL"], process.env["GOVHUB_AMQP_EXCHANGE"]) as bus:
        try:
            await check_the_year(hub, process, tmp_path / "secrets")
            # A client's secret rotated: its tokens are revoked on every service.
            await hub.call("POST", "/exchange/v1/agencies/fs-fire/clients/fs-fire-sync/rotate")
            await hub.settle()
        finally:
            await hub.close()
        # The tap's own consumer has the last event too (the queue keeps the order, so
        # every earlier one with it): waited for, not given a second.
        await wait_for(lambda: any(e.type == "exchange.identity.revoked" for e in bus), timeout=60)
    check_the_events(bus)


def check_the_events(events: list[Any]) -> None:
    """Each event the hub published validates against its type's contract
    (govhub_common.event_contracts; docs/asyncapi.json), and the year produced every kind of
    event its flow has."""
    broken = []
    for event in events:
        try:
            parse_data(event)
        except (ValidationError, UnknownEventType) as exc:
            broken.append(f"{event.type} {event.id}: {exc}")
    assert not broken, "\n".join(broken[:10])
    # (exchange.catalog.announced went out at the hub's start, before the tap.)
    assert {e.type for e in events} >= {
        "exchange.topic.created",
        "exchange.record.published",
        "exchange.identity.revoked",
        "registry.legal_entity.changed",
        "alerting.warning.raised",
        "alerting.warning.resolved",
        "alerting.reminder.due",
        "sms.message.status_changed",
    }


async def check_the_year(hub: HubClient, process: HubProcess, secrets: Path) -> None:
    assert await hub.simulated()
    owners = await set_up_city(hub, process, secrets)
    year = foshan.generate()
    answers = year.answers
    published = await replay(hub, year, owners)

    # The exchange: invalid records refused one by one, retries stored once.
    assert set(published["refused"]) == answers.rejected
    assert published["duplicated"] == answers.duplicates
    assert published["counts"] == {
        "accepted": answers.accepted,
        "duplicates": len(answers.duplicates),
        "rejected": len(answers.rejected),
    }

    # Alerting: every warning deserved, none missed, one per subject; late compliance
    # resolved as such, the rest still open.
    for rule_id, expected in answers.warnings.items():
        warnings = await hub.pages("/alerting/v1/warnings", rule=rule_id, limit=100)
        subjects = [w["subject"] for w in warnings]
        assert sorted(subjects) == sorted(expected), rule_id
        late = {w["subject"] for w in warnings if w["resolution"] == "complied_late"}
        assert late == answers.complied_late.get(rule_id, set()), rule_id
        for warning in warnings:
            if warning["subject"] not in late:
                assert (warning["status"], warning["resolution"]) == ("open", None), warning
    stats = {row["rule_id"]: row for row in await hub.pages("/alerting/v1/stats")}
    for rule_id, expected in answers.warnings.items():
        assert stats[rule_id]["warnings_raised"] == len(expected), rule_id

    # SMS: the day-10 reminder to each shop not inspected by then, with its deadline as a
    # Chinese date, sent from the city's own template and signature.
    messages = await hub.pages("/sms/v1/messages", template="fire_inspection_reminder", limit=100)
    assert all(m["status"] in ("sent", "delivered") for m in messages), messages
    # A reminder's idempotency key names its rule and subject (the shop's uscc).
    sent = {m["idempotency_key"].split(":")[1]: m for m in messages}
    assert len(messages) == len(answers.reminders)
    assert set(sent) == set(answers.reminders)
    shops = {r.data["uscc"]: r.data for r in year.records if r.topic == "shop_opened"}
    for uscc, deadline in answers.reminders.items():
        message = sent[uscc]
        assert message["recipient"] == shops[uscc]["mobile"]
        assert message["text"] == (
            f"【佛山市政务服务数据管理局】{shops[uscc]['shop_name']}：您的门店已开业，请于"
            f"{deadline.year}年{deadline.month}月{deadline.day}日前完成消防安全检查。"
        )

    # The registry built the shops' legal entities from the city's own mapping.
    uscc, shop = next(iter(shops.items()))
    entity = (await hub.call("GET", f"/registry/v1/legal-entities/{uscc}", "fs-fire")).json()
    assert entity["attributes"]["name"] == shop["shop_name"]
    assert entity["attributes"]["status"] == "active"
    assert entity["sources"]["name"]["agency"] == "fs-amr"
    closed = next(r.data["uscc"] for r in year.records if r.topic == "shop_closed")
    entity = (await hub.call("GET", f"/registry/v1/legal-entities/{closed}", "fs-hrss")).json()
    assert entity["attributes"]["status"] == "deregistered"

    # Only the city's rules: the hub ships none of its own.
    rules = await hub.pages("/alerting/v1/rules")
    assert sorted(r["id"] for r in rules) == sorted(answers.warnings)
