"""Delivery receipts: parsing the SMPP receipt text and matching receipts to messages.

SMSCs disagree on how they write a message id: many answer ``submit_sm_resp`` with a hex id
("1A2B") and put the same id in decimal ("6699") into the receipt, some the other way round,
some zero-pad. :class:`ReceiptTracker` matches a receipt id to a submitted part under three
readings ("same" string, resp hex = receipt decimal, resp decimal = receipt hex). In
``auto`` mode it learns the reading from the first receipt that only one reading explains
and then sticks to it, so a decimal receipt "16" is not taken for a hex "10" once the
peer's habit is known.

Receipts may overtake the ``submit_sm_resp`` they belong to (they travel on another queue),
so a receipt that matches nothing waits ``orphan_grace_s`` for its part to be registered;
after that it is reported with ``message_id=None`` and the receipt's own id, for the caller
to match against its stored provider ids.
"""

from __future__ import annotations

import re
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Literal

from govhub_sms.providers.base import DeliveryReport, ReportStatus

IdFormat = Literal["auto", "same", "hex_dec", "dec_hex"]
Strategy = Literal["same", "hex_dec", "dec_hex"]
_STRATEGIES: tuple[Strategy, ...] = ("same", "hex_dec", "dec_hex")

CHINA_TZ = timezone(timedelta(hours=8))

# Final states of a receipt's "stat:" field; ENROUTE / ACCEPTD are not final.
_STAT: dict[str, ReportStatus | None] = {
    "DELIVRD": "delivered",
    "DELIVERED": "delivered",
    "EXPIRED": "expired",
    "UNDELIV": "failed",
    "UNDELIVERABLE": "failed",
    "REJECTD": "failed",
    "REJECTED": "failed",
    "DELETED": "failed",
    "UNKNOWN": "failed",
    "ENROUTE": None,
    "ACCEPTD": None,
    "ACCEPTED": None,
}
# TLV message_state values (SMPP 3.4 section 5.3.2.35).
_MESSAGE_STATE: dict[int, ReportStatus | None] = {
    1: None,
    2: "delivered",
    3: "expired",
    4: "failed",
    5: "failed",
    6: None,
    7: "failed",
    8: "failed",
}

_FIELD = re.compile(r"(id|sub|dlvrd|submit date|done date|stat|err)\s*:\s*(\S+)", re.IGNORECASE)
_LOOKS_LIKE_RECEIPT = re.compile(r"^\s*id\s*:\s*\S+.*\bstat\s*:\s*\w+", re.IGNORECASE | re.DOTALL)


@dataclass(frozen=True, slots=True)
class Receipt:
    message_id: str
    """The id as the receipt spells it."""
    status: ReportStatus | None
    """None for an intermediate state (ENROUTE, ACCEPTD)."""
    stat: str
    error_code: str | None
    done_at: datetime | None
    recipient: str | None = None
    """The handset (the receipt's source address), E.164 where known."""


def looks_like_receipt_text(text: str) -> bool:
    return bool(_LOOKS_LIKE_RECEIPT.match(text))


def _parse_date(value: str | None, tz: tzinfo) -> datetime | None:
    if not value or not value.isdigit():
        return None
    fmt = {10: "%y%m%d%H%M", 12: "%y%m%d%H%M%S", 14: "%Y%m%d%H%M%S"}.get(len(value))
    if fmt is None:
        return None
    try:
        return datetime.strptime(value, fmt).replace(tzinfo=tz)
    except ValueError:
        return None


def parse_receipt(
    text: str,
    *,
    receipted_message_id: str | None = None,
    message_state: int | None = None,
    network_error: str | None = None,
    tz: tzinfo = CHINA_TZ,
) -> Receipt | None:
    """Parse ``id:... sub:... dlvrd:... submit date:... done date:... stat:... err:...``.

    The TLVs ``receipted_message_id`` / ``message_state``, when the SMSC sends them, win
    over the text. Returns None when neither gives an id and a state.
    """
    fields: dict[str, str] = {}
    for m in _FIELD.finditer(text):
        fields.setdefault(m.group(1).lower(), m.group(2))
    msg_id = receipted_message_id or fields.get("id")
    stat = fields.get("stat", "").upper()
    if message_state is not None and message_state in _MESSAGE_STATE:
        status = _MESSAGE_STATE[message_state]
        stat = stat or f"STATE{message_state}"
    elif stat in _STAT:
        status = _STAT[stat]
    elif stat:
        status = "failed"
    else:
        return None
    if not msg_id:
        return None
    err = fields.get("err") or network_error
    error_code = err if err and err.strip("0") else None
    if status != "delivered" and error_code is None and stat not in ("DELIVRD", ""):
        error_code = stat
    return Receipt(msg_id, status, stat, error_code, _parse_date(fields.get("done date"), tz))


def _keys(raw: str, side: Literal["resp", "receipt"]) -> dict[Strategy, str | int]:
    """The lookup key of an id under each reading (absent where the reading cannot apply)."""
    s = raw.strip().lower()
    out: dict[Strategy, str | int] = {"same": s.lstrip("0") or "0"}
    is_dec = s.isdigit()
    is_hex = bool(s) and len(s) <= 32 and all(c in "0123456789abcdef" for c in s)
    if side == "resp":
        if is_hex:
            out["hex_dec"] = int(s, 16)
        if is_dec:
            out["dec_hex"] = int(s, 10)
    else:
        if is_dec:
            out["hex_dec"] = int(s, 10)
        if is_hex:
            out["dec_hex"] = int(s, 16)
    return out


@dataclass(eq=False)
class _Group:
    message_id: str
    first_id: str
    expected: int | None = None
    delivered: set[str] = field(default_factory=set)
    done_at: datetime | None = None
    done: bool = False


@dataclass(eq=False)
class _Part:
    group: _Group
    provider_id: str
    keys: dict[Strategy, str | int]
    created: float


@dataclass(eq=False)
class _Orphan:
    receipt: Receipt
    keys: dict[Strategy, str | int]
    created: float
    seq: int


class ReceiptTracker:
    def __init__(
        self,
        *,
        id_format: IdFormat = "auto",
        ttl_s: float = 3 * 24 * 3600,
        max_parts: int = 1_000_000,
        orphan_grace_s: float = 30.0,
        max_orphans: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.id_format = id_format
        self.learned: Strategy | None = None if id_format == "auto" else id_format
        self.ttl_s = ttl_s
        self.max_parts = max_parts
        self.orphan_grace_s = orphan_grace_s
        self.max_orphans = max_orphans
        self.clock = clock
        self._parts: OrderedDict[int, _Part] = OrderedDict()
        self._index: dict[tuple[Strategy, str | int], _Part] = {}
        self._orphans: OrderedDict[int, _Orphan] = OrderedDict()
        self._orphan_index: dict[tuple[Strategy, str | int], _Orphan] = {}
        self._seq = 0

    def __len__(self) -> int:
        return len(self._parts)

    @property
    def orphan_count(self) -> int:
        return len(self._orphans)

    def _strategies(self) -> tuple[Strategy, ...]:
        return (self.learned,) if self.learned else _STRATEGIES

    # -- submit side -------------------------------------------------------------------
    def new_group(self, message_id: str, first_id: str) -> _Group:
        return _Group(message_id, first_id)

    def add_part(self, group: _Group, provider_id: str) -> list[DeliveryReport]:
        """Remember a part's id; returns reports for receipts that had arrived before it."""
        self._seq += 1
        part = _Part(group, provider_id, _keys(provider_id, "resp"), self.clock())
        self._parts[self._seq] = part
        for strat, key in part.keys.items():
            self._index[(strat, key)] = part
        self._evict()
        reports: list[DeliveryReport] = []
        for strat in self._strategies():
            pkey = part.keys.get(strat)
            if pkey is None:
                continue
            orphan = self._orphan_index.get((strat, pkey))
            if orphan is not None:
                self._drop_orphan(orphan)
                reports += self._apply(part, orphan.receipt)
        return reports

    def complete(self, group: _Group, parts: int) -> list[DeliveryReport]:
        """All ``parts`` of the group are submitted; may finish it if receipts came first."""
        group.expected = parts
        return self._maybe_delivered(group)

    def forget(self, group: _Group) -> None:
        """Drop a group whose submit failed half-way."""
        group.done = True

    # -- receipt side ------------------------------------------------------------------
    def on_receipt(self, receipt: Receipt) -> list[DeliveryReport]:
        keys = _keys(receipt.message_id, "receipt")
        matches: dict[Strategy, _Part] = {}
        for strat in self._strategies():
            key = keys.get(strat)
            if key is not None and (part := self._index.get((strat, key))) is not None:
                matches[strat] = part
        if not matches:
            if receipt.status is not None:
                self._add_orphan(receipt, keys)
            return []
        if (
            self.learned is None
            and len({id(p) for p in matches.values()}) == 1
            and len(matches) == 1
        ):
            self.learned = next(iter(matches))
        part = next(iter(matches.values()))
        return self._apply(part, receipt)

    def expire(self) -> list[DeliveryReport]:
        """Report orphans past their grace (with ``message_id=None``) and drop old parts."""
        now = self.clock()
        reports: list[DeliveryReport] = []
        while self._orphans:
            orphan = next(iter(self._orphans.values()))
            if now - orphan.created < self.orphan_grace_s:
                break
            self._drop_orphan(orphan)
            r = orphan.receipt
            assert r.status is not None
            reports.append(
                DeliveryReport(r.message_id, r.status, r.error_code, r.done_at, None, r.recipient)
            )
        while self._parts:
            seq, part = next(iter(self._parts.items()))
            if now - part.created < self.ttl_s:
                break
            self._drop_part(seq, part)
        return reports

    # -- internals ---------------------------------------------------------------------
    def _apply(self, part: _Part, receipt: Receipt) -> list[DeliveryReport]:
        group = part.group
        if receipt.status is None or group.done:
            return []
        if receipt.status == "delivered":
            group.delivered.add(part.provider_id)
            if receipt.done_at is not None and (
                group.done_at is None or receipt.done_at > group.done_at
            ):
                group.done_at = receipt.done_at
            return self._maybe_delivered(group)
        group.done = True
        return [
            DeliveryReport(
                group.first_id,
                receipt.status,
                receipt.error_code,
                receipt.done_at,
                group.message_id,
            )
        ]

    def _maybe_delivered(self, group: _Group) -> list[DeliveryReport]:
        if group.done or group.expected is None or len(group.delivered) < group.expected:
            return []
        group.done = True
        return [DeliveryReport(group.first_id, "delivered", None, group.done_at, group.message_id)]

    def _add_orphan(self, receipt: Receipt, keys: dict[Strategy, str | int]) -> None:
        self._seq += 1
        orphan = _Orphan(receipt, keys, self.clock(), self._seq)
        self._orphans[self._seq] = orphan
        for strat, key in keys.items():
            self._orphan_index[(strat, key)] = orphan
        while len(self._orphans) > self.max_orphans:
            self._drop_orphan(next(iter(self._orphans.values())))

    def _drop_orphan(self, orphan: _Orphan) -> None:
        self._orphans.pop(orphan.seq, None)
        for strat, key in orphan.keys.items():
            if self._orphan_index.get((strat, key)) is orphan:
                del self._orphan_index[(strat, key)]

    def _drop_part(self, seq: int, part: _Part) -> None:
        del self._parts[seq]
        for strat, key in part.keys.items():
            if self._index.get((strat, key)) is part:
                del self._index[(strat, key)]

    def _evict(self) -> None:
        while len(self._parts) > self.max_parts:
            seq, part = next(iter(self._parts.items()))
            self._drop_part(seq, part)
