"""Old records in compressed blocks (docs/exchange.md, "Blocks: the log's old records
compressed"): log maintenance moves records a day old into blocks of up to 1,000; feeds,
the delivery list, duplicates and new versions see the log exactly as before."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import pytest
from alembic import command

import govhub_exchange
from govhub_common.db import asyncpg_dsn
from govhub_common.migrations import alembic_config, upgrade
from govhub_common.pagination import encode_cursor
from govhub_common.testing import Hub, wait_for
from govhub_exchange.archive.blocks import PARTIAL_BLOCK_WAIT
from govhub_exchange.delivery import service as delivery
from govhub_exchange.settings import ExchangeSettings
from tests.exchange.support import (
    BASE,
    agency_headers,
    enterprise,
    maintain_log,
    make_agency,
    make_topic,
    publish,
    subscribe,
    topic_gauge,
)

MIGRATIONS = Path(govhub_exchange.__file__).parent / "migrations"
# Every column of every record of the log, in order, wherever it is stored.
_COLUMNS = (
    "SELECT topic_code, seq, record_id, version, topic_version, business_time, published_at, "
    "publisher, data::text FROM {log} ORDER BY topic_code, seq"
)


async def _pages(hub: Hub, sub_id: int, headers: dict[str, str], after: int, limit: int) -> bytes:
    """Every page from a cursor to the head, their bodies joined."""
    bodies, cursor = [], encode_cursor(after)
    while cursor:
        reply = await hub.client.get(
            f"{BASE}/subscriptions/{sub_id}/records",
            params={"cursor": cursor, "limit": limit, "wait": 0},
            headers=headers,
        )
        assert reply.status_code == 200, reply.text
        bodies.append(reply.content)
        cursor = reply.json()["next"]
    return b"\n".join(bodies)


async def _deliveries(hub: Hub, headers: dict[str, str], **params: object) -> list[int]:
    """The seqs of every page of the topic's delivery list, 400 rows a page."""
    seqs: list[int] = []
    cursor = None
    while True:
        query = {**params, "limit": 400, **({"cursor": cursor} if cursor else {})}
        reply = await hub.client.get(f"{BASE}/deliveries", params=query, headers=headers)
        assert reply.status_code == 200, reply.text
        seqs += [d["seq"] for d in reply.json()["data"]]
        if not (cursor := reply.json()["next"]):
            return seqs


async def test_old_records_move_into_blocks_and_read_the_same(
    hub: Hub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    owner, reader = await make_agency(hub), await make_agency(hub)
    topic = await make_topic(hub, owner)
    sub = await subscribe(hub, reader, topic, ["uscc", "name"])
    # An operator's reads move no position, so the same pages can be read again.
    operator = hub.operator()
    for b in range(0, 2_500, 500):
        sent = [{"record_id": f"R{i}", "data": enterprise(i)} for i in range(b, b + 500)]
        await publish(hub, owner, topic, sent)
    reads = [(0, 1000), (0, 333), (995, 10), (1995, 10), (2499, 5)]
    before = [await _pages(hub, sub["id"], operator, after, limit) for after, limit in reads]

    # A day later, the two whole blocks of 1,000 move; the 500 after them are too few.
    done = await maintain_log(hub, tmp_path, days_ahead=2)
    assert done.compressed[topic] == 2_000
    async with hub.runtime.db.autocommit() as raw:
        blocks = await raw.fetch(
            "SELECT first_seq, last_seq, pg_column_size(data) AS stored, "
            "(SELECT sum(pg_column_size(d)) FROM unnest(data) d) AS plain "
            "FROM exchange.record_blocks WHERE topic_code = $1 ORDER BY last_seq",
            topic,
        )
        rows = await raw.fetchval(
            "SELECT count(*) FROM exchange.records WHERE topic_code = $1", topic
        )
    assert [(b["first_seq"], b["last_seq"]) for b in blocks] == [(1, 1000), (1001, 2000)]
    assert rows == 500
    # Compressed: each block's data in less than half the bytes of its records'.
    assert all(b["stored"] * 2 < b["plain"] for b in blocks), [tuple(b) for b in blocks]
    # Moving nothing twice: a second round finds no whole block old enough.
    assert topic not in (await maintain_log(hub, tmp_path, days_ahead=2)).compressed

    # Every read, across blocks and into the rows, byte for byte as before.
    after = [await _pages(hub, sub["id"], operator, a, limit) for a, limit in reads]
    assert after == before
    # The subscriber's own read from an old cursor: its position moves as before.
    own = agency_headers(hub, reader)
    page = await hub.client.get(
        f"{BASE}/subscriptions/{sub['id']}/records",
        params={"cursor": encode_cursor(998), "limit": 4, "wait": 0},
        headers=own,
    )
    assert [r["seq"] for r in page.json()["data"]] == [999, 1000, 1001, 1002]
    assert [r["record_id"] for r in page.json()["data"]] == ["R998", "R999", "R1000", "R1001"]
    assert page.json()["data"][0]["data"] == {k: enterprise(998)[k] for k in ("uscc", "name")}
    stats = (await hub.client.get(f"{BASE}/subscriptions/{sub['id']}/stats", headers=own)).json()
    assert stats["acked_seq"] == 998

    # The delivery list shows a record kept in a block.
    listed = await hub.client.get(
        f"{BASE}/deliveries",
        params={"topic": topic, "record_id": "R17"},
        headers=agency_headers(hub, owner),
    )
    assert listed.status_code == 200, listed.text
    assert [(d["seq"], d["record_id"]) for d in listed.json()["data"]] == [(18, "R17")]

    # Duplicates of blocked records are still known; a change is the next version.
    again = await publish(hub, owner, topic, [{"record_id": "R5", "data": enterprise(5)}])
    assert again["counts"]["duplicates"] == 1
    changed = await publish(
        hub, owner, topic, [{"record_id": "R5", "data": enterprise(5, name="广州新名称有限公司")}]
    )
    (accepted,) = changed["accepted"]
    assert (accepted["seq"], accepted["version"]) == (2_501, 2)

    # The delivery list, newest first, read in windows of seqs (here 300: pages and
    # windows cross each other and the blocks' edges): every record once, in order.
    monkeypatch.setattr(delivery, "DELIVERY_WINDOW", 300)
    owners = agency_headers(hub, owner)
    assert await _deliveries(hub, owners, topic=topic) == list(range(2_501, 0, -1))
    acknowledged = await _deliveries(hub, owners, topic=topic, status="acknowledged")
    assert acknowledged == list(range(998, 0, -1))
    assert await _deliveries(hub, owners, topic=topic, record_id="R5") == [2_501, 6]
    assert await _deliveries(hub, owners, topic=topic, record_id="nobody") == []

    # A week on, the last 501, fewer than a block, go too; the log reads as before.
    whole = await _pages(hub, sub["id"], operator, 0, 1000)
    assert (await maintain_log(hub, tmp_path, days_ahead=8)).compressed[topic] == 501
    async with hub.runtime.db.autocommit() as raw:
        assert await raw.fetchval(
            "SELECT array_agg(first_seq || '-' || last_seq ORDER BY last_seq) "
            "FROM exchange.record_blocks WHERE topic_code = $1",
            topic,
        ) == ["1-1000", "1001-2000", "2001-2501"]
    assert await _pages(hub, sub["id"], operator, 0, 1000) == whole


async def test_blocks_go_back_into_rows_on_downgrade(fresh_db_url: str) -> None:
    """Migration 0015 moves nothing; its downgrade puts every blocked record back in its row."""
    await asyncio.to_thread(upgrade, MIGRATIONS, fresh_db_url, "exchange", "head")
    raw = await asyncpg.connect(asyncpg_dsn(fresh_db_url))
    try:
        await raw.execute("INSERT INTO exchange.agencies (code, name) VALUES ('t-owner', '测试局')")
        await raw.execute(
            "INSERT INTO exchange.topics (code, owner, title, sharing_type, head_seq) "
            "VALUES ('t_enterprises', 't-owner', '企业开业登记', 'unconditional', 1200)"
        )
        await raw.execute("SELECT exchange.add_segments('t_enterprises', 1200)")
        await raw.execute(
            "INSERT INTO exchange.records SELECT 't_enterprises', g, 'E' || g, 1, 1, "
            "CASE WHEN g % 2 = 0 THEN timestamptz '2008-03-01 09:30+08' END, "
            "now() - interval '2 days', 't-owner', jsonb_build_object('name', '企业' || g) "
            "FROM generate_series(1, 1200) g"
        )
        stored = [tuple(r) for r in await raw.fetch(_COLUMNS.format(log="exchange.records"))]
        moved = await raw.fetchval(
            "SELECT exchange.compress_records('t_enterprises', now() - interval '1 day', "
            "now() - interval '7 days', 100000)"
        )
        assert moved == 1000  # one whole block; the 200 after it are too few
        assert [tuple(r) for r in await raw.fetch(_COLUMNS.format(log="exchange.log"))] == stored
        config = alembic_config(MIGRATIONS, fresh_db_url, "exchange")
        await asyncio.to_thread(command.downgrade, config, "0014")
        assert [
            tuple(r) for r in await raw.fetch(_COLUMNS.format(log="exchange.records"))
        ] == stored
    finally:
        await raw.close()


async def test_records_left_as_rows_show_in_a_gauge_until_compressed(
    hub: Hub, tmp_path: Path
) -> None:
    """govhub_exchange_log_compression_overdue_seconds (the GovhubLogCompressionOverdue
    alert): 0 while each topic's oldest row is younger than the compress age, the wait of a
    block's last few records and one maintenance round; how far past that it is otherwise;
    0 again once the maintenance has moved it."""
    owner = await make_agency(hub)
    topic, empty = await make_topic(hub, owner), await make_topic(hub, owner)
    await publish(
        hub, owner, topic, [{"record_id": f"R{i}", "data": enterprise(i)} for i in range(3)]
    )

    async def overdue(code: str) -> float | None:
        return await topic_gauge(hub, "govhub_exchange_log_compression_overdue_seconds", code)

    async def within() -> bool:
        return await overdue(topic) == 0.0

    async def past() -> float | None:
        return await overdue(topic) or None

    async def both_within() -> bool:
        # No rows (the empty topic): nothing left behind either.
        return await within() and await overdue(empty) == 0.0

    await wait_for(both_within, timeout=10)
    # Published five hours past the latest the maintenance would have moved them.
    settings = ExchangeSettings()
    allowed = (
        settings.log_compress_after_hours * 3600
        + PARTIAL_BLOCK_WAIT.total_seconds()
        + settings.log_maintenance_seconds
    )
    async with hub.runtime.db.autocommit() as raw:
        await raw.execute(
            "UPDATE exchange.records SET published_at = now() - make_interval(secs => $2) "
            "WHERE topic_code = $1",
            topic,
            allowed + 5 * 3600,
        )
    late = await wait_for(past, timeout=10)
    assert 4.9 * 3600 < late < 5.1 * 3600

    done = await maintain_log(hub, tmp_path, days_ahead=0)
    assert done.compressed[topic] == 3
    await wait_for(within, timeout=10)
