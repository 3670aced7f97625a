"""Claim leases, the submit journal and the reconciliation of a dead sender's claims, decided
against the real PostgreSQL (a database of their own, migrated; no hub, no sender running,
so nothing else touches the rows)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from govhub_common import testing
from govhub_common.db import Database
from govhub_common.migrations import upgrade_async
from govhub_sms.app import SERVICE
from govhub_sms.events import record_status_changes
from govhub_sms.messages.schemas import MessageCreate
from govhub_sms.messages.service import Submission, submit_messages
from govhub_sms.providers.base import DeliveryReport, SubmitResult
from govhub_sms.sending.claims import SubmitJournal, recover_expired_claims
from govhub_sms.sending.gateway import build_gateway
from govhub_sms.sending.reports import apply_reports, store_reports
from govhub_sms.settings import SmsSettings
from govhub_sms.templates.service import install_city_templates
from tests.sms.support import random_mobile

NOW = datetime(2030, 6, 3, 2, 0, tzinfo=UTC)
LEASE = timedelta(seconds=30)


@pytest.fixture(scope="module")
async def db(admin_db_url: str) -> AsyncIterator[Database]:
    url = await testing.create_test_database(admin_db_url)
    await upgrade_async(SERVICE.migrations, url, SERVICE.schema)
    database = Database(url, pool_size=4)
    async with database.session() as session:
        await install_city_templates(
            session, path=SmsSettings().city_files, notification_opt_out=False
        )
    try:
        yield database
    finally:
        await database.close()
        await testing.drop_test_database(admin_db_url, url)


async def new_messages(db: Database, n: int) -> list[str]:
    async with db.session() as session:
        outcomes = await submit_messages(
            session,
            agency="gz-ltax",
            submissions=[
                Submission(
                    MessageCreate(
                        recipient=random_mobile(),
                        template="tax_registration_reminder",
                        params={"name": f"企业{i}", "deadline": "2030年7月20日"},
                    ),
                    uuid.uuid4().hex,
                )
                for i in range(n)
            ],
            as_of=NOW,
            ttl=timedelta(hours=72),
        )
    return [o.row["id"] for o in outcomes]


async def claim(
    db: Database, ids: list[str], *, owner: str, lease_s: float, journal: dict[str, Any]
) -> None:
    """Put messages where a sender's claim leaves them: `sending`, attempts counted, under
    `owner`'s lease, with `journal` (handed_at, acked_at, provider, provider_message_id)."""
    async with db.session() as session:
        await session.execute(
            sa.text(
                "UPDATE sms.messages SET status = 'sending', attempts = attempts + 1, "
                "sent_on = DATE '2030-06-03', claimed_at = now(), claimed_by = :owner, "
                "lease_until = clock_timestamp() + make_interval(secs => :lease), "
                "handed_at = CAST(:handed AS timestamptz), acked_at = CAST(:acked AS timestamptz), "
                "provider = :provider, provider_message_id = :pid "
                "WHERE id = ANY(CAST(:ids AS uuid[]))"
            ),
            {
                "ids": ids,
                "owner": owner,
                "lease": lease_s,
                "handed": journal.get("handed_at"),
                "acked": journal.get("acked_at"),
                "provider": journal.get("provider"),
                "pid": journal.get("provider_message_id"),
            },
        )


async def rows(db: Database, ids: list[str]) -> dict[str, Any]:
    async with db.session() as session:
        result = await session.execute(
            sa.text(
                "SELECT id::text AS id, status, reason, attempts, sent_on, provider, "
                "provider_message_id, claimed_by, lease_until FROM sms.messages "
                "WHERE id = ANY(CAST(:ids AS uuid[]))"
            ),
            {"ids": ids},
        )
        return {r["id"]: r for r in result.mappings()}


async def recover(db: Database) -> Any:
    async with db.session() as session:
        recovery = await recover_expired_claims(session, as_of=NOW)
        await record_status_changes(session, recovery.changes)
    return recovery


async def test_a_dead_senders_claims_are_reconciled_from_its_journal(db: Database) -> None:
    ids = await new_messages(db, 4)
    never_handed, acknowledged, unanswered, alive = ([i] for i in ids)
    handed = datetime.now(UTC) - timedelta(seconds=5)
    dead: dict[str, Any] = {"owner": "gw-0/41/dead", "lease_s": -1.0}
    await claim(db, never_handed, **dead, journal={})
    await claim(
        db,
        acknowledged,
        **dead,
        journal={
            "handed_at": handed,
            "acked_at": handed,
            "provider": "primary",
            "provider_message_id": "1A2B",
        },
    )
    await claim(db, unanswered, **dead, journal={"handed_at": handed, "provider": "primary"})
    # a live sender's slow submit: handed over long ago, but its lease is current
    await claim(
        db,
        alive,
        owner="gw-1/7/live",
        lease_s=30,
        journal={"handed_at": handed - timedelta(minutes=5), "provider": "primary"},
    )

    recovery = await recover(db)
    assert (recovery.requeued, recovery.sent, recovery.ambiguous) == (1, 1, 1)
    state = await rows(db, never_handed + acknowledged + unanswered + alive)

    queued = state[never_handed[0]]
    assert queued["status"] == "queued"
    assert queued["reason"].startswith("recovered: its sender gw-0/41/dead stopped before")
    # the provider never saw it: its attempt and its place under the daily caps come back
    assert (queued["attempts"], queued["sent_on"], queued["claimed_by"]) == (0, None, None)

    sent = state[acknowledged[0]]
    assert (sent["status"], sent["provider_message_id"]) == ("sent", "1A2B")
    assert sent["reason"] == (
        "recovered: primary acknowledged it as 1A2B before its sender stopped; awaiting the receipt"
    )

    ambiguous = state[unanswered[0]]
    assert ambiguous["status"] == "ambiguous"
    assert ambiguous["reason"].startswith("ambiguous: handed to primary by gw-0/41/dead")
    assert ambiguous["sent_on"] is not None  # it may have reached the handset: it counts

    assert state[alive[0]]["status"] == "sending"
    assert state[alive[0]]["claimed_by"] == "gw-1/7/live"

    async with db.session() as session:
        history = (
            await session.execute(
                sa.text(
                    "SELECT status FROM sms.message_history WHERE message_id = ANY("
                    "CAST(:ids AS uuid[])) AND reason IS NOT NULL ORDER BY id"
                ),
                {"ids": never_handed + acknowledged + unanswered},
            )
        ).scalars()
        assert sorted(history) == ["ambiguous", "queued", "sent"]
    assert (await recover(db)).total == 0  # done once


async def test_replicas_recovering_at_once_take_each_claim_once(db: Database) -> None:
    ids = await new_messages(db, 40)
    await claim(db, ids, owner="gw-2/9/dead", lease_s=-1.0, journal={})
    first, second = await asyncio.gather(recover(db), recover(db))
    assert first.requeued + second.requeued == 40
    assert {r["status"] for r in (await rows(db, ids)).values()} == {"queued"}


async def test_a_live_sender_keeps_its_claims_and_loses_a_lapsed_one(db: Database) -> None:
    journal = SubmitJournal(db, timedelta(seconds=1.5))
    [kept, lapsed] = await new_messages(db, 2)
    await claim(db, [kept], owner=journal.owner, lease_s=1.5, journal={})
    await claim(db, [lapsed], owner=journal.owner, lease_s=1.5, journal={})
    renewing = asyncio.create_task(journal.keep_leases([kept]))
    try:
        await asyncio.sleep(2.2)  # past the first lease: only the renewed one is still ours
        assert (await recover(db)).requeued == 1
        state = await rows(db, [kept, lapsed])
        assert state[kept]["status"] == "sending"
        assert state[lapsed]["status"] == "queued"
        # the handover is recorded only under the claim: the lapsed one must not be sent
        assert await journal.hand_over(kept, "primary") is True
        assert await journal.hand_over(lapsed, "primary") is False
        await journal.acknowledged(kept, SubmitResult("00FF", 1))
        await journal.acknowledged(lapsed, SubmitResult("0100", 1))
    finally:
        renewing.cancel()
    state = await rows(db, [kept, lapsed])
    assert (state[kept]["provider"], state[kept]["provider_message_id"]) == ("primary", "00FF")
    assert state[lapsed]["provider_message_id"] is None


async def test_a_receipt_reconciles_the_one_ambiguous_message_to_its_handset(
    db: Database,
) -> None:
    [alone, twin_a, twin_b] = await new_messages(db, 3)
    handed = {"handed_at": datetime.now(UTC), "provider": "primary"}
    await claim(db, [alone, twin_a, twin_b], owner="gw-3/1/dead", lease_s=-1.0, journal=handed)
    async with db.session() as session:
        await session.execute(
            sa.text(
                "UPDATE sms.messages SET recipient = (SELECT recipient FROM sms.messages "
                "WHERE id = CAST(:a AS uuid)) WHERE id = CAST(:b AS uuid)"
            ),
            {"a": twin_a, "b": twin_b},
        )
    assert (await recover(db)).ambiguous == 3
    async with db.session() as session:
        recipients = dict(
            (
                await session.execute(
                    sa.text(
                        "SELECT id::text, recipient FROM sms.messages "
                        "WHERE id = ANY(CAST(:ids AS uuid[]))"
                    ),
                    {"ids": [alone, twin_a]},
                )
            ).all()
        )
    settings = SmsSettings()
    gateway = build_gateway(settings)
    reports = [
        # what the provider reports of a receipt no submit of its own explains
        ("primary", DeliveryReport("6699", "delivered", None, None, None, recipients[alone])),
        ("primary", DeliveryReport("6700", "delivered", None, None, None, recipients[twin_a])),
        # another provider's receipt to the same handset is not this message's
        ("backup", DeliveryReport("77", "delivered", None, None, None, recipients[alone])),
    ]
    async with db.session() as session:
        await store_reports(session, reports)
        applied = await apply_reports(session, settings=settings, gateway=gateway, as_of=NOW)
    assert applied == 1
    state = await rows(db, [alone, twin_a, twin_b])
    assert (state[alone]["status"], state[alone]["provider_message_id"]) == ("delivered", "6699")
    assert state[alone]["reason"].startswith("reconciled: a delivery receipt from primary")
    # two ambiguous messages to one handset: the receipt cannot tell which, both wait
    assert {state[twin_a]["status"], state[twin_b]["status"]} == {"ambiguous"}
