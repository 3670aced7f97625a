"""Token bucket and throttling feedback, on a fake clock."""

from __future__ import annotations

import asyncio

import pytest

from govhub_sms.providers.base import RateLimiter

pytestmark = pytest.mark.timeout(20)


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def limiter(ft: FakeTime, **kw: float) -> RateLimiter:
    return RateLimiter(clock=ft.clock, sleep=ft.sleep, **kw)


async def test_burst_then_rate() -> None:
    ft = FakeTime()
    rl = limiter(ft, rate_per_s=10, burst=5)
    for _ in range(5):
        await rl.acquire()
    assert ft.now == 0
    for _ in range(10):
        await rl.acquire()
    assert ft.now == pytest.approx(1.0)


async def test_throttle_halves_then_recovers() -> None:
    ft = FakeTime()
    rl = limiter(ft, rate_per_s=100, burst=10, recovery_interval_s=5, recovery_factor=2)
    rl.on_throttled()
    assert rl.current_rate == 50
    rl.on_throttled()
    assert rl.current_rate == 25
    # the saved-up burst is gone: the next token waits
    await rl.acquire()
    assert ft.now == pytest.approx(1 / 25)
    ft.now += 5
    assert rl.current_rate == 50
    ft.now += 5
    assert rl.current_rate == 100
    ft.now += 50
    assert rl.current_rate == 100  # never above the configured rate


async def test_floor() -> None:
    ft = FakeTime()
    rl = limiter(ft, rate_per_s=10, burst=1, min_rate_per_s=2)
    for _ in range(10):
        rl.on_throttled()
    assert rl.current_rate == 2
    assert rl.throttled_count == 10


async def test_real_clock_paces_concurrent_callers() -> None:
    rl = RateLimiter(rate_per_s=200, burst=1)
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    await asyncio.gather(*(rl.acquire() for _ in range(21)))
    assert loop.time() - t0 >= 0.09  # 20 tokens at 200/s after the first


def test_invalid() -> None:
    with pytest.raises(ValueError):
        RateLimiter(rate_per_s=0, burst=1)
