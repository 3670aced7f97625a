"""A body too large is refused before it is read, parsed or its token checked, on every
route, in both run modes: a 200 MB body streamed without a token gets a 413 and costs the
server process less than 100 MB (issue 15, point 1)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from govhub_common.testing import HubProcess, create_test_database, drop_test_database

MB = 1024 * 1024
STREAMED = 200 * MB
CHUNK = b'{"purpose": "' + b"x" * (MB - 14)  # one JSON string that never ends


def resident_kb(pid: int) -> int:
    """VmRSS of the process and of every process it started (workers), in kB."""
    total = 0
    todo = [pid]
    while todo:
        current = todo.pop()
        status = Path(f"/proc/{current}/status").read_text()
        total += int(
            next(line for line in status.splitlines() if line.startswith("VmRSS:")).split()[1]
        )
        for task in Path(f"/proc/{current}/task").iterdir():
            todo += [int(child) for child in (task / "children").read_text().split()]
    return total


async def read_answer(reader: asyncio.StreamReader) -> bytes:
    """The server's answer (head and body, by its Content-Length), or what came before
    the connection closed."""
    answer = b""
    try:
        while chunk := await reader.read(65536):
            answer += chunk
            head, _, body = answer.partition(b"\r\n\r\n")
            length = re.search(rb"(?im)^content-length: *([0-9]+)", head)
            if length and len(body) >= int(length.group(1)):
                break
    except ConnectionResetError:
        pass
    return answer


async def stream_chunked(url: str, path: str, total: int) -> tuple[bytes, int]:
    """POST `total` bytes chunked, without a token, on a raw connection; stops sending when
    the server answers or closes. Returns (the answer as read, bytes sent)."""
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        "Transfer-Encoding: chunked\r\n\r\n".encode()
    )
    answer = asyncio.create_task(read_answer(reader))
    sent = 0
    try:
        while sent < total and not answer.done():
            writer.write(f"{len(CHUNK):x}\r\n".encode() + CHUNK + b"\r\n")
            sent += len(CHUNK)
            await writer.drain()
            # Let the reader see an answer: over loopback drain() rarely waits, and the
            # server, draining after its 413 (a lingering close), takes everything sent.
            await asyncio.sleep(0)
        if sent >= total:
            writer.write(b"0\r\n\r\n")
            await writer.drain()
    except (ConnectionResetError, BrokenPipeError):
        pass  # the server closed after its answer: the answer is still there to read
    head = await asyncio.wait_for(answer, timeout=60)
    writer.close()
    return head, sent


@pytest.fixture(scope="module", params=["all-in-one", "split"])
async def hubs(
    request: pytest.FixtureRequest, admin_db_url: str, amqp_url: str, amqp_exchange: str
) -> AsyncIterator[list[HubProcess]]:
    """The hub as one process, or the exchange and the SMS gateway as their own targets
    (through the real RabbitMQ in both)."""
    url = await create_test_database(admin_db_url)
    env = {
        "GOVHUB_AMQP_URL": amqp_url,
        "GOVHUB_AMQP_EXCHANGE": amqp_exchange,
        "GOVHUB_AMQP_QUEUE_PREFIX": f"{amqp_exchange}.body-limit.",
        "GOVHUB_AMQP_DELETE_QUEUES_AT_STOP": "true",
        "GOVHUB_SMS_SENDER_ENABLED": "false",
    }
    targets = ["all"] if request.param == "all-in-one" else ["exchange", "sms-gateway"]
    started = [HubProcess(url, target=target, env=env) for target in targets]
    try:
        for process in started:
            await process.start()
        yield started
    finally:
        for process in started:
            await process.stop()
        await drop_test_database(admin_db_url, url)


def serving(hubs: list[HubProcess], path: str) -> HubProcess:
    target = "sms-gateway" if path.startswith("/sms") else "exchange"
    return next(h for h in hubs if h.target in ("all", target))


@pytest.mark.parametrize("path", ["/exchange/v1/subscriptions", "/sms/v1/messages/batch"])
async def test_a_streamed_200_mb_body_is_refused_before_it_is_read(
    hubs: list[HubProcess], path: str
) -> None:
    hub = serving(hubs, path)
    assert hub.process is not None
    before = resident_kb(hub.process.pid)
    head, sent = await stream_chunked(hub.url, path, STREAMED)
    after = resident_kb(hub.process.pid)
    assert head.startswith(b"HTTP/1.1 413 "), head[:300]
    assert b"application/problem+json" in head
    assert b'"code":"body_too_large"' in head
    assert sent < STREAMED  # answered while the body was still coming
    assert after - before < 100 * 1024, (before, after)
    async with httpx.AsyncClient(base_url=hub.url) as client:
        assert (await client.get("/readyz")).status_code == 200  # and still serves


@pytest.mark.parametrize(
    ("path", "limit"),
    [
        ("/exchange/v1/subscriptions", MB),
        ("/exchange/v1/oauth/token", MB),
        ("/exchange/v1/subscriptions/1/decision", MB),
        ("/sms/v1/messages/batch", MB),
        ("/sms/v1/templates/x/render", MB),
        # Publish takes GOVHUB_PUBLISH_MAX_BYTES (16 MiB) instead, through the same door.
        ("/exchange/v1/topics/gz_any/records", 16 * MB),
    ],
)
async def test_a_declared_length_over_the_limit_is_answered_at_once(
    hubs: list[HubProcess], path: str, limit: int
) -> None:
    """The 413 comes from the Content-Length alone: no byte of the body is sent."""
    hub = serving(hubs, path)
    host, port = hub.url.removeprefix("http://").split(":")
    for declared, refused in ((limit + 1, True), (limit, False)):
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(
            f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {declared}\r\n\r\n".encode()
        )
        await writer.drain()
        if refused:
            head = await asyncio.wait_for(read_answer(reader), timeout=30)
            assert head.startswith(b"HTTP/1.1 413 "), (path, head[:300])
            assert b'"code":"body_too_large"' in head
        else:
            # At the limit the body is awaited (or a 401 comes first, where the token is
            # checked before the body is read): no 413.
            try:
                head = await asyncio.wait_for(reader.read(65536), timeout=0.5)
            except TimeoutError:
                head = b""
            assert not head.startswith(b"HTTP/1.1 413 "), (path, head[:300])
        writer.close()
