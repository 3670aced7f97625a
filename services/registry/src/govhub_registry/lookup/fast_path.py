"""The hot path, GET a person or legal entity by ID (current values), answered before
FastAPI's routing and dependency solving, which cost more CPU than the lookup itself.

It answers only a request that succeeds: a valid bearer token with `registry:read` (or
`operator`), a valid ID that exists, no parameter but `purpose`. Anything else (no or bad
token, missing scope, bad ID, unknown ID, `as_of`/`known_at`, ...) passes through to the
declared route (`routes.py`), which gives the same answer and every problem response.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Receive, Scope, Send

from govhub_common.faults import transient_fault
from govhub_common.identifiers import validate_ric, validate_uscc
from govhub_common.problems import Problem
from govhub_common.security import OPERATOR_SCOPE
from govhub_registry.lookup.service import current_record
from govhub_registry.schemas import RIC_SHAPE, USCC_SHAPE
from govhub_registry.state import registry_state
from govhub_registry.subjects import LEGAL_ENTITY, PERSON, SubjectTable

_ACCEPTED = frozenset({"registry:read", OPERATOR_SCOPE})
_USCC = re.compile(USCC_SHAPE)
_RIC = re.compile(RIC_SHAPE)
_PURPOSE_MAX = 200  # as the route's `Purpose` query parameter


@dataclass(frozen=True)
class _Route:
    """What the metrics middleware reads of a matched route: its path template."""

    path: str


_SUBJECTS: list[tuple[str, SubjectTable, _Route]] = [
    (f"/v1/{segment}/", subject, _Route(f"/v1/{segment}/{{{subject.key}}}"))
    for segment, subject in (("persons", PERSON), ("legal-entities", LEGAL_ENTITY))
]


class LookupFastPath:
    """ASGI middleware of the registry app."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET" or not await _answer(scope, send):
            await self.app(scope, receive, send)


async def _answer(scope: Scope, send: Send) -> bool:
    path: str = scope["path"]
    root_path: str = scope.get("root_path", "")
    if root_path and path.startswith(root_path):
        path = path[len(root_path) :]
    matched = next((m for m in _SUBJECTS if path.startswith(m[0])), None)
    if matched is None:
        return False
    prefix, subject, route = matched
    raw_key = path[len(prefix) :]
    if not raw_key or "/" in raw_key:
        return False  # history, registrations, ... or the search
    purpose = _purpose(scope["query_string"])
    token = _bearer_token(scope["headers"])
    if purpose is None or token is None:
        return False
    app = scope["app"]
    try:
        principal = app.state.runtime.verifier.verify(token)
    except Problem:
        return False
    if principal.scopes.isdisjoint(_ACCEPTED):
        return False
    # Only a key of the shape the route's schema allows (the route answers anything else).
    if not (_USCC if subject is LEGAL_ENTITY else _RIC).fullmatch(raw_key):
        return False
    try:
        key = (validate_uscc if subject is LEGAL_ENTITY else validate_ric)(raw_key.upper())
    except ValueError:
        return False
    view = registry_state(app.state.context).access_policy.view(principal, subject.kind)
    try:
        body = await current_record(app.state.context, subject, key, principal, view, purpose)
    except Exception as exc:
        if transient_fault(exc) is None:
            raise
        return False  # the route meets the same fault and answers it (503) like any other
    if body is None:
        return False  # the route answers 404
    scope["route"] = route
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
    return True


def _purpose(query: bytes) -> str | None:
    """The `purpose` parameter ("unspecified" when absent); None when the query holds
    anything else, or a purpose the route would refuse."""
    if not query:
        return "unspecified"
    pairs = parse_qsl(query.decode("latin-1"), keep_blank_values=True)
    if len(pairs) != 1 or pairs[0][0] != "purpose" or len(pairs[0][1]) > _PURPOSE_MAX:
        return None
    if "\x00" in pairs[0][1]:
        return None  # PostgreSQL text cannot hold it: the route refuses it (422)
    return pairs[0][1]


def _bearer_token(headers: list[tuple[bytes, bytes]]) -> str | None:
    for name, value in headers:
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            return token if scheme.lower() == "bearer" and token else None
    return None
