"""Input types the API shares: what PostgreSQL and the engine can hold, refused as a 422 at
the door rather than failing deep inside (text without NUL, ids within bigint, times whose
business date exists)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import Path
from pydantic import AfterValidator, StringConstraints

# PostgreSQL text cannot hold NUL.
NO_NUL = r"^[^\x00]*$"
BIGINT_MAX = 2**63 - 1

Text = Annotated[str, StringConstraints(pattern=NO_NUL)]
RuleIdPath = Annotated[str, Path(pattern=NO_NUL, description="The rule's id.")]
WarningIdPath = Annotated[int, Path(ge=1, le=BIGINT_MAX, description="The warning's id.")]


def _a_business_time(moment: datetime) -> datetime:
    # Years 1 and 9999 have times with no UTC or Asia/Shanghai equivalent.
    if not 1900 <= moment.year <= 9998:
        raise ValueError("must lie between the years 1900 and 9998")
    return moment


Moment = Annotated[datetime, AfterValidator(_a_business_time)]
