"""HTML form bodies (application/x-www-form-urlencoded), read strictly: the exchange's token
endpoint (RFC 6749 section 3.2) and the console's pages parse theirs with these.

Each known field at most once, each of a bounded length and free of control characters
(a value PostgreSQL can hold, and no megabytes handed to a KDF); unknown fields are ignored,
as RFC 6749 asks of a token endpoint. A fault is a 400 `invalid_request` naming the field.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import parse_qsl

from fastapi import Request

from govhub_common.problem_codes import ProblemCode
from govhub_common.problems import Problem

FORM = "application/x-www-form-urlencoded"
# Longest value of an ordinary field: ids are at most 64 characters, generated secrets 43;
# the limit leaves room for an operator's own secret.
MAX_FIELD_CHARACTERS = 512


def invalid_request(path: str, message: str, *, what: str = "the form") -> Problem:
    return Problem(
        ProblemCode.INVALID_REQUEST,
        f"{what} is malformed: {message}",
        error="invalid_request",
        errors=[{"path": path, "message": message}],
    )


def checked(
    value: str, path: str, *, limit: int = MAX_FIELD_CHARACTERS, what: str = "the form"
) -> str:
    """A value PostgreSQL can hold and of a sane length (form fields are printable)."""
    if len(value) > limit:
        raise invalid_request(path, f"longer than {limit} characters", what=what)
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        raise invalid_request(path, "contains a control character", what=what)
    return value


def parse_form(raw: bytes, fields: Mapping[str, int], *, what: str = "the form") -> dict[str, str]:
    """The form's known fields (name -> longest value in characters), each at most once and
    checked; the others are ignored."""
    try:
        pairs = parse_qsl(raw.decode("utf-8"), keep_blank_values=True, errors="strict")
    except UnicodeDecodeError:
        raise invalid_request("$", "the form is not UTF-8", what=what) from None
    form: dict[str, str] = {}
    for name, value in pairs:
        limit = fields.get(name)
        if limit is None:
            continue
        if name in form:
            raise invalid_request(f"$.{name}", "given more than once", what=what)
        form[name] = checked(value, f"$.{name}", limit=limit, what=what)
    return form


def is_form(request: Request) -> bool:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    return content_type == FORM


async def read_form(
    request: Request, fields: Mapping[str, int], *, what: str = "the form"
) -> dict[str, str]:
    """The request's form (415 `unsupported_media_type` for another body), parsed as above."""
    if not is_form(request):
        raise Problem(ProblemCode.UNSUPPORTED_MEDIA_TYPE, f"send {FORM} fields")
    return parse_form(await request.body(), fields, what=what)
