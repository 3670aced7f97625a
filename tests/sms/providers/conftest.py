"""Fixtures: a real SMSC process per test (see smsc_process.py) and SMPP providers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from govhub_common.testing import free_port
from govhub_sms.providers.smpp import SmppConfig, SmppProvider

from .smsc_process import Sink, SmscProcess


@pytest.fixture
async def smsc_factory() -> AsyncIterator[Callable[..., Awaitable[SmscProcess]]]:
    started: list[SmscProcess] = []

    async def make(*args: str, port: int | None = None) -> SmscProcess:
        proc = SmscProcess(port or free_port(), *args)
        started.append(proc)
        await proc.start()
        return proc

    yield make
    for proc in started:
        await proc.kill()


@pytest.fixture
async def smsc(smsc_factory: Callable[..., Awaitable[SmscProcess]]) -> SmscProcess:
    return await smsc_factory()


@pytest.fixture
async def provider_factory() -> AsyncIterator[Callable[..., Awaitable[tuple[SmppProvider, Sink]]]]:
    made: list[SmppProvider] = []

    async def make(config: SmppConfig, **kwargs: Any) -> tuple[SmppProvider, Sink]:
        sink = Sink()
        provider = SmppProvider(config, **kwargs)
        made.append(provider)
        await provider.start(sink.on_report, sink.on_inbound)
        return provider, sink

    yield make
    for provider in made:
        await provider.close()
