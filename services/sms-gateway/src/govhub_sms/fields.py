"""Input types of the SMS API whose JSON Schema says what the service accepts: the shape of
a mobile number, template and agency codes, parameter values, text PostgreSQL can hold
(no NUL), and times that exist in UTC. A request the schema allows is not refused for its
shape; what depends on state (a template that exists, its parameters) is answered by the
problem the catalogue gives for it (404, 409)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    StrictFloat,
    StrictInt,
    StringConstraints,
    WithJsonSchema,
)

from govhub_common.clock import ensure_utc
from govhub_common.identifiers import normalize_mobile
from govhub_common.inputs import NO_NUL

TEMPLATE_CODE = r"^[a-z][a-z0-9_]{1,63}$"
AGENCY_CODE = r"^[a-z][a-z0-9-]{0,63}$"
PARAM_NAME = r"^[a-z][a-z0-9_]{0,31}$"
# A mainland mobile in any common spelling: 13800138000, +86 138 0013 8000, 86-13800138000,
# (+86) 138-0013-8000; spaces, hyphens and parentheses are separators, dropped when stored.
_SEP = r"[ ()\-]"
MOBILE = rf"^{_SEP}*(?:(?:\+{_SEP}*)?8{_SEP}*6{_SEP}*)?1{_SEP}*[3-9](?:{_SEP}*[0-9]){{9}}{_SEP}*$"
# A parameter value: no braces or control characters (tab and line breaks aside), and not
# blank.
_PARAM_CHAR = r"[^{}\x00-\x08\x0b\x0c\x0e-\x1f\x7f]"
PARAM_TEXT = rf"^{_PARAM_CHAR}*[^{{}}\s\x00-\x1f\x7f]{_PARAM_CHAR}*$"
MAX_PARAM_LENGTH = 100

Text = Annotated[str, StringConstraints(pattern=NO_NUL)]

Mobile = Annotated[
    str,
    StringConstraints(max_length=32, pattern=MOBILE),
    AfterValidator(normalize_mobile),
    WithJsonSchema(
        {
            "type": "string",
            "format": "cn-mobile",
            "maxLength": 32,
            "pattern": MOBILE,
            "description": "A mainland China mobile number (11 digits starting 13-19), with "
            "or without +86; spaces, hyphens and parentheses are ignored.",
            "examples": ["+8613800138000"],
        }
    ),
]

TemplateCode = Annotated[str, StringConstraints(pattern=TEMPLATE_CODE)]
AgencyCode = Annotated[str, StringConstraints(pattern=AGENCY_CODE)]

ParamValue = Annotated[
    Annotated[str, StringConstraints(max_length=MAX_PARAM_LENGTH, pattern=PARAM_TEXT)]
    | Annotated[StrictInt, Field(ge=-(2**63), le=2**63 - 1)]
    | StrictFloat,
    Field(
        description="Text (up to 100 characters, not blank, without braces or control "
        "characters) or a number."
    ),
]


_DATE_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}")


def _date_time_text(value: Any) -> Any:
    """A date-time is a string (RFC 3339), as the schema says: not the number of seconds
    since 1970 that pydantic would also take."""
    if isinstance(value, datetime) or (isinstance(value, str) and _DATE_TIME.match(value)):
        return value
    raise ValueError("must be a date-time such as 2024-05-06T09:00:00+08:00")


DateTime = Annotated[datetime, BeforeValidator(_date_time_text)]


def utc(moment: datetime) -> datetime:
    """The moment in UTC (naive: Asia/Shanghai); the ends of the calendar, where the
    conversion leaves datetime's range, are clamped to its first or last UTC moment."""
    try:
        return ensure_utc(moment)
    except OverflowError:
        edge = datetime.min if moment.year == 1 else datetime.max
        return edge.replace(tzinfo=UTC)


Moment = Annotated[datetime, BeforeValidator(_date_time_text), AfterValidator(utc)]
