"""Input types of the exchange whose JSON Schema says what the service accepts: the shape of
agency and topic codes and client ids, text PostgreSQL can hold (no NUL), ids within
bigint, versions within integer. A request the schema allows is not refused for its shape;
what depends on state (an agency or topic that exists) is the catalogue's problem for it."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Path, Query
from pydantic import AfterValidator, BeforeValidator, Field, StrictInt, StringConstraints

from govhub_common.contract import SCOPES
from govhub_common.inputs import INTEGER_MAX, NO_NUL, TOPIC_CODE

AGENCY_CODE = r"^[a-z][a-z0-9-]{0,63}$"
CLIENT_ID = r"^[A-Za-z0-9_.-]{3,64}$"
# The largest id taken (ids are bigint): JSON's largest safe integer, which every client
# (and a generator reading the bound as a double) holds exactly.
ID_MAX = 2**53 - 1

# A scope the hub knows (govhub_common.contract.SCOPES): a pattern, not an enum, so that a
# generated client takes the scopes as the strings they are.
SCOPE = "^(" + "|".join(re.escape(scope) for scope in SCOPES) + ")$"
Scope = Annotated[str, StringConstraints(pattern=SCOPE)]

Text = Annotated[str, StringConstraints(pattern=NO_NUL)]
AgencyCode = Annotated[str, StringConstraints(pattern=AGENCY_CODE)]
TopicCode = Annotated[str, StringConstraints(pattern=TOPIC_CODE)]
Id = Annotated[StrictInt, Field(ge=1, le=ID_MAX)]

# A JSON object stored as jsonb: its keys and text without NUL (jsonb cannot hold \u0000).
JsonObject = Annotated[
    dict[Text, Any],
    Field(json_schema_extra={"propertyNames": {"pattern": NO_NUL}}),
]

# Path parameters.
AgencyPath = Annotated[str, Path(pattern=AGENCY_CODE, description="The agency's code.")]
TopicPath = Annotated[str, Path(pattern=TOPIC_CODE, description="The topic's code.")]
ClientPath = Annotated[str, Path(pattern=CLIENT_ID, description="The OAuth client's id.")]
SubscriptionPath = Annotated[int, Path(ge=1, le=ID_MAX, description="The subscription's id.")]
VersionPath = Annotated[int, Path(ge=1, le=INTEGER_MAX, description="The topic schema version.")]

# Query filters.
AgencyQuery = Annotated[str | None, Query(pattern=AGENCY_CODE, description="An agency's code.")]
TopicQuery = Annotated[str | None, Query(pattern=TOPIC_CODE, description="A topic's code.")]
TextQuery = Annotated[str | None, Query(max_length=200, pattern=NO_NUL)]

_DATE_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}")


def _date_time_text(value: Any) -> Any:
    """A date-time is a string (RFC 3339), as the schema says: not the number of seconds
    since 1970 that pydantic would also take."""
    if value is None or isinstance(value, datetime):
        return value
    if isinstance(value, str) and _DATE_TIME.match(value):
        return value
    raise ValueError("must be a date-time such as 2026-03-02T09:00:00+08:00")


def _in_utc(moment: datetime | None) -> datetime | None:
    """An offset moment in UTC; the ends of the calendar, where the conversion leaves
    datetime's range, are clamped to its first or last UTC moment."""
    if moment is None or moment.tzinfo is None:
        return moment
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        edge = datetime.min if moment.year == 1 else datetime.max
        return edge.replace(tzinfo=UTC)


DateTimeQuery = Annotated[
    datetime | None,
    Query(description="A date-time (RFC 3339)."),
    BeforeValidator(_date_time_text),
    AfterValidator(_in_utc),
]
