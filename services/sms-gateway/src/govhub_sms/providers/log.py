"""The development provider: writes each message to a JSON-lines file instead of a carrier.

Every submit appends one line (message id, provider id, recipient, text, encoding, parts,
time) to the file, logs the message with the phone number masked, and reports it as
``delivered`` right after the submit returns, so the whole status flow runs without an
SMSC. The file holds full phone numbers and texts, like a carrier's records, so it is
written with mode 0600 (a missing folder for it is created 0700); log lines never hold them.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from datetime import UTC, datetime
from pathlib import Path

from govhub_common.files import open_private, private_directory
from govhub_sms.providers.base import (
    DeliveryReport,
    InboundCallback,
    OutboundMessage,
    ProviderError,
    ReportCallback,
    SubmitResult,
    mask_phone,
)

log = logging.getLogger(__name__)


class LogProvider:
    name = "log"

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._on_report: ReportCallback | None = None
        self._on_inbound: InboundCallback | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._write_lock = asyncio.Lock()

    async def start(self, on_report: ReportCallback, on_inbound: InboundCallback) -> None:
        self._on_report = on_report
        self._on_inbound = on_inbound
        if not self.path.parent.exists():
            await asyncio.to_thread(private_directory, self.path.parent)

    async def submit(self, msg: OutboundMessage) -> SubmitResult:
        if self._on_report is None:
            raise ProviderError("system", "provider not started")
        provider_id = uuid.uuid4().hex
        now = datetime.now(UTC)
        line = json.dumps(
            {
                "message_id": msg.message_id,
                "provider_message_id": provider_id,
                "recipient": msg.recipient,
                "text": msg.text,
                "encoding": msg.encoding,
                "segments": msg.segments,
                "submitted_at": now.isoformat(),
            },
            ensure_ascii=False,
        )
        async with self._write_lock:
            try:
                await asyncio.to_thread(self._append, line)
            except OSError as exc:
                raise ProviderError("system", f"cannot write {self.path}: {exc}") from exc
        log.info(
            "sms %s to %s: %s, %d part(s), %d chars, written to %s",
            msg.message_id,
            mask_phone(msg.recipient),
            msg.encoding,
            msg.segments,
            len(msg.text),
            self.path,
        )
        report = DeliveryReport(provider_id, "delivered", None, now, message_id=msg.message_id)
        task = asyncio.get_running_loop().create_task(self._report(report))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return SubmitResult(provider_id, msg.segments)

    def _append(self, line: str) -> None:
        with open_private(self.path, "a") as f:
            f.write(line + "\n")

    async def _report(self, report: DeliveryReport) -> None:
        assert self._on_report is not None
        try:
            await self._on_report(report)
        except Exception:
            log.exception("on_report failed for %s", report.provider_message_id)

    async def close(self) -> None:
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
