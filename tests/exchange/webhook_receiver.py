"""A real HTTP server (on 127.0.0.1 unless told) that records webhook posts (no mocks)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from types import TracebackType


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    at: float = field(default_factory=time.monotonic)  # when the whole request had arrived


# Writes the reply to a received request (a slow or misbehaving receiver).
Reply = Callable[[Received, asyncio.StreamWriter], Awaitable[None]]


@dataclass
class WebhookReceiver:
    """Answers each POST with the next status in `statuses` (then 200), or as `reply`
    writes it."""

    statuses: list[int] = field(default_factory=list)
    reply: Reply | None = None
    host: str = "127.0.0.1"  # the tests' hubs allow 127.0.0.1/32 only (exchange/conftest.py)
    requests: list[Received] = field(default_factory=list)
    server: asyncio.Server | None = None
    port: int = 0
    connections: set[asyncio.Task[None]] = field(default_factory=set)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/hook"

    async def __aenter__(self) -> WebhookReceiver:
        self.server = await asyncio.start_server(self._handle, self.host, 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self.server is not None
        self.server.close()
        # A reply still trickling or held open ends with the receiver.
        for task in list(self.connections):
            task.cancel()
        await self.server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.connections.add(task)
        task.add_done_callback(self.connections.discard)
        try:
            while True:
                request_line = await reader.readline()
                if not request_line:
                    break
                headers: dict[str, str] = {}
                while True:
                    line = await reader.readline()
                    if line in (b"\r\n", b"\n", b""):
                        break
                    name, _, value = line.decode().partition(":")
                    headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                received = Received(headers, body)
                self.requests.append(received)
                if self.reply is not None:
                    await self.reply(received, writer)
                    continue
                status = self.statuses.pop(0) if self.statuses else 200
                writer.write(f"HTTP/1.1 {status} X\r\ncontent-length: 0\r\n\r\n".encode())
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass
        finally:
            writer.close()
