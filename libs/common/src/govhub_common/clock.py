"""Business time. Everything that fires on a date is evaluated "as of" a time passed in."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

BUSINESS_TZ = ZoneInfo("Asia/Shanghai")


def utcnow() -> datetime:
    return datetime.now(UTC)


def ensure_utc(moment: datetime) -> datetime:
    """Naive datetimes are taken as business time (Asia/Shanghai), as agencies send them."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=BUSINESS_TZ)
    return moment.astimezone(UTC)


def business_date(moment: datetime) -> date:
    """The calendar date in Asia/Shanghai at that moment."""
    return ensure_utc(moment).astimezone(BUSINESS_TZ).date()


def start_of_business_day(day: date) -> datetime:
    """00:00 Asia/Shanghai of that date, in UTC."""
    return datetime.combine(day, time.min, tzinfo=BUSINESS_TZ).astimezone(UTC)


class Clock:
    """A clock that can be pinned, so a simulation replays a year in minutes."""

    def __init__(self, fixed: datetime | None = None) -> None:
        self._fixed = ensure_utc(fixed) if fixed else None

    def now(self) -> datetime:
        return self._fixed or utcnow()

    def today(self) -> date:
        return business_date(self.now())

    def set(self, moment: datetime) -> None:
        self._fixed = ensure_utc(moment)
