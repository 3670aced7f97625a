"""A publish batch's quality tallies (quality/tally.py): what counts as filled, how delays
fall into buckets, which item a fault is on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from govhub_exchange.publishing.parsing import Incoming
from govhub_exchange.quality.tally import (
    ENVELOPE_ITEM,
    UNDECLARED_ITEM,
    delay_bucket,
    fault_item,
    tally,
)

ARRIVED = datetime(2008, 3, 3, 4, 0, tzinfo=UTC)  # 12:00 in Asia/Shanghai


def record(index: int, data: dict[str, object], late: timedelta | None) -> Incoming:
    item = Incoming(index=index, line=None)
    item.data = data
    item.business_time = None if late is None else ARRIVED - late
    return item


def test_filled_means_holding_something_and_zero_is_something() -> None:
    records = [
        record(0, {"a": "x", "b": 0, "c": False, "d": None}, timedelta(hours=1)),
        record(1, {"a": "", "b": [], "c": {}, "e": "undeclared"}, timedelta(days=3, hours=2)),
        record(2, {"a": "y"}, None),
    ]
    counts = tally(arrived_at=ARRIVED, accepted=records, rejected=[], declared=frozenset("abcd"))
    assert dict(zip(counts.filled_items, counts.filled_records, strict=True)) == {
        "a": 2,
        "b": 1,
        "c": 1,
    }
    assert dict(zip(counts.delay_buckets, counts.delay_records, strict=True)) == {
        3600: 1,
        3 * 86400: 1,
    }
    # 11:00 the same day; the other was dated 29 February (10:00 local).
    assert (counts.undated, counts.same_day) == (1, 1)


def test_delay_buckets_narrow_where_delays_are_short() -> None:
    assert delay_bucket(-30) == 0  # the publisher's clock ahead: no delay
    assert delay_bucket(119) == 60
    assert delay_bucket(3599) == 3540
    assert delay_bucket(3 * 3600 + 59) == 3 * 3600
    assert delay_bucket(2 * 86400 + 86399) == 2 * 86400
    assert delay_bucket(10 * 365 * 86400) == 366 * 86400


def test_a_fault_is_on_the_item_its_path_names() -> None:
    declared = frozenset({"uscc", "名称"})
    assert fault_item("$[3].data.uscc", declared) == "uscc"
    assert fault_item("$[3].data.uscc[0]", declared) == "uscc"
    assert fault_item('$[3].data["名称"]', declared) == "名称"
    assert fault_item("$[3].data.invented", declared) == UNDECLARED_ITEM
    assert fault_item("$[3].data", declared) == ENVELOPE_ITEM
    assert fault_item("$[3].business_time", declared) == ENVELOPE_ITEM
    rejected = Incoming(index=0, line=None)
    rejected.errors = [
        {"path": "$[0].data.uscc", "message": "bad"},
        {"path": "$[0].data.uscc", "message": "bad again"},
        {"path": "$[0].record_id", "message": "required"},
    ]
    rejected.fault_rules = {"$[0].data.uscc": "format"}
    counts = tally(arrived_at=ARRIVED, accepted=[], rejected=[rejected], declared=declared)
    # A record counts once per item and rule.
    assert list(zip(counts.fault_items, counts.fault_rules, counts.fault_records, strict=True)) == [
        (ENVELOPE_ITEM, "envelope", 1),
        ("uscc", "format", 1),
    ]
