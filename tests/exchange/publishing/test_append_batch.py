"""exchange.append_batch, what one publish writes in one statement: the migrated database
holds the canonical definition (publishing/append_batch.sql), and the service's call by
parameter names writes the records, the event, the quarantine and the batch."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from govhub_common.event_contracts import parse_data
from govhub_common.events import CloudEvent
from govhub_common.outbox import outbox_channel
from govhub_common.testing import Hub
from govhub_exchange.delivery.notify import RECORDS_CHANNEL
from govhub_exchange.publishing.append_batch import append_batch, definition, parameters
from tests.exchange.support import make_agency, make_topic


async def test_the_migrated_function_is_the_canonical_definition(hub: Hub) -> None:
    async with hub.runtime.db.autocommit() as raw:
        row = await raw.fetchrow(
            "SELECT prosrc, pg_get_function_arguments(p.oid) AS arguments "
            "FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
            "WHERE n.nspname = 'exchange' AND p.proname = 'append_batch'"
        )
        # The file's type names as PostgreSQL spells them (timestamptz: timestamp with ...).
        spelled = await raw.fetchval(
            "SELECT array_agg(format_type(to_regtype(t), NULL) ORDER BY i) "
            "FROM unnest($1::text[]) WITH ORDINALITY AS u(t, i)",
            [kind for _, kind in parameters()],
        )
    body = definition().split("$fn$")[1]
    # A change to append_batch.sql without a migration carrying it (or the reverse) fails.
    assert row["prosrc"] == body
    names = [name for name, _ in parameters()]
    assert row["arguments"] == ", ".join(f"{n} {t}" for n, t in zip(names, spelled, strict=True))


async def test_a_call_by_names_writes_the_batch(hub: Hub) -> None:
    owner = await make_agency(hub)
    topic = await make_topic(hub, owner)
    batch_id, now = uuid.uuid4(), datetime.now(UTC)
    envelope = '"record_id":"a","version":1,"topic_version":1,"business_time":null,'
    envelope += f'"published_at":"{now.isoformat()}","data":'
    # The event around the records, as the service frames it: a whole CloudEvent, since the
    # relay publishes it and every consumer of this shared hub reads it.
    event = CloudEvent(
        source="govhub/exchange",
        type="exchange.record.published",
        subject=topic,
        routing_suffix=topic,
        data={
            "topic": topic,
            "topic_version": 1,
            "publisher": owner,
            "batch_id": str(batch_id),
            "counts": {"accepted": 1, "duplicates": 0, "rejected": 1},
            "records": "RECORDS",
        },
    )
    event_head, event_tail = event.to_json().decode().split('"RECORDS"')
    async with hub.runtime.db.autocommit() as raw:
        head = await raw.fetchval("SELECT head_seq FROM exchange.topics WHERE code = $1", topic)
        first = await append_batch(
            raw,
            topic=topic,
            publisher=owner,
            batch_id=batch_id,
            seen_head=head,
            published_at=now,
            record_ids=["a"],
            versions=[1],
            topic_versions=[1],
            hashes=[b"h"],
            business_times=[None],
            data=['{"uscc": "91440101MA59ABCD1D"}'],
            envelopes=[envelope],
            event_id=event.id,
            event_type=event.type,
            routing_key=event.routing_key,
            event_head=event_head + "[",
            event_tail="]" + event_tail,
            outbox_channel=outbox_channel("exchange"),
            records_channel=RECORDS_CHANNEL,
            dup_ids=[],
            dup_versions=[],
            q_index=[1],
            q_line=[None],
            q_record_id=["b"],
            q_payload=['{"record_id": "b"}'],
            q_errors=['[{"path": "$.data", "message": "required"}]'],
            arrived_at=now,
            delay_buckets=[],
            delay_records=[],
            undated=1,
            same_day=0,
            filled_items=["uscc"],
            filled_records=[1],
            fault_items=["(envelope)"],
            fault_rules=["envelope"],
            fault_records=[1],
        )
        assert first == head + 1
        record = await raw.fetchrow(
            "SELECT seq, record_id, publisher, data FROM exchange.records "
            "WHERE topic_code = $1 AND record_id = 'a'",
            topic,
        )
        assert (record["seq"], record["publisher"]) == (first, owner)
        payload = await raw.fetchval(
            "SELECT payload::text FROM exchange.outbox WHERE event_id = $1", uuid.UUID(event.id)
        )
        staged = CloudEvent.from_json(payload)
        parse_data(staged)  # the event keeps its contract
        (published,) = staged.data["records"]
        assert (published["seq"], published["record_id"]) == (first, "a")
        assert published["data"] == {"uscc": "91440101MA59ABCD1D"}
        quarantined = await raw.fetchval(
            "SELECT record_id FROM exchange.quarantine WHERE batch_id = $1", batch_id
        )
        assert quarantined == "b"
        batch = await raw.fetchrow(
            "SELECT accepted, rejected, first_seq, last_seq FROM exchange.publish_batches "
            "WHERE batch_id = $1",
            batch_id,
        )
        assert tuple(batch) == (1, 1, first, first)
        # The day's quality figures took the batch's tallies.
        day = await raw.fetchrow(
            "SELECT received, accepted, rejected, undated FROM exchange.quality_days "
            "WHERE topic_code = $1 AND publisher = $2",
            topic,
            owner,
        )
        assert tuple(day) == (2, 1, 1, 1)
        assert (
            await raw.fetchval(
                "SELECT records FROM exchange.quality_filled WHERE topic_code = $1 AND item = 'uscc'",
                topic,
            )
            == 1
        )


async def test_a_call_missing_a_parameter_is_refused_before_the_database(hub: Hub) -> None:
    async with hub.runtime.db.autocommit() as raw:
        with pytest.raises(TypeError, match=r"missing \['p_dup_ids'.*unknown \['p_dups'\]"):
            await append_batch(raw, **{name[2:]: None for name, _ in parameters()
                                       if name not in ("p_dup_ids",)}, dups=[])  # fmt: skip
