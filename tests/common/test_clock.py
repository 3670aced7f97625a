from datetime import UTC, date, datetime

from govhub_common.clock import Clock, business_date, ensure_utc, start_of_business_day


def test_business_date_is_shanghai() -> None:
    # 17:00 UTC is already the next day in Shanghai (UTC+8).
    assert business_date(datetime(2008, 3, 1, 17, 0, tzinfo=UTC)) == date(2008, 3, 2)
    assert start_of_business_day(date(2008, 3, 2)) == datetime(2008, 3, 1, 16, 0, tzinfo=UTC)


def test_naive_times_are_business_time() -> None:
    assert ensure_utc(datetime(2008, 3, 2, 8, 0)) == datetime(2008, 3, 2, 0, 0, tzinfo=UTC)


def test_a_pinned_clock_replays_time() -> None:
    clock = Clock(datetime(2008, 1, 1, tzinfo=UTC))
    assert clock.today() == date(2008, 1, 1)
    clock.set(datetime(2008, 12, 31, 12, tzinfo=UTC))
    assert clock.today() == date(2008, 12, 31)
