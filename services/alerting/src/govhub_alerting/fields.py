"""Input types the API shares: what PostgreSQL and the engine can hold, refused as a 422 at
the door rather than failing deep inside (text without NUL, ids within bigint, times whose
business date exists), and taken only in the form the document gives them: a date is a
`YYYY-MM-DD` string and a time an ISO 8601 date-time string, never a number read as a Unix
timestamp; a boolean or an integer of a JSON body is a JSON boolean or integer, not a string
or a 0/1 that pydantic would coerce."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path
from pydantic import BeforeValidator, StringConstraints

from govhub_common.inputs import BIGINT_MAX, NO_NUL, Day, Moment

Text = Annotated[str, StringConstraints(pattern=NO_NUL)]
RuleIdPath = Annotated[str, Path(pattern=NO_NUL, description="The rule's id.")]
WarningIdPath = Annotated[int, Path(ge=1, le=BIGINT_MAX, description="The warning's id.")]


def _a_json_integer(value: Any) -> Any:
    # JSON Schema's integer is a number without a fraction (94 or 94.0), not "94" or true.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise ValueError("must be an integer")


# An integer of a JSON body.
Integer = Annotated[int, BeforeValidator(_a_json_integer)]

__all__ = ["Day", "Integer", "Moment", "RuleIdPath", "Text", "WarningIdPath"]
