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
    """The hub's business clock: the wall clock in service; in simulation mode
    (GOVHUB_SIMULATE) the time the simulation drove it to, so a year replays in minutes and
    every time the hub stamps (a warning raised or resolved, a case moved, a message
    queued or sent) is a time of the replayed year."""

    def __init__(self, fixed: datetime | None = None, *, simulated: bool = False) -> None:
        self._fixed = ensure_utc(fixed) if fixed else None
        self.simulated = simulated

    def now(self) -> datetime:
        return self._fixed or utcnow()

    def today(self) -> date:
        return business_date(self.now())

    def set(self, moment: datetime) -> None:
        self._fixed = ensure_utc(moment)

    def drive(self, moment: datetime) -> None:
        """A simulation says what time it is (an `as_of` it passed): the clock reads that
        time from now on. In service the wall clock is never moved."""
        if self.simulated:
            self.set(moment)

    def stamp(self, *moments: datetime | None) -> datetime:
        """The time to stamp an effect of records with: in simulation the latest of their
        business times (the replayed moment they happened), else now()."""
        known = [ensure_utc(m) for m in moments if m is not None]
        if self.simulated and known:
            return max(known)
        return self.now()
