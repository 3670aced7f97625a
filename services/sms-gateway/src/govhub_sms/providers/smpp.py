"""SMPP 3.4 provider on the ``smpp34`` package (Rust/tokio SMPP core, asyncio bridge).

One transceiver bind per provider. ``smpp34`` does the framing, sequence numbers,
``enquire_link`` keepalive (every 30 s, answered within 30 s; the Python API cannot change
these timers) and ACKs inbound ``deliver_sm`` itself. This module adds:

* a send window (``asyncio.Semaphore``; at most ``window`` submit_sm in flight) and an
  optional token-bucket rate limiter that slows down on ``ESME_RTHROTTLED``;
* encoding: GSM-7 (data_coding 0x00, unpacked septets) or UCS-2 (0x08, UTF-16BE); a long
  text goes as concatenated parts with a 6-byte UDH ``05 00 03 ref total seq`` and
  esm_class 0x40; every part asks for a receipt (registered_delivery 1);
* the result of each submit: the first part's id, all parts' ids remembered for receipts;
  ``command_status`` mapped to :class:`ProviderError` kinds; no answer in
  ``submit_timeout_s``, or the link dropping with the submit in flight, is
  ``ambiguous_timeout`` (the SMSC may have the message); a submit that never went out
  because no bind came up within ``bind_wait_s`` is ``disconnected``;
* receipts (``deliver_sm`` with esm_class 0x04, or a receipt TLV, or receipt-shaped text)
  parsed and matched whatever the id's hex/decimal spelling; other ``deliver_sm`` are
  inbound messages (e.g. "TD" opt-outs);
* a supervisor that binds, watches the session and rebinds with exponential backoff and
  jitter after a disconnect. Three submit timeouts in a row also force a rebind (a
  half-open TCP connection otherwise only shows at the next enquire_link).

Phone numbers appear in log lines masked only.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import random
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from typing import Any

import smpp34

from govhub_sms.providers.base import (
    DeliveryReport,
    ErrorKind,
    InboundCallback,
    InboundMessage,
    OutboundMessage,
    ProviderError,
    RateLimiter,
    ReportCallback,
    SubmitResult,
    mask_phone,
)
from govhub_sms.providers.receipts import (
    CHINA_TZ,
    IdFormat,
    ReceiptTracker,
    looks_like_receipt_text,
    parse_receipt,
)
from govhub_sms.text import encode_gsm7, encode_ucs2, encoding_for, split_gsm7, split_ucs2

log = logging.getLogger(__name__)

ESME_ROK = 0x00
ESME_RSYSERR = 0x08
ESME_RMSGQFUL = 0x14
ESME_RTHROTTLED = 0x58

DC_DEFAULT = 0x00
DC_IA5 = 0x01
DC_LATIN1 = 0x03
DC_UCS2 = 0x08
DC_GBK = 0x0F  # used by Chinese SMSCs for mobile-originated text

# SMPP 3.4 optional parameter tags (smpp34 sets its TLV_* constants at import time,
# which type checkers cannot see).
TLV_RECEIPTED_MESSAGE_ID = 0x001E
TLV_NETWORK_ERROR_CODE = 0x0423
TLV_MESSAGE_PAYLOAD = 0x0424
TLV_MESSAGE_STATE = 0x0427

ESM_UDHI = 0x40
ESM_TYPE_MASK = 0x3C
ESM_SMSC_RECEIPT = 0x04
ESM_INTERMEDIATE = 0x20

READ_AHEAD = 32
_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
_STATUS_IN_ERROR = re.compile(r"\(0x([0-9A-Fa-f]{1,8})\)")


def kind_for_status(command_status: int) -> ErrorKind:
    """submit_sm_resp / generic_nack command_status -> :class:`ProviderError` kind."""
    if command_status == ESME_RTHROTTLED:
        return "throttled"
    if command_status == ESME_RMSGQFUL:
        return "queue_full"
    if command_status == ESME_RSYSERR:
        return "system"
    return "rejected"


@dataclass(frozen=True, slots=True)
class Pdu:
    """One submit_sm's payload."""

    short_message: bytes
    esm_class: int
    data_coding: int


def build_pdus(text: str, encoding: str, ref: int, esm_mode: int = 0) -> list[Pdu]:
    """The submit_sm payloads for ``text``: one, or concatenated parts with a 6-byte UDH."""
    if encoding == "gsm7":
        chunks, enc, dc = split_gsm7(text), encode_gsm7, DC_DEFAULT
    else:
        chunks, enc, dc = split_ucs2(text), encode_ucs2, DC_UCS2
    if len(chunks) == 1:
        return [Pdu(enc(text), esm_mode, dc)]
    total = len(chunks)
    if total > 255:
        raise ProviderError(
            "rejected", f"text needs {total} parts, at most 255 can be concatenated"
        )
    return [
        Pdu(bytes((5, 0, 3, ref & 0xFF, total, i + 1)) + enc(chunk), esm_mode | ESM_UDHI, dc)
        for i, chunk in enumerate(chunks)
    ]


def decode_short_message(data: bytes, data_coding: int, udhi: bool) -> str:
    """Inbound text: strip a UDH if present, decode by data_coding."""
    if udhi and data:
        data = data[1 + data[0] :]
    if data_coding == DC_UCS2:
        return data.decode("utf-16-be", errors="replace")
    if data_coding == DC_GBK:
        return data.decode("gbk", errors="replace")
    if data_coding == DC_LATIN1:
        return data.decode("latin-1")
    if data_coding == DC_DEFAULT:
        from govhub_sms.text import decode_gsm7

        return decode_gsm7(data)
    return (
        data.decode("ascii", errors="replace") if data_coding == DC_IA5 else data.decode("latin-1")
    )


def to_e164(addr: str, ton: int, default_country_code: str) -> str:
    """An SMPP address as E.164 where the type of number allows it."""
    digits = addr.strip()
    if digits.startswith("+"):
        return digits
    if digits.startswith("00"):
        return "+" + digits[2:]
    if ton == 1:
        return "+" + digits
    cc = default_country_code
    if cc and digits.startswith(cc) and len(digits) >= len(cc) + 10:
        return "+" + digits
    if cc and digits.isdigit() and ton in (0, 2) and len(digits) >= 7:
        return "+" + cc + digits.lstrip("0")
    return digits


def _status_from_error(exc: BaseException) -> int | None:
    m = _STATUS_IN_ERROR.search(str(exc))
    return int(m.group(1), 16) if m else None


@dataclass
class SmppConfig:
    host: str
    port: int
    system_id: str
    password: str
    system_type: str = ""
    source_addr: str = ""
    """Our service number (the sender shown on the handset)."""
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    service_type: str = ""
    esm_mode: int = 0
    """esm_class messaging-mode bits (0 = SMSC default; 3 = store and forward)."""
    window: int = 50
    submit_timeout_s: float = 10.0
    bind_timeout_s: float = 5.0
    bind_wait_s: float = 5.0
    """How long a submit waits for a (re)bind before failing as ``disconnected``."""
    reconnect_initial_s: float = 0.5
    reconnect_max_s: float = 30.0
    stable_session_s: float = 10.0
    """A session that lived this long resets the reconnect backoff."""
    watchdog_s: float = 1.0
    timeouts_before_rebind: int = 3
    registered_delivery: int = 1
    part_retries: int = 3
    """Retries of a retryable error on parts 2.. of a long text (part 1 is the caller's)."""
    part_retry_delay_s: float = 0.2
    receipt_id_format: IdFormat = "auto"
    receipt_tz: tzinfo = field(default=CHINA_TZ)
    receipt_ttl_s: float = 3 * 24 * 3600
    max_tracked_parts: int = 1_000_000
    orphan_grace_s: float = 30.0
    default_country_code: str = "86"
    inbound_capacity: int = 1024


class _Session:
    __slots__ = ("ahead", "bound_at", "client", "dead", "ended", "smsc")

    def __init__(self, client: smpp34.Client, smsc: smpp34.Smsc) -> None:
        self.client = client
        self.smsc = smsc
        self.ahead: set[asyncio.Future[Any]] = set()
        self.dead = False
        self.ended = asyncio.Event()
        self.bound_at = time.monotonic()

    def release(self) -> list[asyncio.Future[Any]]:
        """Drop our references to the smpp34 objects; returns the unresolved next() calls.

        Only once nothing holds the ``Client`` / ``Smsc`` does the core close the session's
        event channel, which resolves the pending next() calls. Left pending, they would
        resolve while the interpreter shuts down, and a core thread taking the GIL then
        aborts the process (seen with smpp34 1.5).
        """
        leftover = [f for f in self.ahead if not f.done()]
        self.ahead.clear()
        for name in ("client", "smsc"):
            with contextlib.suppress(AttributeError):
                delattr(self, name)
        return leftover


class SmppProvider:
    name = "smpp"

    def __init__(self, config: SmppConfig, *, limiter: RateLimiter | None = None) -> None:
        self.config = config
        self.limiter = limiter
        self.tracker = ReceiptTracker(
            id_format=config.receipt_id_format,
            ttl_s=config.receipt_ttl_s,
            max_parts=config.max_tracked_parts,
            orphan_grace_s=config.orphan_grace_s,
        )
        self._window = asyncio.Semaphore(config.window)
        self._bound = asyncio.Event()
        self._session: _Session | None = None
        self._closing = False
        self._on_report: ReportCallback | None = None
        self._on_inbound: InboundCallback | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._housekeeper: asyncio.Task[None] | None = None
        self._ref = random.randrange(256)
        self._consecutive_timeouts = 0
        # counters, for metrics and tests
        self.binds = 0
        self.disconnects = 0
        self.parts_submitted = 0
        self.receipts = 0
        self.inbound = 0

    # -- lifecycle -------------------------------------------------------------------------
    async def start(self, on_report: ReportCallback, on_inbound: InboundCallback) -> None:
        """Start binding in the background; submits wait up to ``bind_wait_s`` for the bind."""
        if self._supervisor is not None:
            raise RuntimeError("provider already started")
        self._on_report = on_report
        self._on_inbound = on_inbound
        self._closing = False
        self._supervisor = asyncio.create_task(self._supervise(), name="smpp-supervisor")
        self._housekeeper = asyncio.create_task(self._housekeep(), name="smpp-housekeeper")

    async def wait_bound(self, timeout_s: float) -> bool:
        """True once a session is bound (within ``timeout_s`` seconds)."""
        try:
            await asyncio.wait_for(self._bound.wait(), timeout_s)
        except TimeoutError:
            return False
        return True

    @property
    def bound(self) -> bool:
        return self._bound.is_set()

    async def close(self) -> None:
        self._closing = True
        session = self._session
        self._bound.clear()
        if session is not None and not session.dead:
            session.dead = True
            with contextlib.suppress(Exception):
                await asyncio.wait_for(session.smsc.unbind(), 2.0)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(session.client.stop(), 2.0)
        for task in (self._supervisor, self._housekeeper):
            if task is not None:
                task.cancel()
        for task in (self._supervisor, self._housekeeper):
            if task is not None:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        self._supervisor = self._housekeeper = None
        self._session = None
        if session is not None:
            leftover = session.release()
            if leftover:
                await asyncio.wait(leftover, timeout=2.0)

    # -- submit ----------------------------------------------------------------------------
    async def submit(self, msg: OutboundMessage) -> SubmitResult:
        if self._on_report is None:
            raise ProviderError("system", "provider not started")
        if not _E164.match(msg.recipient):
            raise ProviderError("rejected", "recipient is not an E.164 number")
        encoding = msg.encoding
        if encoding == "gsm7" and encoding_for(msg.text) != "gsm7":
            encoding = "ucs2"
        self._ref = (self._ref + 1) & 0xFF
        pdus = build_pdus(msg.text, encoding, self._ref, self.config.esm_mode)
        dest = msg.recipient[1:]
        group = None
        first_id = ""
        for i, pdu in enumerate(pdus):
            attempt = 0
            while True:
                try:
                    pid = await self._submit_part(dest, pdu)
                    break
                except ProviderError as exc:
                    if i == 0 or not exc.retryable or attempt >= self.config.part_retries:
                        exc.parts_sent = i
                        if group is not None:
                            self.tracker.forget(group)
                        log.warning(
                            "sms %s to %s: part %d/%d failed: %s",
                            msg.message_id,
                            mask_phone(msg.recipient),
                            i + 1,
                            len(pdus),
                            exc,
                        )
                        raise
                    attempt += 1
                    await asyncio.sleep(self.config.part_retry_delay_s * attempt)
            if group is None:
                first_id = pid
                group = self.tracker.new_group(msg.message_id, pid)
            await self._emit(self.tracker.add_part(group, pid))
        assert group is not None
        await self._emit(self.tracker.complete(group, len(pdus)))
        log.debug(
            "sms %s to %s: %d part(s) accepted as %s",
            msg.message_id,
            mask_phone(msg.recipient),
            len(pdus),
            first_id,
        )
        return SubmitResult(first_id, len(pdus))

    async def _wait_session(self) -> _Session:
        deadline = time.monotonic() + self.config.bind_wait_s
        while True:
            if self._closing:
                raise ProviderError("disconnected", "provider closed")
            session = self._session
            if session is not None and not session.dead and self._bound.is_set():
                return session
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ProviderError("disconnected", "no SMPP bind")
            try:
                await asyncio.wait_for(self._bound.wait(), remaining)
            except TimeoutError:
                raise ProviderError("disconnected", "no SMPP bind") from None

    async def _submit_part(self, dest: str, pdu: Pdu) -> str:
        if self.limiter is not None:
            await self.limiter.acquire()
        cfg = self.config
        async with self._window:
            session = await self._wait_session()
            try:
                async with asyncio.timeout(cfg.submit_timeout_s):
                    resp = await session.smsc.submit_sm(
                        dest,
                        pdu.short_message,
                        source_addr=cfg.source_addr,
                        source_addr_ton=cfg.source_addr_ton,
                        source_addr_npi=cfg.source_addr_npi,
                        dest_addr_ton=1,
                        dest_addr_npi=1,
                        service_type=cfg.service_type,
                        esm_class=pdu.esm_class,
                        data_coding=pdu.data_coding,
                        registered_delivery=cfg.registered_delivery,
                    )
            except TimeoutError:
                await self._on_submit_timeout(session)
                raise ProviderError(
                    "ambiguous_timeout", f"no submit_sm_resp within {cfg.submit_timeout_s}s"
                ) from None
            except smpp34.SmppError as exc:
                raise await self._classify_failure(session, exc) from None
            self._consecutive_timeouts = 0
            status = resp.command_status
            if status != ESME_ROK:
                raise self._status_error(status)
            self.parts_submitted += 1
            if not resp.message_id:
                raise ProviderError("system", "submit_sm_resp without message_id", command_status=0)
            return resp.message_id

    def _status_error(self, status: int) -> ProviderError:
        kind = kind_for_status(status)
        if kind == "throttled" and self.limiter is not None:
            self.limiter.on_throttled()
        return ProviderError(kind, f"command_status 0x{status:08X}", command_status=status)

    async def _classify_failure(self, session: _Session, exc: smpp34.SmppError) -> ProviderError:
        """smpp34 raises for a generic_nack, a dead session, and its own 30 s timeout."""
        status = _status_from_error(exc)
        if status is not None and status != ESME_RSYSERR:
            return self._status_error(status)  # generic_nack with a real status
        # The session was live when the PDU was handed over (``_wait_session`` checked), so
        # it may have reached the SMSC: a failure for a lost session is ambiguous.
        try:
            alive = not session.dead and await session.client.is_alive()
        except Exception:
            alive = False
        if alive:
            # The core fails pending submits as it tears a session down, possibly a moment
            # before it reports the session dead: give the reader a moment to see it end.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(session.ended.wait(), 0.5)
            alive = not session.ended.is_set()
        if not alive:
            self._session_lost(session)
            return ProviderError("ambiguous_timeout", "SMPP session lost with the submit in flight")
        return ProviderError("system", str(exc), command_status=status)

    async def _on_submit_timeout(self, session: _Session) -> None:
        self._consecutive_timeouts += 1
        if self._consecutive_timeouts >= self.config.timeouts_before_rebind and not session.dead:
            log.warning("smpp: %d submit timeouts in a row, rebinding", self._consecutive_timeouts)
            self._consecutive_timeouts = 0
            self._session_lost(session)
            with contextlib.suppress(Exception):
                await session.client.stop()

    def _session_lost(self, session: _Session) -> None:
        if not session.dead:
            session.dead = True
        if self._session is session:
            self._bound.clear()

    # -- supervisor: bind, read, rebind ------------------------------------------------------
    async def _supervise(self) -> None:
        cfg = self.config
        delay = cfg.reconnect_initial_s
        while not self._closing:
            client = smpp34.Client(
                cfg.host,
                cfg.port,
                cfg.system_id,
                cfg.password,
                bind_type="TRX",
                system_type=cfg.system_type,
                window_size=cfg.window,
                inbound_capacity=cfg.inbound_capacity,
                connect_timeout_ms=int(cfg.bind_timeout_s * 1000),
            )
            try:
                smsc = await client.connect()
            except Exception as exc:  # refused, bind rejected, bind timeout
                log.warning(
                    "smpp: bind to %s:%d failed: %s; retry in %.1fs", cfg.host, cfg.port, exc, delay
                )
                with contextlib.suppress(Exception):
                    await client.stop()
                await asyncio.sleep(delay * random.uniform(0.8, 1.2))
                delay = min(delay * 2, cfg.reconnect_max_s)
                continue
            session = _Session(client, smsc)
            self._session = session
            self.binds += 1
            self._consecutive_timeouts = 0
            self._bound.set()
            log.info(
                "smpp: bound to %s:%d as %s (bind #%d)",
                cfg.host,
                cfg.port,
                cfg.system_id,
                self.binds,
            )
            try:
                await self._read(session)
            finally:
                session.ended.set()
                self._session_lost(session)
                if self._session is session:
                    self._session = None
            if self._closing:
                break
            self.disconnects += 1
            with contextlib.suppress(Exception):
                await client.stop()
            session.release()
            del client, smsc
            if time.monotonic() - session.bound_at >= cfg.stable_session_s:
                delay = cfg.reconnect_initial_s
            log.warning(
                "smpp: disconnected from %s:%d; rebinding in %.1fs", cfg.host, cfg.port, delay
            )
            await asyncio.sleep(delay * random.uniform(0.8, 1.2))
            delay = min(delay * 2, cfg.reconnect_max_s)

    async def _read(self, session: _Session) -> None:
        # smpp34 hands over one inbound event per next() future, and a future resolves on
        # a loop iteration: with a single next() in flight the reader would take one
        # receipt per iteration while a full window of submits completes in the same
        # iteration, fall behind, and the core would NAK receipts (ESME_RMSGQFUL) once its
        # inbound queue fills. So ``READ_AHEAD`` next() calls are kept pending and taken in
        # the order they resolve (which is not the order they were made: the core's tasks
        # race for its channel). None is ever cancelled: that could drop a deliver_sm the
        # core has already ACKed.
        resolved: asyncio.Queue[asyncio.Future[Any]] = asyncio.Queue()

        def arm() -> None:
            fut = asyncio.ensure_future(session.smsc.next())
            session.ahead.add(fut)
            fut.add_done_callback(resolved.put_nowait)

        for _ in range(READ_AHEAD):
            arm()
        while True:
            try:
                fut = resolved.get_nowait()
            except asyncio.QueueEmpty:
                try:
                    fut = await asyncio.wait_for(resolved.get(), self.config.watchdog_s)
                except TimeoutError:
                    if session.dead:
                        return
                    try:
                        alive = await session.client.is_alive()
                    except Exception:
                        alive = False
                    if not alive:
                        return
                    continue
            session.ahead.discard(fut)
            try:
                event = fut.result()
            except Exception as exc:
                log.warning("smpp: reading the session failed: %s", exc)
                return
            if isinstance(event, smpp34.Disconnected):
                return
            arm()
            try:
                await self._on_deliver(event)
            except Exception:
                log.exception("smpp: handling a deliver_sm failed")

    async def _housekeep(self) -> None:
        interval = max(0.05, min(5.0, self.config.orphan_grace_s / 4))
        while True:
            await asyncio.sleep(interval)
            try:
                await self._emit(self.tracker.expire())
            except Exception:
                log.exception("smpp: receipt housekeeping failed")

    # -- inbound ---------------------------------------------------------------------------
    async def _on_deliver(self, ev: smpp34.DeliverSmEvent) -> None:
        tlv_id: str | None = None
        tlv_state: int | None = None
        tlv_err: str | None = None
        payload: bytes | None = None
        for t in ev.tlvs:
            if t.tag == TLV_RECEIPTED_MESSAGE_ID:
                tlv_id = t.as_string()
            elif t.tag == TLV_MESSAGE_STATE:
                tlv_state = t.as_int()
            elif t.tag == TLV_NETWORK_ERROR_CODE:
                tlv_err = t.value.hex()
            elif t.tag == TLV_MESSAGE_PAYLOAD:
                payload = t.value
        esm_type = ev.esm_class & ESM_TYPE_MASK
        raw = ev.short_message or payload or b""
        udhi = bool(ev.esm_class & ESM_UDHI)
        is_receipt = esm_type in (ESM_SMSC_RECEIPT, ESM_INTERMEDIATE) or tlv_id is not None
        text = decode_short_message(raw, ev.data_coding, udhi)
        if not is_receipt and esm_type == 0 and looks_like_receipt_text(text):
            is_receipt = True
        if is_receipt:
            receipt = parse_receipt(
                text,
                receipted_message_id=tlv_id,
                message_state=tlv_state,
                network_error=tlv_err,
                tz=self.config.receipt_tz,
            )
            if receipt is None:
                log.warning("smpp: unparsable delivery receipt (%d bytes)", len(raw))
                return
            # The receipt comes from the handset's address: kept, so a receipt for a submit
            # whose id was never recorded can still find its message.
            handset = to_e164(ev.source_addr, ev.source_addr_ton, self.config.default_country_code)
            receipt = dataclasses.replace(receipt, recipient=handset or None)
            self.receipts += 1
            await self._emit(self.tracker.on_receipt(receipt))
            return
        self.inbound += 1
        sender = to_e164(ev.source_addr, ev.source_addr_ton, self.config.default_country_code)
        msg = InboundMessage(sender, text.strip(), datetime.now(UTC), recipient=ev.destination_addr)
        log.info("smpp: inbound message from %s (%d chars)", mask_phone(sender), len(msg.text))
        assert self._on_inbound is not None
        try:
            await self._on_inbound(msg)
        except Exception:
            log.exception("smpp: on_inbound failed for a message from %s", mask_phone(sender))

    async def _emit(self, reports: list[DeliveryReport]) -> None:
        assert self._on_report is not None
        for report in reports:
            try:
                await self._on_report(report)
            except Exception:
                log.exception("smpp: on_report failed for %s", report.provider_message_id)
