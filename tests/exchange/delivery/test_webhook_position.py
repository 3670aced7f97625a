"""The webhook position (`webhook_delivered_seq`) and the stats that show it, with the
recorders and readers interleaved deterministically on real PostgreSQL connections.

The subscription has no webhook URL, so the hub's own dispatcher never claims its
deliveries: the rows are written here and outcomes recorded as the dispatcher records them."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from types import SimpleNamespace
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from govhub_common.testing import Hub
from govhub_exchange.delivery.service import subscription_stats
from govhub_exchange.delivery.webhooks import Outcome, record_outcomes
from tests.exchange.support import enterprise, make_agency, make_topic, publish, subscribe


async def deliveries_awaiting(
    hub: Hub, records: int, delivered: int
) -> tuple[int, SimpleNamespace]:
    """A subscription with a delivery per record, the first `delivered` of them delivered
    and its position there; the others in flight (claimed, being posted)."""
    owner, reader = await make_agency(hub), await make_agency(hub)
    topic = await make_topic(hub, owner)
    sub = int((await subscribe(hub, reader, topic, ["uscc"]))["id"])
    await publish(
        hub, owner, topic, [{"record_id": f"Q{n}", "data": enterprise(n)} for n in range(records)]
    )
    async with hub.runtime.db.session() as session:
        await session.execute(
            sa.text(
                "INSERT INTO exchange.webhook_deliveries (subscription_id, seq, webhook_id, "
                "status, attempts, delivered_at, leased_until) "
                "SELECT CAST(:sub AS bigint), q, 'msg_' || CAST(:sub AS text) || '_' || q, "
                "CASE WHEN q <= CAST(:delivered AS bigint) THEN 'delivered' ELSE 'pending' END, 1, "
                "CASE WHEN q <= :delivered THEN now() END, "
                "CASE WHEN q > :delivered THEN now() + interval '1 minute' END "
                "FROM generate_series(1, CAST(:records AS bigint)) AS q"
            ),
            {"sub": sub, "records": records, "delivered": delivered},
        )
        await session.execute(
            sa.text("UPDATE exchange.subscriptions SET webhook_delivered_seq = :d WHERE id = :sub"),
            {"sub": sub, "d": delivered},
        )
    return sub, SimpleNamespace(agency=reader, topic=topic)


def success(sub: int, reader: SimpleNamespace, seq: int) -> Outcome:
    """A delivery's post answered 200, as the claim's row describes it."""
    row = SimpleNamespace(
        subscription_id=sub,
        seq=seq,
        attempts=1,
        probe=False,
        subscriber=reader.agency,
        topic_code=reader.topic,
    )
    return Outcome(row, None, 200)


async def position(hub: Hub, sub: int) -> int:
    async with hub.runtime.db.session() as session:
        return int(
            (
                await session.execute(
                    sa.text(
                        "SELECT webhook_delivered_seq FROM exchange.subscriptions WHERE id = :id"
                    ),
                    {"id": sub},
                )
            ).scalar_one()
        )


async def waiting_for_a_lock(hub: Hub, pid: int) -> None:
    """Until the backend `pid` waits for a lock (a heavyweight or advisory one)."""
    for _ in range(500):
        async with hub.runtime.db.session() as session:
            waiting = (
                await session.execute(
                    sa.text("SELECT wait_event_type FROM pg_stat_activity WHERE pid = :pid"),
                    {"pid": pid},
                )
            ).scalar_one_or_none()
        if waiting == "Lock":
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"backend {pid} never waited for a lock")


async def test_concurrent_recorders_leave_the_position_at_the_last_delivery(hub: Hub) -> None:
    """Two recorders of one subscription: the second, started while the first has marked
    its delivery but not committed, waits, then sees it, whichever of the two seqs each
    records. Nothing delivered is left behind the position."""
    settings = hub.runtime.settings
    for first_seq, second_seq in ((2, 3), (3, 2)):
        sub, reader = await deliveries_awaiting(hub, records=3, delivered=1)
        first = hub.runtime.db.sessionmaker()
        second = hub.runtime.db.sessionmaker()
        try:
            await record_outcomes(first, [success(sub, reader, first_seq)], settings)
            pid = int((await second.execute(sa.text("SELECT pg_backend_pid()"))).scalar_one())
            recording = asyncio.create_task(
                record_outcomes(second, [success(sub, reader, second_seq)], settings)
            )
            await waiting_for_a_lock(hub, pid)
            assert not recording.done()
            await first.commit()
            await asyncio.wait_for(recording, timeout=10)
            await second.commit()
        finally:
            await first.close()
            await second.close()
        assert await position(hub, sub) == 3, (first_seq, second_seq)


class CommitsBetweenStatements:
    """A session whose first statement is followed by `between` (another transaction's
    commit): what a reader's separate statements see when a recorder commits between them."""

    def __init__(self, session: AsyncSession, between: Callable[[], Awaitable[None]]) -> None:
        self.session = session
        self.between: Callable[[], Awaitable[None]] | None = between

    async def execute(self, *args: Any, **kwargs: Any) -> Any:
        result = await self.session.execute(*args, **kwargs)
        if self.between is not None:
            between, self.between = self.between, None
            await between()
        return result


async def test_stats_show_the_position_and_the_deliveries_at_one_moment(hub: Hub) -> None:
    """The last delivery is recorded (the position advanced with it, in one transaction)
    while the stats are read: they show either moment, never the deliveries of one with
    the position of the other (all delivered, yet lag 1)."""
    settings = hub.runtime.settings
    sub, reader = await deliveries_awaiting(hub, records=3, delivered=2)
    recorder = hub.runtime.db.sessionmaker()
    try:
        await record_outcomes(recorder, [success(sub, reader, 3)], settings)
        async with hub.runtime.db.session() as session:
            reader_session = CommitsBetweenStatements(session, recorder.commit)
            stats = await subscription_stats(
                cast(AsyncSession, reader_session), subscription_id=sub
            )
    finally:
        await recorder.close()
    delivered = stats["webhook"]["delivered"]["count"]
    pending = stats["webhook"].get("pending", {}).get("count", 0)
    seen = (delivered, pending, stats["webhook_delivered_seq"], stats["lag_records"])
    assert seen in {(2, 1, 2, 1), (3, 0, 3, 0)}, seen
    assert stats["head_seq"] == 3
    # And the position did advance with the delivery.
    assert await position(hub, sub) == 3
    # The post counts in the subscriber's webhook figures of the day (its scorecard).
    async with hub.runtime.db.session() as session:
        figures = (
            await session.execute(
                sa.text(
                    "SELECT attempts, failures, dead FROM exchange.quality_webhook_days "
                    "WHERE subscriber = :s AND topic_code = :t"
                ),
                {"s": reader.agency, "t": reader.topic},
            )
        ).one()
    assert tuple(figures) == (1, 0, 0)
