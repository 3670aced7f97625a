"""Sending policies evaluated "as of" a time: quiet hours, per-recipient caps, retry backoff."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta

from govhub_common.clock import BUSINESS_TZ

# Base delay of the first retry per error class; doubled per attempt. A throttle clears
# fast, a full queue or a failing SMSC takes longer.
RETRY_BASE_SECONDS = {
    "throttled": 1.0,
    "queue_full": 5.0,
    "system": 10.0,
    "disconnected": 5.0,
}


def parse_clock_time(value: str | None) -> time | None:
    if not value:
        return None
    hours, minutes = value.split(":")
    return time(int(hours), int(minutes))


@dataclass(frozen=True)
class QuietHours:
    start: time
    end: time

    def until(self, moment: datetime) -> datetime | None:
        """The end of the quiet period `moment` falls in (UTC), or None outside one."""
        local = moment.astimezone(BUSINESS_TZ)
        now = local.time()
        day = local.date()
        if self.start <= self.end:
            if not (self.start <= now < self.end):
                return None
        elif now >= self.start:
            day += timedelta(days=1)
        elif now >= self.end:
            return None
        return datetime.combine(day, self.end, tzinfo=BUSINESS_TZ).astimezone(moment.tzinfo)


def quiet_hours(start: str | None, end: str | None) -> QuietHours | None:
    begin, finish = parse_clock_time(start), parse_clock_time(end)
    if begin is None or finish is None or begin == finish:
        return None
    return QuietHours(begin, finish)


def retry_delay(kind: str, attempt: int, max_delay: float) -> timedelta:
    base = RETRY_BASE_SECONDS.get(kind, 10.0)
    return timedelta(seconds=min(max_delay, base * 2 ** max(0, attempt - 1)))


@dataclass
class DailyCaps:
    """Per-recipient counts of the business day, advanced as a round decides to send."""

    per_day: int
    per_template: int
    by_recipient: dict[str, int]
    by_template: dict[tuple[str, str], int]

    def refusal(self, recipient: str, template: str) -> str | None:
        if self.by_template.get((recipient, template), 0) >= self.per_template:
            return (
                f"cap_exceeded: template {template} already sent to this number "
                f"{self.per_template} time(s) today"
            )
        if self.by_recipient.get(recipient, 0) >= self.per_day:
            return f"cap_exceeded: {self.per_day} messages already sent to this number today"
        return None

    def count(self, recipient: str, template: str) -> None:
        self.by_recipient[recipient] = self.by_recipient.get(recipient, 0) + 1
        key = (recipient, template)
        self.by_template[key] = self.by_template.get(key, 0) + 1
