"""Input types the registry's API shares: the shape of topic codes and of the two IDs, the
key of a subject in a path, the `purpose` of a read, and dates taken only in the form the
document gives them."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import Path, Query
from pydantic import BeforeValidator

from govhub_common.identifiers import validate_ric, validate_uscc
from govhub_common.inputs import NO_NUL, TOPIC_CODE
from govhub_common.problem_codes import ProblemCode
from govhub_common.problems import Problem
from govhub_registry.subjects import LEGAL_ENTITY, SubjectTable

# The shape of the IDs (GB 32100 and GB 11643): 18 characters, the last a check character
# that no pattern can compute (a well-shaped ID whose check fails names no subject: 404).
USCC_SHAPE = r"^[0-9]{8}[0-9A-HJ-NPQRTUWXYa-hj-npqrtuwxy]{10}$"
RIC_SHAPE = r"^[0-9]{6}[0-9]{4}(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01])[0-9]{3}[0-9Xx]$"
SUBJECT_ID = rf"{USCC_SHAPE}|{RIC_SHAPE}"
PURPOSE_MAX = 200
UNSPECIFIED_PURPOSE = "unspecified"  # a read that states none
USCC_EXAMPLE = "91440101MA59CTL309"
RIC_EXAMPLE = "440106197104041235"

Purpose = Annotated[
    str,
    Query(
        max_length=PURPOSE_MAX,
        pattern=NO_NUL,
        description="Why the data is read; kept in the access log.",
    ),
]
UsccKey = Annotated[
    str,
    Path(
        pattern=USCC_SHAPE,
        description="The unified social credit code (18 characters); one whose check "
        "character does not match names no legal entity (404).",
        examples=[USCC_EXAMPLE],
    ),
]
RicKey = Annotated[
    str,
    Path(
        pattern=RIC_SHAPE,
        description="The resident identity number (18 characters); one whose birth date or "
        "check character is not valid names no person (404).",
        examples=[RIC_EXAMPLE],
    ),
]
TopicFilter = Annotated[
    str | None, Query(pattern=TOPIC_CODE, description="Only records of this topic.")
]


def key_type(subject: SubjectTable) -> Any:
    """The path parameter of the subject's ID."""
    return UsccKey if subject is LEGAL_ENTITY else RicKey


def canonical_id(subject: SubjectTable, key: str) -> str:
    """The ID in canonical form. Its shape is the schema's (a 422 before this); an ID of
    that shape whose check character (or a person's birth date) is wrong names no subject,
    which no pattern can say: 404, as for any ID the registry does not hold."""
    validate = validate_uscc if subject is LEGAL_ENTITY else validate_ric
    try:
        return validate(key.strip().upper())
    except ValueError as exc:
        raise Problem(
            ProblemCode.NOT_FOUND,
            f"{subject.label} {key} does not exist: {exc}",
            errors=[{"path": f"path:$.{subject.key}", "message": str(exc)}],
        ) from None


def _date_text(pattern: re.Pattern[str], example: str) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        # A string, as the schema says: not the seconds since 1970 pydantic would also take.
        if isinstance(value, date) or (isinstance(value, str) and pattern.match(value)):
            return value
        raise ValueError(f"must be written like {example}")

    return check


BusinessDate = Annotated[
    date, BeforeValidator(_date_text(re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}$"), "2024-03-01"))
]
DateTime = Annotated[
    datetime,
    BeforeValidator(
        _date_text(
            re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}"),
            "2024-03-01T09:00:00+08:00",
        )
    ),
]
