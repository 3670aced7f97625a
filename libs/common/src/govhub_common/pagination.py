"""One pagination model for every list of every service (docs/contracts.md, Pagination).

- Query parameters: `limit` (1 to MAX_LIMIT, default DEFAULT_LIMIT) and `cursor`, an opaque
  string that only a previous page's `next` gives.
- Reply: `{"data": [...], "next": "<cursor>" | null}`; `next` is null when there is
  nothing more, so `while next:` ends.
- A service asks for limit + 1 rows and hands them to `page()`, which tells from the extra
  row whether there is more; the cursor holds the sort key of the page's last row.

Cursors are base64url of a small JSON array: opaque to clients (they must not build them),
readable to the service that wrote them, checked on the way back in.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from typing import Annotated, Any, Generic, TypeVar

import orjson
from fastapi import Query
from pydantic import BaseModel, Field

from govhub_common.problem_codes import ProblemCode
from govhub_common.problems import Problem

T = TypeVar("T")
R = TypeVar("R")

MAX_LIMIT = 5000
DEFAULT_LIMIT = 100
# A cursor longer than this was not written by us (and is refused before decoding).
MAX_CURSOR_LENGTH = 512


class Page(BaseModel, Generic[T]):
    """One page of a list."""

    data: list[T]
    next: str | None = Field(
        None,
        description="Pass as `cursor` for the next page; null when there is nothing more.",
    )

    @classmethod
    def model_parametrized_name(cls, params: tuple[Any, ...]) -> str:
        # `ConflictPublicPage`, not pydantic's `Page[ConflictPublic]` (`Page_ConflictPublic_`
        # in a document): the name a generated client's class gets.
        return "".join(getattr(p, "__name__", str(p)) for p in params) + "Page"


Limit = Annotated[
    int, Query(ge=1, le=MAX_LIMIT, description=f"Items per page (at most {MAX_LIMIT}).")
]
Cursor = Annotated[
    str | None,
    Query(
        max_length=MAX_CURSOR_LENGTH,
        description="The `next` of the previous page; omit for the first page.",
    ),
]


def encode_cursor(*key: str | int | float | None) -> str:
    """The cursor after a row whose sort key is `key`."""
    return base64.urlsafe_b64encode(orjson.dumps(list(key))).decode().rstrip("=")


def decode_cursor(cursor: str | None, *types: type) -> tuple[Any, ...] | None:
    """The sort key a cursor holds (None for the first page), each part checked against
    `types`; a cursor this list did not give is a 400 `invalid_cursor`."""
    if cursor is None or cursor == "":
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        key = orjson.loads(raw)
    except (binascii.Error, ValueError):
        raise _invalid(cursor) from None
    if not isinstance(key, list) or len(key) != len(types):
        raise _invalid(cursor)
    for part, kind in zip(key, types, strict=True):
        if (part is not None and not isinstance(part, kind)) or isinstance(part, bool):
            raise _invalid(cursor)
        if isinstance(part, int) and not -(2**63) <= part < 2**63:
            raise _invalid(cursor)  # beyond what PostgreSQL's bigint holds
        if isinstance(part, str) and "\x00" in part:
            raise _invalid(cursor)  # PostgreSQL text cannot hold NUL
    return tuple(key)


def _invalid(cursor: str) -> Problem:
    return Problem(
        ProblemCode.INVALID_CURSOR,
        "cursor is not one this list gave; pass a previous page's `next`, or omit it",
        errors=[
            {"path": "query:$.cursor", "message": "not a cursor of this list", "type": "cursor"}
        ],
    )


def page(
    rows: Sequence[R],
    limit: int,
    *,
    key: Callable[[R], tuple[str | int | float | None, ...]],
    item: Callable[[R], T],
) -> Page[T]:
    """A page of at most `limit` items from `limit + 1` rows fetched in order."""
    more = len(rows) > limit
    shown = rows[:limit]
    return Page[T](
        data=[item(row) for row in shown],
        next=encode_cursor(*key(shown[-1])) if more and shown else None,
    )
