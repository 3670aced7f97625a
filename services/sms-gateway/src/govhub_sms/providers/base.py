"""The provider interface of the sms-gateway, and the token-bucket rate limiter.

A provider takes a fully rendered message (signature included) and hands it to a carrier.
It reports what happens next through two callbacks given to :meth:`Provider.start`:
delivery reports and inbound (mobile-originated) messages such as "TD" opt-out replies.

Errors are :class:`ProviderError` with a ``kind``; ``retryable`` tells the caller whether
resending is safe. ``ambiguous_timeout`` is not: the carrier may have taken the message,
so a blind resend can text a citizen twice.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol, runtime_checkable

from govhub_sms.text import Encoding, count_segments

ErrorKind = Literal[
    "throttled", "queue_full", "system", "rejected", "ambiguous_timeout", "disconnected"
]
ReportStatus = Literal["delivered", "failed", "expired"]

RETRYABLE_KINDS: frozenset[str] = frozenset({"throttled", "queue_full", "system", "disconnected"})


def mask_phone(number: str) -> str:
    """Hide the four characters before the last four, the usual Chinese mobile masking.

    ``+8613800138000`` -> ``+86138****8000``, ``13800138000`` -> ``138****8000``; a number
    shorter than nine characters keeps only its last two.
    """
    n = len(number)
    if n >= 9:
        return number[: n - 8] + "****" + number[n - 4 :]
    if n > 4:
        return "*" * (n - 2) + number[n - 2 :]
    return "*" * n


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    message_id: str
    """govhub's id of the message."""
    recipient: str
    """E.164, e.g. ``+8613800138000``."""
    text: str
    """Fully rendered text, signature included."""
    encoding: Encoding
    segments: int

    @classmethod
    def build(cls, message_id: str, recipient: str, text: str) -> OutboundMessage:
        """A message with ``encoding`` and ``segments`` computed from ``text``."""
        info = count_segments(text)
        return cls(message_id, recipient, text, info.encoding, info.segments)

    def __repr__(self) -> str:  # keep the phone number out of tracebacks and logs
        return (
            f"OutboundMessage(message_id={self.message_id!r}, recipient={mask_phone(self.recipient)!r},"
            f" encoding={self.encoding!r}, segments={self.segments})"
        )


@dataclass(frozen=True, slots=True)
class SubmitResult:
    provider_message_id: str | None
    """The carrier's id (of the first part for a concatenated message)."""
    parts: int


class ProviderError(Exception):
    """A submit that failed; ``kind`` says how, ``retryable`` whether resending is safe.

    ``parts_sent`` counts the parts of a concatenated message the carrier had already
    accepted when a later part failed (the handset then holds an incomplete message).
    """

    def __init__(
        self,
        kind: ErrorKind,
        detail: str = "",
        *,
        command_status: int | None = None,
        parts_sent: int = 0,
    ) -> None:
        self.kind: ErrorKind = kind
        self.detail = detail
        self.command_status = command_status
        self.parts_sent = parts_sent
        super().__init__(f"{kind}: {detail}" if detail else kind)

    @property
    def retryable(self) -> bool:
        return self.kind in RETRYABLE_KINDS


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    provider_message_id: str
    status: ReportStatus
    error_code: str | None
    done_at: datetime | None
    message_id: str | None = None
    """govhub's message id, when the provider still knows which message the report is for."""
    recipient: str | None = None
    """The handset the receipt names (E.164), when the provider knows it: the one echo of
    a message that the gateway can match when neither id is known (a submit whose
    acknowledgement was never recorded)."""

    def __repr__(self) -> str:  # keep the phone number out of tracebacks and logs
        return (
            f"DeliveryReport(provider_message_id={self.provider_message_id!r}, "
            f"status={self.status!r}, message_id={self.message_id!r}, "
            f"recipient={mask_phone(self.recipient) if self.recipient else None!r})"
        )


@dataclass(frozen=True, slots=True)
class InboundMessage:
    sender: str
    """E.164 where the carrier's address allows it."""
    text: str
    received_at: datetime
    recipient: str = ""
    """The service number the citizen replied to (our source address)."""

    def __repr__(self) -> str:
        return (
            f"InboundMessage(sender={mask_phone(self.sender)!r}, received_at={self.received_at!r})"
        )


ReportCallback = Callable[[DeliveryReport], Awaitable[None]]
InboundCallback = Callable[[InboundMessage], Awaitable[None]]


@runtime_checkable
class Provider(Protocol):
    name: str

    async def start(self, on_report: ReportCallback, on_inbound: InboundCallback) -> None: ...

    async def submit(self, msg: OutboundMessage) -> SubmitResult: ...

    async def close(self) -> None: ...


@dataclass
class RateLimiter:
    """Token bucket: ``rate_per_s`` tokens a second, at most ``burst`` saved up.

    Throttling feedback: :meth:`on_throttled` halves the current rate (down to
    ``min_rate_per_s``); every ``recovery_interval_s`` seconds without another throttle
    the rate grows by ``recovery_factor`` until it is back at ``rate_per_s``.
    """

    rate_per_s: float
    burst: float
    min_rate_per_s: float | None = None
    backoff_factor: float = 0.5
    recovery_factor: float = 1.25
    recovery_interval_s: float = 5.0
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    _tokens: float = field(init=False)
    _last: float = field(init=False)
    _rate: float = field(init=False)
    _last_change: float = field(init=False)
    _lock: asyncio.Lock = field(init=False)
    throttled_count: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        if self.rate_per_s <= 0 or self.burst < 1:
            raise ValueError("rate_per_s must be > 0 and burst >= 1")
        if self.min_rate_per_s is None:
            self.min_rate_per_s = max(self.rate_per_s / 64, 0.1)
        self._tokens = float(self.burst)
        self._last = self.clock()
        self._rate = float(self.rate_per_s)
        self._last_change = self._last
        self._lock = asyncio.Lock()

    @property
    def current_rate(self) -> float:
        self._recover(self.clock())
        return self._rate

    def _recover(self, now: float) -> None:
        while self._rate < self.rate_per_s and now - self._last_change >= self.recovery_interval_s:
            self._refill(self._last_change + self.recovery_interval_s)
            self._rate = min(self.rate_per_s, self._rate * self.recovery_factor)
            self._last_change += self.recovery_interval_s

    def _refill(self, now: float) -> None:
        if now > self._last:
            self._tokens = min(float(self.burst), self._tokens + (now - self._last) * self._rate)
            self._last = now

    def on_throttled(self) -> None:
        """The peer said we go too fast: slow down and drop the saved-up burst."""
        now = self.clock()
        self._recover(now)
        self._refill(now)
        assert self.min_rate_per_s is not None
        self._rate = max(self.min_rate_per_s, self._rate * self.backoff_factor)
        self._tokens = min(self._tokens, 0.0)
        self._last_change = now
        self.throttled_count += 1

    async def acquire(self, tokens: float = 1.0) -> None:
        """Wait until ``tokens`` are available and take them (callers are served in order)."""
        async with self._lock:
            while True:
                now = self.clock()
                self._recover(now)
                self._refill(now)
                if self._tokens >= tokens - 1e-9:  # float slack, or a fake clock never gets there
                    self._tokens -= tokens
                    return
                await self.sleep((tokens - self._tokens) / self._rate)
