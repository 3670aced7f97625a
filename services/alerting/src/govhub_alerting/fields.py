"""Input types the API shares: what PostgreSQL and the engine can hold, refused as a 422 at
the door rather than failing deep inside (text without NUL, ids within bigint, times whose
business date exists), and taken only in the form the document gives them: a date is a
`YYYY-MM-DD` string and a time an ISO 8601 date-time string, never a number read as a Unix
timestamp; a boolean or an integer of a JSON body is a JSON boolean or integer, not a string
or a 0/1 that pydantic would coerce."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import Path
from pydantic import AfterValidator, BeforeValidator, StringConstraints, WithJsonSchema

from govhub_common.inputs import BIGINT_MAX, FIRST_BUSINESS_YEAR, LAST_BUSINESS_YEAR, NO_NUL

Text = Annotated[str, StringConstraints(pattern=NO_NUL)]
RuleIdPath = Annotated[str, Path(pattern=NO_NUL, description="The rule's id.")]
WarningIdPath = Annotated[int, Path(ge=1, le=BIGINT_MAX, description="The warning's id.")]

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


def _a_json_integer(value: Any) -> Any:
    # JSON Schema's integer is a number without a fraction (94 or 94.0), not "94" or true.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise ValueError("must be an integer")


def _a_business_time(moment: datetime) -> datetime:
    # Years 1 and 9999 have times with no UTC or Asia/Shanghai equivalent.
    if not FIRST_BUSINESS_YEAR <= moment.year <= LAST_BUSINESS_YEAR:
        raise ValueError(
            f"must lie between the years {FIRST_BUSINESS_YEAR} and {LAST_BUSINESS_YEAR}"
        )
    return moment


Day = Annotated[date, BeforeValidator(_a_date_text)]
# An integer of a JSON body.
Integer = Annotated[int, BeforeValidator(_a_json_integer)]
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
