"""A loopback SMSC for development, tests and the benchmark: ``smpp34.Server`` plus a policy.

Run it as its own process (``python -m govhub_sms.providers.smsc_sim --port 2775``); it
accepts any bind, answers each ``submit_sm`` and sends a ``DELIVRD`` receipt for it.

Control, one JSON object per line on stdin::

    {"cmd": "reject", "status": 88, "count": 1}   # answer the next submits with a status
    {"cmd": "hold", "count": 4}                   # leave the next submits unanswered
    {"cmd": "hold", "count": 2, "after": 3}       # answer 3 more first, then hold 2
    {"cmd": "release", "count": 1}                # take held submits after all: give them
                                                  # ids and send their receipts to the
                                                  # newest bind (store and forward)
    {"cmd": "stat", "stat": "UNDELIV", "err": "012", "count": 1}  # next receipts' state
    {"cmd": "receipts", "on": false}              # stop / resume sending receipts
    {"cmd": "mo", "source": "8613800138000", "text": "TD"}        # mobile-originated message
    {"cmd": "receipt", "id": "6699", "stat": "DELIVRD"}           # a receipt out of the blue

Events, one JSON object per line on stdout: ``ready`` (with ``port``), ``bound``,
``unbound``, ``submit`` (esm_class, data_coding, registered_delivery, short_message hex,
answer), ``released`` (message_id, short_message hex), ``receipt_sent``, ``mo_sent``,
``error``. ``--quiet`` prints only ``ready`` and
errors (for the benchmark).

Message ids: ``--id-style mixed`` (default) answers submit_sm_resp with an upper-case hex
id and writes the same id in decimal into the receipt, as many SMSCs do; ``hex`` and
``decimal`` use one spelling for both.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
from datetime import datetime
from typing import Any

import smpp34


class Smsc:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.server = smpp34.Server(args.host, args.port, system_id=args.system_id)
        self.sessions: dict[str, smpp34.Esme] = {}
        self.last: smpp34.Esme | None = None
        self.next_id = args.first_id
        self.reject: list[int] = []
        self.hold = 0
        self.answer_before_hold = 0
        self.held: list[smpp34.SubmitSmEvent] = []
        self.stats: list[tuple[str, str]] = []
        self.receipts = not args.no_receipts
        self.tasks: set[asyncio.Task[Any]] = set()
        self.submits = 0

    def emit(self, event: str, **data: Any) -> None:
        if self.args.quiet and event not in ("ready", "error"):
            return
        sys.stdout.write(json.dumps({"event": event, **data}) + "\n")
        sys.stdout.flush()

    def spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def ids(self, n: int) -> tuple[str, str]:
        style = self.args.id_style
        if style == "hex":
            return format(n, "X"), format(n, "X")
        if style == "decimal":
            return str(n), str(n)
        return format(n, "X"), str(n)

    async def run(self) -> None:
        await self.server.start()
        self.emit("ready", port=self.args.port)
        self.spawn(self.control())
        while True:
            ev = await self.server.next()
            if isinstance(ev, smpp34.Esme):
                self.sessions[ev.session_id] = ev
                self.last = ev
                self.emit("bound", system_id=ev.system_id, session=ev.session_id)
            elif isinstance(ev, smpp34.SubmitSmEvent):
                self.on_submit(ev)
            elif isinstance(ev, smpp34.Unbound):
                self.sessions.pop(ev.session_id, None)
                self.emit("unbound", session=ev.session_id)

    def on_submit(self, ev: smpp34.SubmitSmEvent) -> None:
        self.submits += 1
        info = {
            "n": self.submits,
            "esm_class": ev.esm_class,
            "data_coding": ev.data_coding,
            "registered_delivery": ev.registered_delivery,
            "short_message": ev.short_message.hex(),
            "dest_ton": ev.dest_addr_ton,
        }
        if self.hold > 0 and self.answer_before_hold > 0:
            self.answer_before_hold -= 1
        elif self.hold > 0:
            self.hold -= 1
            self.held.append(ev)  # never answered
            self.emit("submit", answer="held", **info)
            return
        if self.reject:
            status = self.reject.pop(0)
            ev.reject(status)
            self.emit("submit", answer="rejected", status=status, **info)
            return
        n = self.next_id
        self.next_id += 1
        resp_id, receipt_id = self.ids(n)
        ev.accept(resp_id)
        self.emit("submit", answer="accepted", message_id=resp_id, **info)
        if self.receipts and ev.registered_delivery & 0x03:
            stat, err = self.stats.pop(0) if self.stats else ("DELIVRD", "000")
            esme = self.sessions.get(ev.session_id)
            if esme is not None:
                self.spawn(
                    self.send_receipt(
                        esme, ev.source_addr, ev.destination_addr, receipt_id, stat, err
                    )
                )

    def release(self, ev: smpp34.SubmitSmEvent) -> None:
        """A held submit the SMSC took after all: its ESME may be gone (the answer then
        goes nowhere), but its receipt waits for the newest bind, as a store-and-forward
        SMSC keeps receipts for the account."""
        n = self.next_id
        self.next_id += 1
        resp_id, receipt_id = self.ids(n)
        with contextlib.suppress(Exception):
            ev.accept(resp_id)
        self.emit("released", message_id=resp_id, short_message=ev.short_message.hex())
        if self.receipts and ev.registered_delivery & 0x03 and self.last is not None:
            self.spawn(
                self.send_receipt(
                    self.last, ev.source_addr, ev.destination_addr, receipt_id, "DELIVRD", "000"
                )
            )

    async def send_receipt(
        self, esme: smpp34.Esme, our_addr: str, handset: str, rid: str, stat: str, err: str
    ) -> None:
        now = datetime.now().strftime("%y%m%d%H%M")
        text = (
            f"id:{rid} sub:001 dlvrd:{'001' if stat == 'DELIVRD' else '000'} submit date:{now}"
            f" done date:{now} stat:{stat} err:{err} text:"
        )
        # Like a real SMSC, retry a receipt the ESME NAKs (ESME_RMSGQFUL when its inbound
        # queue is full), with a growing pause.
        for attempt in range(1, 21):
            try:
                resp = await esme.deliver_sm(
                    our_addr,
                    text.encode("ascii"),
                    source_addr=handset,
                    source_addr_ton=1,
                    source_addr_npi=1,
                    esm_class=0x04,
                )
            except Exception as exc:
                self.emit("error", where="receipt", detail=str(exc))
                return
            if resp.command_status == 0:
                self.emit("receipt_sent", id=rid, stat=stat, status=0, attempts=attempt)
                return
            self.emit("receipt_nak", id=rid, status=resp.command_status)
            await asyncio.sleep(0.05 * attempt)
        self.emit("error", where="receipt", detail=f"receipt {rid} NAKed 20 times")

    async def send_mo(self, source: str, text: str, dest: str) -> None:
        esme = self.last
        if esme is None:
            self.emit("error", where="mo", detail="no bound ESME")
            return
        gsm = all(ord(c) < 128 for c in text)
        try:
            resp = await esme.deliver_sm(
                dest,
                text.encode("ascii") if gsm else text.encode("utf-16-be"),
                source_addr=source,
                source_addr_ton=1,
                source_addr_npi=1,
                data_coding=0 if gsm else 8,
            )
            self.emit("mo_sent", status=resp.command_status)
        except Exception as exc:
            self.emit("error", where="mo", detail=str(exc))

    async def control(self) -> None:
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        try:
            await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        except (OSError, ValueError):
            return  # no usable stdin: run without control
        while line := await reader.readline():
            try:
                cmd = json.loads(line)
                self.command(cmd)
            except Exception as exc:
                self.emit("error", where="control", detail=repr(exc))

    def command(self, cmd: dict[str, Any]) -> None:
        name = cmd["cmd"]
        count = int(cmd.get("count", 1))
        if name == "reject":
            self.reject += [int(cmd["status"])] * count
        elif name == "hold":
            self.hold += count
            self.answer_before_hold = int(cmd.get("after", 0))
        elif name == "release":
            for ev in self.held[:count]:
                self.release(ev)
            del self.held[:count]
        elif name == "stat":
            self.stats += [(cmd["stat"], cmd.get("err", "000"))] * count
        elif name == "receipts":
            self.receipts = bool(cmd["on"])
        elif name == "mo":
            self.spawn(self.send_mo(cmd["source"], cmd["text"], cmd.get("dest", "10690000")))
        elif name == "receipt":
            esme = self.last
            if esme is not None:
                self.spawn(
                    self.send_receipt(
                        esme,
                        cmd.get("dest", "10690000"),
                        cmd.get("source", "8613800138000"),
                        str(cmd["id"]),
                        cmd.get("stat", "DELIVRD"),
                        cmd.get("err", "000"),
                    )
                )
        else:
            raise ValueError(f"unknown command {name!r}")
        self.emit("ack", cmd=name)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=2775)
    p.add_argument("--system-id", default="GOVHUBSIM")
    p.add_argument("--id-style", choices=("mixed", "hex", "decimal"), default="mixed")
    p.add_argument("--first-id", type=int, default=0x1A2B)
    p.add_argument("--no-receipts", action="store_true")
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(Smsc(args).run())


if __name__ == "__main__":
    main()
