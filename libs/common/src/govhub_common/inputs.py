"""What every service's inputs must fit, so that PostgreSQL and the time arithmetic never
meet a value they cannot hold: refused at the door as a 422 naming the field (or, in a
publish, as that record's fault), never a 500 from deep inside.

The services' own input types (their fields.py) are built from these.
"""

from __future__ import annotations

from datetime import datetime

from govhub_common.clock import ensure_utc

# PostgreSQL text and jsonb cannot hold NUL.
NO_NUL = r"^[^\x00]*$"
# A topic's code, as the exchange's catalog takes it and the other services name topics.
TOPIC_CODE = r"^[a-z][a-z0-9_]{0,63}$"
# PostgreSQL's bigint and integer.
BIGINT_MAX = 2**63 - 1
INTEGER_MAX = 2**31 - 1
# Business times are taken in these years: each such time has a UTC and an Asia/Shanghai
# reading, and deadlines and windows of a year either side still exist (datetime stops at
# the years 1 and 9999; year 1 in +08:00 is before UTC's year 1).
FIRST_BUSINESS_YEAR = 1900
LAST_BUSINESS_YEAR = 9998


def business_time(moment: datetime) -> datetime:
    """The moment in UTC (a naive one read in Asia/Shanghai); ValueError outside the
    business years."""
    if not FIRST_BUSINESS_YEAR <= moment.year <= LAST_BUSINESS_YEAR:
        raise ValueError(
            f"must lie between the years {FIRST_BUSINESS_YEAR} and {LAST_BUSINESS_YEAR}"
        )
    return ensure_utc(moment)
