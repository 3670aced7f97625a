"""Seed the city through the APIs, then replay it day by day as agencies' systems would."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from datetime import time as dtime
from typing import Any

from govhub_common.clock import BUSINESS_TZ
from govhub_demo.city import City, Record
from govhub_demo.city_files import CityFiles
from govhub_demo.client import HubClient, HubError

BATCH = 1000
# The subscriptions whose delivery the report measures (the flagship flow).
MEASURED_TOPIC = "enterprise_registered"


@dataclass
class Measurements:
    records_published: int = 0
    records_accepted: int = 0
    records_rejected: int = 0  # all of them injected faults: any other stops the replay
    publish_calls: int = 0
    delivery_latencies: list[float] = field(default_factory=list)
    elapsed_seconds: float = 0.0
    phase_seconds: dict[str, float] = field(default_factory=dict)
    subscriptions: dict[int, tuple[str, str]] = field(default_factory=dict)  # id -> (agency, topic)
    agencies: list[str] = field(default_factory=list)  # the city's, from its files
    scorecard_months: list[str] = field(default_factory=list)  # published to hub_scorecards


class PhaseClock:
    """Adds up the seconds spent in each phase of the replay (shown in the report)."""

    def __init__(self, totals: dict[str, float]) -> None:
        self.totals = totals

    @contextlib.contextmanager
    def __call__(self, phase: str) -> Iterator[None]:
        started = time.monotonic()
        try:
            yield
        finally:
            self.totals[phase] = self.totals.get(phase, 0.0) + time.monotonic() - started


def at(day: date, hour: int, minute: int = 0, second: int = 0) -> str:
    return datetime.combine(day, dtime(hour, minute, second), tzinfo=BUSINESS_TZ).isoformat()


async def seed(hub: HubClient, city_files: CityFiles) -> dict[int, tuple[str, str]]:
    """The city's agencies, clients, topics, subscriptions, mappings, rules and templates,
    applied from its files by `govhub apply` (an existing hub gets only the difference);
    returns the approved subscriptions of the files (id -> (agency, topic))."""
    await city_files.apply(hub)
    for agency, (client_id, secret) in (await city_files.credentials(hub)).items():
        hub.credentials[agency] = (client_id, secret)
    wanted = {(s["subscriber"], s["topic"]) for s in city_files.specs("Subscription")}
    subscriptions: dict[int, tuple[str, str]] = {}
    for sub in await hub.pages("/exchange/v1/subscriptions", role="any", status="approved"):
        if (sub["subscriber"], sub["topic"]) in wanted:
            subscriptions[sub["id"]] = (sub["subscriber"], sub["topic"])
    missing = wanted - set(subscriptions.values())
    if missing:
        raise HubError(f"subscriptions not approved after applying the city: {sorted(missing)}")
    return subscriptions


async def publish_day(
    hub: HubClient, city: City, owners: dict[str, str], day_index: int, m: Measurements
) -> list[tuple[int, float]]:
    """Publish one day's records, topic by topic, in batches, each with the time it happened
    (10:00 on its business date); returns the measured topic's (highest seq, accepted at)
    pairs. Raises unless the exchange rejects exactly the records sent faulty on purpose."""
    day = city.start + timedelta(days=day_index)
    by_topic: dict[str, list[Record]] = {}
    for record in city.published.get(day_index, []):
        by_topic.setdefault(record.topic, []).append(record)
    measured: list[tuple[int, float]] = []
    for topic, records in by_topic.items():
        owner = owners[topic]
        for start in range(0, len(records), BATCH):
            chunk = records[start : start + BATCH]
            body = [
                {
                    "record_id": r.record_id,
                    "data": r.data,
                    "business_time": at(r.business_date or day, 10),
                }
                for r in chunk
            ]
            reply = (
                await hub.call("POST", f"/exchange/v1/topics/{topic}/records", owner, json=body)
            ).json()
            accepted_at = time.monotonic()
            m.publish_calls += 1
            m.records_published += len(chunk)
            counts = reply["counts"]
            m.records_accepted += counts["accepted"] + counts["duplicates"]
            m.records_rejected += counts["rejected"]
            meant = {r.record_id for r in chunk if r.invalid}
            refused = {r["record_id"] for r in reply["rejected"]}
            if counts["rejected"] != len(meant) or refused != meant:
                unexpected = [r for r in reply["rejected"] if r["record_id"] not in meant]
                raise HubError(
                    f"{topic}: {counts['rejected']} records rejected, {len(meant)} expected; "
                    f"rejected: {unexpected[:3]}, accepted though faulty: "
                    f"{sorted(meant - refused)[:3]}"
                )
            if topic == MEASURED_TOPIC and reply["accepted"]:
                measured.append((max(r["seq"] for r in reply["accepted"]), accepted_at))
    return measured


async def close_scorecards(hub: HubClient, m: Measurements, as_of: str) -> None:
    """The exchange's business clock reads `as_of` (simulation mode): the records published
    next arrive then, so their delay is `as_of` minus their business time. The months ended
    by then are published to hub_scorecards."""
    closed = (await hub.call("POST", "/exchange/v1/scorecards/close", json={"as_of": as_of})).json()
    m.scorecard_months += closed["months"]


async def read_feeds(
    hub: HubClient,
    m: Measurements,
    cursors: dict[int, tuple[int, str | None]],
    measured: list[tuple[int, float]],
) -> None:
    """Each subscriber of the flagship topic reads its feed; the time from the publisher's
    acceptance to the record being readable is the delivery latency. `cursors` holds, per
    subscription, the last seq read and the feed's `position` to read on from."""
    if not measured:
        return
    target = max(seq for seq, _ in measured)
    for sub_id, (agency, topic) in m.subscriptions.items():
        if topic != MEASURED_TOPIC:
            continue
        while cursors.get(sub_id, (0, None))[0] < target:
            read_seq, position = cursors.get(sub_id, (0, None))
            params: dict[str, Any] = {"limit": 5000, "wait": 5}
            if position is not None:
                params["cursor"] = position
            body = (
                await hub.call(
                    "GET", f"/exchange/v1/subscriptions/{sub_id}/records", agency, params=params
                )
            ).json()
            readable_at = time.monotonic()
            last_seq = body["data"][-1]["seq"] if body["data"] else read_seq
            for seq, accepted_at in measured:
                if read_seq < seq <= last_seq:
                    m.delivery_latencies.append(readable_at - accepted_at)
            cursors[sub_id] = (last_seq, body["position"])


async def replay(
    hub: HubClient,
    city: City,
    city_files: CityFiles,
    *,
    progress: Callable[[int], None] = lambda day: None,
) -> Measurements:
    started = time.monotonic()
    m = Measurements()
    m.subscriptions = await seed(hub, city_files)
    m.agencies = [spec["code"] for spec in city_files.specs("Agency")]
    owners = city_files.topic_owners()
    cursors: dict[int, tuple[int, str | None]] = {}
    await hub.settle()
    clock = PhaseClock(m.phase_seconds)
    reminders_waiting = False
    for day_index in range(city.days):
        day = city.start + timedelta(days=day_index)
        # Morning: send what quiet hours held back overnight; then the day's records.
        if reminders_waiting:
            with clock("dispatch"):
                await hub.call("POST", "/sms/v1/dispatch", json={"as_of": at(day, 9, 30)})
            reminders_waiting = False
        with clock("scorecards"):
            await close_scorecards(hub, m, at(day, 12))
        with clock("publish"):
            measured = await publish_day(hub, city, owners, day_index, m)
        with clock("feeds"):
            await read_feeds(hub, m, cursors, measured)
        if measured or day_index in city.published:
            with clock("settle"):
                await hub.settle()  # registry and alerting have today's records
        # End of the business day: timers due by then fire (reminders, deadlines).
        with clock("evaluate"):
            fired = (
                await hub.call("POST", "/alerting/v1/evaluate", json={"as_of": at(day, 23, 59, 59)})
            ).json()
        reminders_waiting = reminders_waiting or fired["reminders_due"] > 0
        if fired["timers_fired"] or fired["warnings_raised"] or fired["warnings_resolved"]:
            with clock("settle"):
                # reminders reach the SMS gateway, warnings the exchange
                await hub.settle()
        progress(day_index + 1)
    # The morning after the last day: the reminders of the last evening go out, and every
    # month ended by then has its scorecards published.
    following = city.end + timedelta(days=1)
    await hub.call("POST", "/sms/v1/dispatch", json={"as_of": at(following, 9, 30)})
    await close_scorecards(hub, m, at(following, 12))
    await hub.settle()
    m.elapsed_seconds = time.monotonic() - started
    return m
