"""JSON request bodies read strictly: a key given twice in one object is refused, where
json.loads and orjson would silently keep the last one (`{"record_id": "a", "record_id":
"b"}` would be record b to the hub and perhaps record a to the client's logs).

StrictJsonDecoder parses once, in the standard library's C scanner, and only remembers
whether some object had a duplicate; the slow walk that names where (`duplicate_key_paths`)
runs only then. Where orjson's speed matters (publish), `may_have_duplicate_keys` tells
from the text and orjson's value, exactly and cheaply, whether that second look is needed. StrictJsonMiddleware applies it to every JSON request body before FastAPI
reads it (422 `validation_failed` naming each duplicated key's path); an operation that
reads its own JSON and judges it part by part (publish: one record at a time) declares
`reads_own_json()` in its `openapi_extra` and uses the decoder itself.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from re import Pattern
from typing import Any

from fastapi import FastAPI
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from govhub_common.problem_codes import ProblemCode
from govhub_common.problems import Problem, send_problem

# The `openapi_extra` key of an operation that reads its JSON body itself.
READS_OWN_JSON = "x-govhub-reads-own-json"

# What the hub refuses in a JSON value: PostgreSQL's text and jsonb cannot hold NUL, UTF-8
# cannot hold a lone surrogate (a `\ud800` escape), orjson and bigint stop at 64 bits.
INT_MIN = -(2**63)
INT_MAX = 2**64 - 1


def reads_own_json() -> dict[str, bool]:
    """For a route's `openapi_extra`: the operation parses (and checks) its JSON body itself."""
    return {READS_OWN_JSON: True}


class _Duplicated(dict[str, Any]):
    """An object that had a key more than once (the last value kept, as json does)."""

    def __init__(self, pairs: Sequence[tuple[str, Any]]) -> None:
        super().__init__(pairs)
        counts: dict[str, int] = {}
        for key, _ in pairs:
            counts[key] = counts.get(key, 0) + 1
        self.duplicated = sorted(key for key, count in counts.items() if count > 1)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _finite(text: str) -> float:
    # 1e400 would be read as infinity, which JSON (and orjson, writing it as null) lacks.
    number = float(text)
    if number in (float("inf"), float("-inf")):
        raise ValueError(f"the number {text[:40]} is too large")
    return number


class StrictJsonDecoder:
    """`loads` as json.loads, also noting (in `duplicates_seen`) whether an object of the
    last value parsed had a key twice. NaN, Infinity and numbers beyond a double are
    refused, as orjson refuses them."""

    def __init__(self) -> None:
        self.duplicates_seen = False
        self._decoder = json.JSONDecoder(
            object_pairs_hook=self._object, parse_constant=_refuse_constant, parse_float=_finite
        )

    def _object(self, pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        found = dict(pairs)
        if len(found) != len(pairs):
            self.duplicates_seen = True
            return _Duplicated(pairs)
        return found

    def loads(self, text: str) -> Any:
        """Raises ValueError (json.JSONDecodeError, or a number of more than 4,300 digits)
        or RecursionError (nesting deeper than Python's stack) for what is not JSON."""
        self.duplicates_seen = False
        return self._decoder.decode(text)


_BLANKS = b" \t\r\n"


def may_have_duplicate_keys(text: bytes, value: Any) -> bool:
    """Whether the JSON `text`, which orjson parsed into `value`, may give a key twice.
    Exact when False: with JSON's blanks dropped, `":` outside strings only ends a key, and
    inside one a quote is always escaped, so when `\\":` does not occur the keys written
    are the count of `":`; they are the parsed ones when no key was given twice. C-speed
    passes over the text (about 1 ms a MB) and a walk over the value's objects."""
    compact = text.translate(None, _BLANKS)
    if b'\\":' in compact:
        return True  # a key ending in a backslash, or `":` inside a string: look closer
    return compact.count(b'":') != _key_count(value)


def _key_count(value: Any) -> int:
    count = 0
    if type(value) is dict:
        count = len(value)
        for item in value.values():
            if type(item) is dict or type(item) is list:
                count += _key_count(item)
    elif type(value) is list:
        for item in value:
            if type(item) is dict or type(item) is list:
                count += _key_count(item)
    return count


def key_text(key: str) -> str:
    """A key as it can be shown in a path, a log or jsonb: NUL and lone surrogates escaped."""
    if key.isprintable():
        return key
    return key.encode("utf-8", "backslashreplace").decode().replace("\x00", "\\u0000")


def _child(path: str, key: str | int) -> str:
    return f"{path}[{key}]" if isinstance(key, int) else f"{path}.{key_text(key)}"


def duplicated_keys(value: Any) -> list[str]:
    """The keys given twice in this object itself (not in those inside it)."""
    return list(getattr(value, "duplicated", []))


def duplicate_key_paths(value: Any, path: str = "$") -> list[str]:
    """The path of every key given twice in `value` (as StrictJsonDecoder parsed it)."""
    found: list[str] = []
    if isinstance(value, _Duplicated):
        found += [_child(path, key) for key in value.duplicated]
    if isinstance(value, dict):
        for key, item in value.items():
            found += duplicate_key_paths(item, _child(path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += duplicate_key_paths(item, _child(path, index))
    return found


def unstorable_faults(value: Any, path: str = "$") -> list[dict[str, str]]:
    """What the hub cannot store or write back in a JSON value, each with its path: text
    (keys included) with NUL or a lone surrogate, integers beyond 64 bits, numbers too
    large for a double. Slow (a walk): for values already found faulty by a cheap test."""
    faults: list[dict[str, str]] = []
    if isinstance(value, str):
        faults += text_faults(value, path)
    elif isinstance(value, bool):
        pass
    elif isinstance(value, int):
        if not INT_MIN <= value <= INT_MAX:
            faults.append({"path": path, "message": "an integer beyond 64 bits"})
    elif isinstance(value, float):
        if value in (float("inf"), float("-inf")):
            faults.append({"path": path, "message": "a number too large"})
    elif isinstance(value, dict):
        for key, item in value.items():
            child = _child(path, key)
            faults += text_faults(key, child)
            faults += unstorable_faults(item, child)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            faults += unstorable_faults(item, _child(path, index))
    return faults


def text_faults(text: str, path: str) -> list[dict[str, str]]:
    """Text PostgreSQL cannot store: with NUL, or not UTF-8 (a lone surrogate)."""
    if "\x00" in text:
        return [{"path": path, "message": "must not contain NUL (U+0000)"}]
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return [{"path": path, "message": "must be Unicode text (a lone surrogate is not)"}]
    return []


def duplicate_keys_problem(paths: Sequence[str]) -> Problem:
    return Problem(
        ProblemCode.VALIDATION_FAILED,
        "invalid input at " + ", ".join(paths[:5]) + ": a key given twice in one object",
        errors=[{"path": p, "message": "duplicate key", "type": "duplicate_key"} for p in paths],
    )


def own_json_routes(app: FastAPI, *, prefix: str) -> list[Pattern[str]]:
    """The full paths of a service's operations that read their JSON body themselves."""
    from govhub_common.contract import api_routes

    return [
        compile_path(prefix + route.path)[0]
        for route in api_routes(app)
        if (route.openapi_extra or {}).get(READS_OWN_JSON)
    ]


class StrictJsonMiddleware:
    """Refuses a JSON request body with a duplicate key (422) before the app reads it, and
    hands the app the body it read."""

    def __init__(self, app: ASGIApp, *, own_json: Iterable[Pattern[str]] = ()) -> None:
        self.app = app
        self.own_json = list(own_json)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or not _json_content(scope)
            or any(p.match(scope["path"]) for p in self.own_json)
        ):
            await self.app(scope, receive, send)
            return
        chunks = []
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        paths = _duplicate_keys(body)
        if paths:
            await send_problem(scope, send, duplicate_keys_problem(paths))
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


def _json_content(scope: Scope) -> bool:
    for name, value in scope.get("headers", ()):
        if name == b"content-type":
            media = value.split(b";")[0].strip().lower()
            return media == b"application/json" or media.endswith(b"+json")
    return False


def _duplicate_keys(body: bytes) -> list[str]:
    """The duplicated keys' paths; none for a body that is not JSON (the app says so)."""
    decoder = StrictJsonDecoder()
    try:
        value = decoder.loads(body.decode())
    except (ValueError, RecursionError):
        return []
    return duplicate_key_paths(value) if decoder.duplicates_seen else []
