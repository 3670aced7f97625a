"""Helpers for the SMPP tests. A real SMSC on loopback: the server side of ``smpp34``, in its own process.

Each test gets a fresh ``govhub_sms.providers.smsc_sim`` process on a free port (the smpp34
server has been seen to crash at exit when stopped with a client still bound, so it never
shares our process); the fixture kills it at teardown. Tests steer it through stdin and
watch what it received through its stdout events.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from govhub_sms.providers.base import DeliveryReport, InboundMessage
from govhub_sms.providers.smpp import SmppConfig

Event = dict[str, Any]


class SmscProcess:
    def __init__(self, port: int, *args: str) -> None:
        self.port = port
        self.args = args
        self.proc: asyncio.subprocess.Process | None = None
        self.events: list[Event] = []
        self._changed = asyncio.Event()
        self._reader: asyncio.Task[None] | None = None
        self._acks = 0

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "govhub_sms.providers.smsc_sim",
            "--port",
            str(self.port),
            *self.args,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        self._acks = sum(1 for e in self.events if e["event"] == "ack")
        self._reader = asyncio.create_task(self._read(self.proc))
        await self.wait_for(lambda e: e["event"] == "ready", after=len(self.events))

    async def _read(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdout is not None
        while line := await proc.stdout.readline():
            self.events.append(json.loads(line))
            self._changed.set()

    async def kill(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()
        if self._reader is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._reader, 5)
        self.proc = None

    async def restart(self) -> None:
        await self.kill()
        await self.start()

    def matching(self, pred: Callable[[Event], bool], after: int = 0) -> list[Event]:
        return [e for e in self.events[after:] if pred(e)]

    async def wait_for(
        self, pred: Callable[[Event], bool], count: int = 1, timeout_s: float = 10.0, after: int = 0
    ) -> list[Event]:
        async def waiter() -> list[Event]:
            while True:
                found = self.matching(pred, after)
                if len(found) >= count:
                    return found
                self._changed.clear()
                await self._changed.wait()

        return await asyncio.wait_for(waiter(), timeout_s)

    async def command(self, **cmd: Any) -> None:
        """Send a control command and wait until the SMSC has applied it."""
        assert self.proc is not None and self.proc.stdin is not None
        self.proc.stdin.write((json.dumps(cmd) + "\n").encode())
        await self.proc.stdin.drain()
        self._acks += 1
        await self.wait_for(lambda e: e["event"] == "ack", count=self._acks)

    def submits(self, after: int = 0) -> list[Event]:
        return self.matching(lambda e: e["event"] == "submit", after)


@dataclass
class Sink:
    """Collects what a provider reports, and lets a test wait for it."""

    reports: list[DeliveryReport] = field(default_factory=list)
    inbound: list[InboundMessage] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    async def on_report(self, report: DeliveryReport) -> None:
        self.reports.append(report)
        self.changed.set()

    async def on_inbound(self, msg: InboundMessage) -> None:
        self.inbound.append(msg)
        self.changed.set()

    async def wait(self, pred: Callable[[Sink], bool], timeout_s: float = 10.0) -> None:
        async def waiter() -> None:
            while not pred(self):
                self.changed.clear()
                await self.changed.wait()

        await asyncio.wait_for(waiter(), timeout_s)


def test_config(port: int, **overrides: Any) -> SmppConfig:
    base: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": port,
        "system_id": "govhub",
        "password": "secret",
        "system_type": "GOVHUB",
        "source_addr": "10690000",
        "submit_timeout_s": 5.0,
        "bind_timeout_s": 2.0,
        "bind_wait_s": 10.0,
        "reconnect_initial_s": 0.05,
        "reconnect_max_s": 0.5,
        "watchdog_s": 0.2,
        "orphan_grace_s": 5.0,
    }
    base.update(overrides)
    return SmppConfig(**base)


test_config.__test__ = False  # type: ignore[attr-defined]
