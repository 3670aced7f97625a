"""The providers this process sends through, built from settings, in failover order."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from pathlib import Path

from govhub_sms.providers.base import (
    DeliveryReport,
    InboundMessage,
    Provider,
    RateLimiter,
)
from govhub_sms.providers.log import LogProvider
from govhub_sms.providers.smpp import SmppConfig, SmppProvider
from govhub_sms.settings import ProviderSettings, SmsSettings

log = logging.getLogger("govhub.sms.gateway")


@dataclass
class ProviderSlot:
    name: str
    provider: Provider
    limiter: RateLimiter
    window: asyncio.Semaphore
    limiter_inside: bool
    """The provider applies the limiter itself (per SMPP part, slowing down on throttles)."""


@dataclass
class Gateway:
    """Per-process sending state (govhub_sms.state.SmsState.gateway)."""

    slots: list[ProviderSlot]
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    reports: asyncio.Queue[tuple[str, DeliveryReport]] = field(default_factory=asyncio.Queue)
    inbound: asyncio.Queue[InboundMessage] = field(default_factory=asyncio.Queue)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    def slot(self, index: int) -> ProviderSlot | None:
        return self.slots[index] if 0 <= index < len(self.slots) else None

    def by_name(self, name: str) -> ProviderSlot | None:
        return next((s for s in self.slots if s.name == name), None)

    async def start(self) -> None:
        for slot in self.slots:

            async def on_report(report: DeliveryReport, name: str = slot.name) -> None:
                await self.reports.put((name, report))
                self.arrived.set()

            await slot.provider.start(on_report, self.on_inbound)

    async def on_inbound(self, message: InboundMessage) -> None:
        await self.inbound.put(message)
        self.arrived.set()

    async def close(self) -> None:
        for slot in self.slots:
            try:
                await slot.provider.close()
            except Exception:
                log.exception("closing provider %s failed", slot.name)


def build_provider(config: ProviderSettings, home: Path) -> ProviderSlot:
    limiter = RateLimiter(rate_per_s=config.rate_per_s, burst=config.burst)
    provider: Provider
    if config.kind == "log":
        provider = LogProvider(config.path or home / "sms" / "outbox.jsonl")
        inside = False
    else:
        provider = SmppProvider(
            SmppConfig(
                host=config.host,
                port=config.port,
                system_id=config.system_id,
                password=config.password,
                system_type=config.system_type,
                source_addr=config.source_addr,
                source_addr_ton=config.source_addr_ton,
                source_addr_npi=config.source_addr_npi,
                window=config.window,
                submit_timeout_s=config.submit_timeout_s,
                bind_timeout_s=config.bind_timeout_s,
                bind_wait_s=config.bind_wait_s,
                receipt_id_format=config.receipt_id_format,
                orphan_grace_s=config.orphan_grace_s,
            ),
            limiter=limiter,
        )
        inside = True
    return ProviderSlot(config.name, provider, limiter, asyncio.Semaphore(config.window), inside)


def build_gateway(settings: SmsSettings) -> Gateway:
    names = [p.name for p in settings.sms_providers]
    if len(set(names)) != len(names) or not names:
        raise ValueError("GOVHUB_SMS_PROVIDERS needs at least one provider, names unique")
    return Gateway([build_provider(p, Path(settings.home)) for p in settings.sms_providers])
