"""What every service's inputs must fit, so that PostgreSQL and the time arithmetic never
meet a value they cannot hold: refused at the door as a 422 naming the field (or, in a
publish, as that record's fault), never a 500 from deep inside.

The services' own input types (their fields.py) are built from these.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, WithJsonSchema

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


# Dates and times of a query or body, taken only as the document gives them: a date is a
# `YYYY-MM-DD` string and a time an ISO 8601 date-time string, never a number read as a
# Unix timestamp.
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_DATE_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}.*", re.DOTALL)


def _a_date_text(value: Any) -> Any:
    # pydantic would take 0 (or "0") as 1970-01-01, and a date-time string as its date.
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str) and _DATE.fullmatch(value):
        return value
    raise ValueError("must be a date as YYYY-MM-DD")


def _a_date_time_text(value: Any) -> Any:
    # pydantic would take 0.5 (or "0.5") as a Unix timestamp, and a bare date as midnight.
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and _DATE_TIME.fullmatch(value):
        return value
    raise ValueError("must be an ISO 8601 date-time such as 2026-04-01T23:59:59+08:00")


def _a_business_time(moment: datetime) -> datetime:
    # Years 1 and 9999 have times with no UTC or Asia/Shanghai equivalent.
    if not FIRST_BUSINESS_YEAR <= moment.year <= LAST_BUSINESS_YEAR:
        raise ValueError(
            f"must lie between the years {FIRST_BUSINESS_YEAR} and {LAST_BUSINESS_YEAR}"
        )
    return moment


Day = Annotated[date, BeforeValidator(_a_date_text)]
# The years _a_business_time takes, as the document states them (the year as written: the
# check reads the time in the offset it is given in).
_BUSINESS_YEAR = r"^(19[0-9]{2}|[2-8][0-9]{3}|9[0-8][0-9]{2}|99[0-8][0-9]|999[0-8])-"
Moment = Annotated[
    datetime,
    BeforeValidator(_a_date_time_text),
    AfterValidator(_a_business_time),
    WithJsonSchema(
        {
            "type": "string",
            "format": "date-time",
            "pattern": _BUSINESS_YEAR,
            "description": "An ISO 8601 date-time in the years 1900 to 9998.",
        }
    ),
]
