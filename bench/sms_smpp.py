"""SMPP throughput: N messages through SmppProvider to smpp34's server on loopback.

    .venv/bin/python bench/sms_smpp.py [-n 5000] [--window 50] [--ucs2]

Starts the loopback SMSC (``govhub_sms.providers.smsc_sim``, smpp34's server) in its own
process, binds one transceiver, submits N messages with at most ``window`` submit_sm in
flight, and waits for every delivery receipt. Prints messages/second submitted (first
submit to last submit_sm_resp) and receipts/second (first submit to last receipt).
Target: at least 1,000 messages/s on a 2-core machine.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import socket
import sys
import time

from govhub_sms.providers.base import DeliveryReport, InboundMessage, OutboundMessage
from govhub_sms.providers.smpp import SmppConfig, SmppProvider

TARGET = 1000.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def run(n: int, window: int, ucs2: bool) -> int:
    port = free_port()
    smsc = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "govhub_sms.providers.smsc_sim", "--port", str(port), "--quiet"),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert smsc.stdout is not None
        stdout = smsc.stdout
        ready = await asyncio.wait_for(stdout.readline(), 10)
        if b"ready" not in ready:
            print("SMSC did not start", file=sys.stderr)
            return 2
        peer_errors: list[bytes] = []

        async def drain() -> None:  # the SMSC reports errors on stdout; never let it block
            while line := await stdout.readline():
                peer_errors.append(line)

        drainer = asyncio.ensure_future(drain())
        done = asyncio.Event()
        receipts = 0
        last_receipt = 0.0

        async def on_report(report: DeliveryReport) -> None:
            nonlocal receipts, last_receipt
            receipts += 1
            last_receipt = time.perf_counter()
            if receipts >= n:
                done.set()

        async def on_inbound(msg: InboundMessage) -> None:
            pass

        config = SmppConfig(
            host="127.0.0.1",
            port=port,
            system_id="bench",
            password="bench",
            source_addr="10690000",
            window=window,
            inbound_capacity=max(1024, window * 4),
        )
        provider = SmppProvider(config)
        await provider.start(on_report, on_inbound)
        if not await provider.wait_bound(10):
            print("no bind", file=sys.stderr)
            return 2
        text = (
            "【广州市政务服务数据管理局】您的企业请于30日内办理税务登记。"
            if ucs2
            else "Reminder: register your enterprise for tax within 30 days. Reply TD to stop."
        )
        messages = [OutboundMessage.build(f"bench-{i}", f"+86138{i:08d}", text) for i in range(n)]
        assert all(m.segments == 1 for m in messages)
        sem = asyncio.Semaphore(window * 2)  # keep the provider's window full, not the loop
        errors = 0

        async def one(msg: OutboundMessage) -> None:
            nonlocal errors
            async with sem:
                try:
                    await provider.submit(msg)
                except Exception:
                    errors += 1

        t0 = time.perf_counter()
        await asyncio.gather(*(one(m) for m in messages))
        t_submit = time.perf_counter() - t0
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(done.wait(), 60)
        t_receipts = (last_receipt or time.perf_counter()) - t0
        await provider.close()

        sub_rate = (n - errors) / t_submit
        rec_rate = receipts / t_receipts if t_receipts > 0 else 0.0
        print(f"messages: {n} ({'UCS-2' if ucs2 else 'GSM-7'}, 1 part each), window {window}")
        print(f"submitted: {n - errors} in {t_submit:.2f}s = {sub_rate:,.0f} messages/s")
        print(f"receipts:  {receipts} in {t_receipts:.2f}s = {rec_rate:,.0f} receipts/s")
        print(f"errors:    {errors} (SMSC side: {len(peer_errors)})")
        print(
            "peer limit: none - smpp34's server has no rate limit; it answers ESME_RMSGQFUL only"
            " when its 1,024-event inbound queue is full (not reached with this window)"
        )
        ok = sub_rate >= TARGET and receipts == n and errors == 0
        drainer.cancel()
        print(f"target {TARGET:,.0f} messages/s: {'met' if ok else 'NOT met'}")
        return 0 if ok else 1
    finally:
        if smsc.returncode is None:
            smsc.kill()
        await smsc.wait()


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("-n", type=int, default=5000)
    p.add_argument("--window", type=int, default=50)
    p.add_argument("--ucs2", action="store_true")
    args = p.parse_args()
    sys.exit(asyncio.run(run(args.n, args.window, args.ucs2)))


if __name__ == "__main__":
    main()
