"""A publish batch's data-quality tallies (docs/quality.md), computed in the request beside
the judgement and written by exchange.append_batch with the batch: delays by bucket,
records filling each data item, faults by data item and rule."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import chain
from typing import Any

from govhub_common.clock import business_date, start_of_business_day
from govhub_exchange.publishing.parsing import Incoming

MINUTE, HOUR, DAY = 60, 3600, 86400
# A year or more late is one bucket: the histogram stays bounded whatever a publisher sends.
LONGEST = 366 * DAY

# The item of a fault outside the data, and of data items the topic does not declare
# (bounded: a hostile publisher's invented names do not become rows).
ENVELOPE_ITEM = "(envelope)"
UNDECLARED_ITEM = "(undeclared)"

_DATA_ITEM = re.compile(r"^\$\[\d+\]\.data(?:\.([^.\[]+)|\[(?:\"((?:[^\"\\]|\\.)*)\"|(\d+))\])?")


def delay_bucket(seconds: float) -> int:
    """The lower bound of the delay's bucket: by the minute under an hour, by the hour under
    a day, by the day beyond (capped at LONGEST). A record dated after its arrival (a
    publisher's clock ahead) counts as no delay."""
    if seconds < HOUR:
        width = MINUTE
    elif seconds < DAY:
        width = HOUR
    else:
        return min(int(seconds // DAY) * DAY, LONGEST)
    return max(int(seconds // width) * width, 0)


def filled(value: Any) -> bool:
    """An item is filled when it holds something: not null, not an empty string, array or
    object."""
    return value is not None and value != "" and value != [] and value != {}


@dataclass(frozen=True)
class Tallies:
    delay_buckets: list[int]
    delay_records: list[int]
    undated: int
    same_day: int
    filled_items: list[str]
    filled_records: list[int]
    fault_items: list[str]
    fault_rules: list[str]
    fault_records: list[int]

    def arguments(self) -> dict[str, Any]:
        """exchange.append_batch's tally parameters (without the p_ prefix)."""
        return {
            "delay_buckets": self.delay_buckets,
            "delay_records": self.delay_records,
            "undated": self.undated,
            "same_day": self.same_day,
            "filled_items": self.filled_items,
            "filled_records": self.filled_records,
            "fault_items": self.fault_items,
            "fault_rules": self.fault_rules,
            "fault_records": self.fault_records,
        }


def fault_item(path: str, declared: frozenset[str]) -> str:
    """The data item a fault's path points into: `$[3].data.uscc` -> uscc. A fault of the
    record's envelope (record_id, business_time ...) or of the data as a whole is the
    envelope's; an item the topic does not declare is UNDECLARED_ITEM."""
    match = _DATA_ITEM.match(path)
    if match is None:
        return ENVELOPE_ITEM
    name = match.group(1) or match.group(2)
    if name is None:
        return ENVELOPE_ITEM
    return name if name in declared else UNDECLARED_ITEM


def tally(
    *,
    arrived_at: datetime,
    accepted: Iterable[Incoming],
    rejected: Iterable[Incoming],
    declared: frozenset[str],
) -> Tallies:
    """The tallies of one batch: `accepted` are the records appended (duplicates are not),
    `declared` the topic's data items."""
    # The publish path's hot loop, about half a millisecond for 1,000 records: a batch's
    # records share few business times, items are counted by Counter in C, and a record's
    # values are looked at one by one only when one of them is falsy.
    records = [item for item in accepted]
    moments: Counter[datetime | None] = Counter(item.business_time for item in records)
    undated = moments.pop(None, 0)
    day_start = start_of_business_day(business_date(arrived_at))
    day_end = day_start + timedelta(days=1)
    delays: Counter[int] = Counter()
    same_day = 0
    for moment, n in moments.items():
        assert moment is not None
        delays[delay_bucket((arrived_at - moment).total_seconds())] += n
        if day_start <= moment < day_end:
            same_day += n
    datas = [item.data for item in records if item.data]
    fills: Counter[str] = Counter(chain.from_iterable(map(dict.keys, datas)))
    empty = [
        k
        for data in datas
        if not all(data.values())  # 0 and false are filled: judged one by one
        for k, v in data.items()
        if not filled(v)
    ]
    fills.subtract(Counter(empty))
    fills = Counter({k: n for k, n in fills.items() if n > 0 and k in declared})
    faults: Counter[tuple[str, str]] = Counter()
    for item in rejected:
        # A record counts once per (item, rule), however many faults it has there.
        faults.update(
            {
                (fault_item(e["path"], declared), item.fault_rules.get(e["path"], "envelope"))
                for e in item.errors
            }
        )
    buckets = sorted(delays)
    items = sorted(fills)
    keys = sorted(faults)
    return Tallies(
        delay_buckets=buckets,
        delay_records=[delays[b] for b in buckets],
        undated=undated,
        same_day=same_day,
        filled_items=items,
        filled_records=[fills[i] for i in items],
        fault_items=[i for i, _ in keys],
        fault_rules=[r for _, r in keys],
        fault_records=[faults[k] for k in keys],
    )
