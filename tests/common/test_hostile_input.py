"""Hostile input at every field of every operation: no 5xx (issue 15, "Done when").

For every operation of the four services' OpenAPI documents, as served by a running hub,
hypothesis starts from a request the document allows (schemathesis builds it) and replaces
some of its path parameters, query parameters and top-level body fields with what a
careless or hostile client sends: text with NUL or lone surrogates (percent-encoded in URLs,
JSON-escaped in bodies), Unicode digits, numbers beyond int32, bigint and Python's
4,300-digit limit, dates in the years 1 and 9999, values of the wrong type. As an operator
and as an agency. Every answer must be below 500.

Bounded and derandomized, so a run takes the same requests every time.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis.core import NotSet

from govhub_common.testing import HubProcess, create_test_database, drop_test_database

PREFIXES = {
    "registry": "/registry",
    "exchange": "/exchange",
    "alerting": "/alerting",
    "sms": "/sms",
}
AGENCY_SCOPES = [
    "exchange:publish",
    "exchange:subscribe",
    "exchange:catalog",
    "registry:read",
    "alerting:read",
    "alerting:work",
    "sms:send",
]
EXAMPLES_PER_OPERATION = 40
METHODS = ("get", "post", "put", "patch", "delete")

# A JSON number of 4,301 digits: past Python's int string limit (written into the body as
# is; json.dumps would refuse it).
HUGE_NUMBER = "__huge_number__"
HUGE_DIGITS = "9" * 4301

hostile_text = st.one_of(
    st.sampled_from(
        [
            "\x00",
            "a\x00b",
            "\ud800",  # a lone surrogate
            "x\udfff",
            "²",  # str.isdigit() is True, int() fails
            "٣",
            "１２",
            "9" * 4301,
            "-" + "9" * 4301,
            "9" * 30,
            "-9223372036854775809",
            "9223372036854775808",
            "2147483648",
            "-2147483649",
            "1e309",
            "NaN",
            "0001-01-01",
            "9999-12-31",
            "0001-01-01T00:00:00",
            "0001-01-01T00:00:00+14:00",
            "9999-12-31T23:59:59",
            "9999-12-31T23:59:59-14:00",
            "0000-00-00T00:00:00Z",
            "2026-02-30",
            "%",
            "%00",
            "../..",
            "",
            " ",
            "🏻" * 300,
            "x" * 20_000,
        ]
    ),
    st.text(st.characters(codec=None, exclude_categories=()), max_size=40),
)
hostile_integer = st.one_of(
    st.sampled_from(
        [
            0,
            -1,
            2**31 - 1,
            2**31,
            -(2**31) - 1,
            2**53,
            2**63 - 1,
            2**63,
            -(2**63) - 1,
            2**64,
            10**40,
        ]
    ),
    st.integers(),
)
hostile_other = st.sampled_from(
    [None, True, False, [], {}, 1e308, -0.0, 0.5, ["\x00"], {"\x00": 1}, {"a": "\x00"}, HUGE_NUMBER]
)
hostile = st.one_of(hostile_text, hostile_integer, hostile_other)


@dataclass
class HostileHub:
    process: HubProcess
    tokens: dict[str, str]
    found: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
async def hostile_hub(
    admin_db_url: str, amqp_url: str, amqp_exchange: str
) -> AsyncIterator[HostileHub]:
    url = await create_test_database(admin_db_url)
    process = HubProcess(
        url,
        env={
            "GOVHUB_AMQP_URL": amqp_url,
            "GOVHUB_AMQP_EXCHANGE": amqp_exchange,
            "GOVHUB_AMQP_QUEUE_PREFIX": f"{amqp_exchange}.hostile.",
            "GOVHUB_AMQP_DELETE_QUEUES_AT_STOP": "true",
            "GOVHUB_SMS_SENDER_ENABLED": "false",
        },
    )
    try:
        await process.start()
        tokens = await process.operator_and_agency_tokens("gz-hostile", "敌意输入局", AGENCY_SCOPES)
        yield HostileHub(process, tokens)
    finally:
        await process.stop()
        await drop_test_database(admin_db_url, url)


def in_url(value: Any) -> str:
    """A value as a path segment or query value: UTF-8 (lone surrogates kept), escaped."""
    if value == HUGE_NUMBER:
        value = HUGE_DIGITS
    if isinstance(value, bool):
        value = "true" if value else "false"
    elif value is None:
        value = ""
    elif isinstance(value, list | dict):
        value = json.dumps(value)
    return quote(str(value).encode("utf-8", "surrogatepass"), safe="")


def json_body(value: Any) -> bytes:
    # ensure_ascii writes a lone surrogate as its \\u escape, as a client's JSON may.
    text = json.dumps(value, ensure_ascii=True)
    return text.replace(f'"{HUGE_NUMBER}"', HUGE_DIGITS).encode()


def form_body(value: Any) -> bytes:
    if not isinstance(value, dict):
        return in_url(value).encode()
    return "&".join(f"{in_url(k)}={in_url(v)}" for k, v in value.items()).encode()


def probe(hub: HostileHub, service: str, who: str) -> None:
    """Every operation of the service, EXAMPLES_PER_OPERATION hostile requests each; the
    5xx answers are collected in hub.found."""
    prefix = PREFIXES[service]
    with httpx.Client(base_url=hub.process.url, timeout=60) as client:
        document = client.get(f"{prefix}/openapi.json").json()
        schema = schemathesis.openapi.from_dict(document)
        headers = {"Authorization": f"Bearer {hub.tokens[who]}"}
        for path, item in document["paths"].items():
            for method in item:
                if method in METHODS:
                    _probe_operation(hub, client, schema, prefix, path, method, headers)


def _plausible(parameter: dict[str, Any]) -> Any:
    schema = parameter.get("schema", {})
    for found in (parameter.get("example"), schema.get("example"), *schema.get("examples", [])):
        if found is not None:
            return found
    return 1 if schema.get("type") == "integer" else "x"


def _probe_operation(
    hub: HostileHub,
    client: httpx.Client,
    schema: Any,
    prefix: str,
    path: str,
    method: str,
    headers: dict[str, str],
) -> None:
    operation = schema[path][method.upper()]
    # Path parameters start from a fixed plausible value (generating some from their
    # patterns takes seconds an example); hostile ones replace them below.
    plausible = {
        p["name"]: _plausible(p)
        for p in operation.definition.raw.get("parameters", [])
        if p.get("in") == "path"
    }

    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(path_parameters=plausible or None), data=st.data())
    def hostile_requests(case: Any, data: st.DataObject) -> None:
        path_parameters = dict(case.path_parameters or {})
        query = dict(case.query or {})
        body = dict(case.body) if isinstance(case.body, dict) else case.body
        media = case.media_type
        if isinstance(body, NotSet):  # an optional body left out
            body = media = None
        targets = [("path", name) for name in path_parameters]
        targets += [("query", name) for name in query]
        targets += [
            ("query", p["name"])
            for p in operation.definition.raw.get("parameters", [])
            if p.get("in") == "query" and p["name"] not in query
        ]
        if isinstance(body, dict):
            targets += [("body", name) for name in body]
        if media is not None:
            targets.append(("body", None))
        chosen = (
            data.draw(st.lists(st.sampled_from(targets), min_size=1, max_size=3, unique=True))
            if targets
            else []
        )
        for where, name in chosen:
            value = data.draw(hostile)
            if where == "path":
                path_parameters[name] = value
            elif where == "query":
                query[name] = value
            elif name is None:
                body = value
            elif isinstance(body, dict):
                body[name] = value
        url = prefix + path
        for name, value in path_parameters.items():
            url = url.replace("{" + name + "}", in_url(value))
        if query:
            url += "?" + "&".join(f"{in_url(k)}={in_url(v)}" for k, v in query.items())
        sent_headers = dict(headers)
        content = None
        if media is not None:
            if media == "application/x-www-form-urlencoded":
                content = form_body(body)
            else:
                media = "application/json"
                content = json_body(body)
            sent_headers["Content-Type"] = media
        reply = client.request(method.upper(), url, content=content, headers=sent_headers)
        if reply.status_code >= 500:
            shown = content[:300] if content else b""
            hub.found.append(
                f"{method.upper()} {url[:300]} body={shown!r} -> {reply.status_code} {reply.text[:300]}"
            )

    hostile_requests()


@pytest.mark.parametrize("who", ["operator", "agency"])
@pytest.mark.parametrize("service", sorted(PREFIXES))
async def test_no_hostile_input_gets_a_5xx(hostile_hub: HostileHub, service: str, who: str) -> None:
    hostile_hub.found.clear()
    await asyncio.to_thread(probe, hostile_hub, service, who)
    assert not hostile_hub.found, "\n".join(hostile_hub.found[:60])
