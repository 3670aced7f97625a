"""Benchmark: SMS messages per second from API submit to submitted at a real SMPP peer.

    .venv/bin/python bench/sms_gateway.py [--messages 5000] [--window 50]

Starts the loopback SMSC (smpp34's server, in its own process, receipts on), a hub on a
fresh database of the local PostgreSQL (GOVHUB_BENCH_DATABASE_URL, default
postgresql://postgres@127.0.0.1:5432/postgres) with one SMPP provider (window 50), submits
the messages through POST /sms/v1/messages/batch (1,000 per request) and waits until every
one was accepted by the peer (status sent or delivered). It then measures the peer's own
limit: the same number of submit_sm straight from the SMPP provider, no database.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import sys
import tempfile
import time
import uuid


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def start_smsc(port: int) -> asyncio.subprocess.Process:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "govhub_sms.providers.smsc_sim",
        "--port",
        str(port),
        "--quiet",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None
    line = await asyncio.wait_for(proc.stdout.readline(), 20)
    assert json.loads(line)["event"] == "ready", line
    return proc


async def stop(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        proc.kill()
        await proc.wait()


def mobile(i: int) -> str:
    return f"+86139{i:08d}"


async def through_the_hub(port: int, messages: int, window: int) -> tuple[float, float]:
    from sqlalchemy import text

    from govhub_common import testing

    os.environ["GOVHUB_SMS_PROVIDERS"] = json.dumps(
        [
            {
                "name": "primary",
                "kind": "smpp",
                "host": "127.0.0.1",
                "port": port,
                "system_id": "bench",
                "password": "bench",
                "window": window,
                "rate_per_s": 1_000_000,
                "burst": 10_000,
            }
        ]
    )
    os.environ["GOVHUB_SMS_QUIET_HOURS_START"] = ""  # the real clock may be at night
    os.environ.setdefault("GOVHUB_SMS_BATCH_SIZE", "1000")
    os.environ.setdefault("GOVHUB_SMS_POLL_SECONDS", "0.05")
    admin = os.environ.get("GOVHUB_BENCH_DATABASE_URL", testing.CI_DATABASE_URL)
    url = await testing.create_test_database(admin, prefix="govhub_bench")
    try:
        async with testing.running_hub(url) as hub:
            headers = hub.auth("gz-datacenter", "sms:send")
            run = uuid.uuid4().hex[:8]
            started = time.perf_counter()
            for offset in range(0, messages, 1000):
                batch = [
                    {
                        "recipient": mobile(i),
                        "template": "tax_registration_reminder",
                        "params": {"name": f"企业{i:06d}", "deadline": "2030年7月20日"},
                        "idempotency_key": f"{run}-{i}",
                    }
                    for i in range(offset, min(messages, offset + 1000))
                ]
                reply = await hub.client.post("/sms/v1/messages/batch", json=batch, headers=headers)
                assert reply.status_code == 200 and reply.json()["created"] == len(batch), (
                    reply.text
                )
            accepted = time.perf_counter()

            async def all_submitted() -> bool:
                async with hub.runtime.db.session() as session:
                    waiting = (
                        await session.execute(
                            text(
                                "SELECT count(*) FROM sms.messages "
                                "WHERE status NOT IN ('sent', 'delivered')"
                            )
                        )
                    ).scalar_one()
                return bool(waiting == 0)

            await testing.wait_for(all_submitted, timeout=600, interval=0.05)
            finished = time.perf_counter()
            async with hub.runtime.db.session() as session:
                failed = (
                    await session.execute(
                        text("SELECT count(*) FROM sms.messages WHERE status = 'failed'")
                    )
                ).scalar_one()
            assert failed == 0
        return messages / (finished - started), messages / (accepted - started)
    finally:
        await testing.drop_test_database(admin, url)


async def peer_limit(port: int, messages: int, window: int) -> float:
    from govhub_sms.providers.base import OutboundMessage
    from govhub_sms.providers.smpp import SmppConfig, SmppProvider

    async def ignore(_: object) -> None:
        return None

    provider = SmppProvider(
        SmppConfig(host="127.0.0.1", port=port, system_id="bench", password="bench", window=window)
    )
    await provider.start(ignore, ignore)
    try:
        assert await provider.wait_bound(10)
        text = "【广州市政务服务数据管理局】企业000000：贵企业已办理营业执照，请于2030年7月20日前到主管税务机关办理税务登记。"
        started = time.perf_counter()
        await asyncio.gather(
            *(
                provider.submit(OutboundMessage.build(f"p{i}", mobile(i), text))
                for i in range(messages)
            )
        )
        return messages / (time.perf_counter() - started)
    finally:
        await provider.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--window", type=int, default=50)
    args = parser.parse_args()
    os.environ.setdefault("GOVHUB_HOME", tempfile.mkdtemp(prefix="govhub-bench-"))
    os.environ.setdefault("GOVHUB_ENVIRONMENT", "test")
    os.environ.setdefault("GOVHUB_LOG_LEVEL", "WARNING")
    port = free_port()
    smsc = await start_smsc(port)
    try:
        end_to_end, api = await through_the_hub(port, args.messages, args.window)
        peer = await peer_limit(port, args.messages, args.window)
    finally:
        await stop(smsc)
    load = os.getloadavg()[0]
    print(
        f"sms-gateway: {args.messages} messages, SMPP window {args.window}, loopback smpp34 SMSC"
        f" ({os.cpu_count()} CPUs, load average {load:.1f})"
    )
    print(f"  API accepted (batches of 1,000):            {api:10,.0f} messages/s")
    print(f"  API submit -> submitted at the SMPP peer:   {end_to_end:10,.0f} messages/s")
    print(f"  the peer's own limit (provider, no database): {peer:8,.0f} submit_sm/s")
    sys.stdout.flush()
    os._exit(0)  # smpp34's threads may abort at interpreter exit (see docs/sms.md)


if __name__ == "__main__":
    asyncio.run(main())
