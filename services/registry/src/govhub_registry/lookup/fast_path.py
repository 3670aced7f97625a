"""The hot path, GET a person or legal entity by ID (current values), answered before
FastAPI's routing and dependency solving, which cost more CPU than the lookup itself.

It answers only a request that succeeds: a valid bearer token with `registry:read` (or
`operator`), a valid ID that exists, no parameter but `purpose`. Anything else (no or bad
token, missing scope, bad ID, unknown ID, `as_of`/`known_at`, ...) passes through to the
declared route (lookup/routes.py), which gives every problem response. Both send the bytes
of one function, `lookup.service.current_record`, so a success cannot differ.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Receive, Scope, Send

from govhub_common.faults import transient_fault
from govhub_common.problems import Problem
from govhub_registry.deps import read_access
from govhub_registry.fields import (
    PURPOSE_MAX,
    RIC_SHAPE,
    UNSPECIFIED_PURPOSE,
    USCC_SHAPE,
    canonical_id,
)
from govhub_registry.lookup.service import current_record
from govhub_registry.state import registry_state
from govhub_registry.subjects import LEGAL_ENTITY, PERSON, SubjectTable

# What the route admits: the scopes of its `Reader`, the shapes of its path parameter.
_ACCEPTED: frozenset[str] = read_access.accepted_scopes  # type: ignore[attr-defined]
_USCC = re.compile(USCC_SHAPE)
_RIC = re.compile(RIC_SHAPE)


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
        key = canonical_id(subject, raw_key)
    except Problem:
        return False  # the route answers 404
    try:
        body = await current_record(
            registry_state(app.state.context),
            subject=subject,
            key=key,
            principal=principal,
            purpose=purpose,
        )
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
    """The `purpose` parameter (UNSPECIFIED_PURPOSE when absent); None when the query holds
    anything else, or a purpose the route would refuse."""
    if not query:
        return UNSPECIFIED_PURPOSE
    pairs = parse_qsl(query.decode("latin-1"), keep_blank_values=True)
    if len(pairs) != 1 or pairs[0][0] != "purpose" or len(pairs[0][1]) > PURPOSE_MAX:
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
