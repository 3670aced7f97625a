"""The token endpoint under attack (issue 15, point 10 and the endpoint's share of point 8):
equal work for unknown clients, rate limits per client id and per address, and hostile
form input answered with a clear 4xx."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from govhub_common.testing import Hub, running_hub
from tests.exchange.support import BASE, make_agency, unique

TOKEN = f"{BASE}/oauth/token"
FORM = "application/x-www-form-urlencoded"


async def make_client(hub: Hub, scopes: tuple[str, ...] = ("exchange:subscribe",)) -> Any:
    agency = await make_agency(hub)
    created = await hub.client.post(
        f"{BASE}/agencies/{agency}/clients",
        json={"client_id": unique("c-"), "scopes": list(scopes)},
        headers=hub.operator(),
    )
    assert created.status_code == 201, created.text
    return created.json()


def form(client_id: str, secret: str, **extra: str) -> dict[str, str]:
    return {
        "grant_type": "client_credentials",
        "client_id": client_id,
        "client_secret": secret,
        **extra,
    }


@pytest.fixture
def scrypt_calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int, int]]:
    """Each call of the real scrypt (its cost parameters), whoever makes it."""
    calls: list[tuple[int, int, int]] = []
    real: Callable[..., bytes] = hashlib.scrypt

    def counting(password: bytes, **kwargs: Any) -> bytes:
        calls.append((kwargs["n"], kwargs["r"], kwargs["p"]))
        return real(password, **kwargs)

    monkeypatch.setattr(hashlib, "scrypt", counting)
    return calls


async def test_an_unknown_client_costs_the_same_scrypt_as_a_wrong_secret(
    hub: Hub, scrypt_calls: list[tuple[int, int, int]]
) -> None:
    known = await make_client(hub)
    scrypt_calls.clear()
    wrong = await hub.client.post(TOKEN, data=form(known["client_id"], "not-the-secret"))
    assert wrong.status_code == 401 and wrong.json()["code"] == "invalid_client"
    wrong_secret_work = list(scrypt_calls)
    assert len(wrong_secret_work) == 1

    scrypt_calls.clear()
    unknown = await hub.client.post(TOKEN, data=form(unique("nobody-"), "not-the-secret"))
    assert unknown.status_code == 401
    # The same answer, and the same hashing work with the same cost.
    assert unknown.json() == {**wrong.json()}
    assert scrypt_calls == wrong_secret_work

    disabled = await make_client(hub)
    await hub.client.patch(
        f"{BASE}/agencies/{disabled['agency']}/clients/{disabled['client_id']}",
        json={"disabled": True},
        headers=hub.operator(),
    )
    scrypt_calls.clear()
    refused = await hub.client.post(TOKEN, data=form(disabled["client_id"], "not-the-secret"))
    assert refused.status_code == 401
    assert scrypt_calls == wrong_secret_work


@pytest.fixture
async def strict_hub(fresh_db_url: str, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Hub]:
    """A hub of its own with small limits, behind a trusted proxy on 127.0.0.1 (the test
    client's address) that names callers in X-Forwarded-For."""
    monkeypatch.setenv("GOVHUB_TOKEN_CLIENT_BURST", "3")
    monkeypatch.setenv("GOVHUB_TOKEN_CLIENT_PER_MINUTE", "1")
    monkeypatch.setenv("GOVHUB_TOKEN_ADDRESS_BURST", "6")
    monkeypatch.setenv("GOVHUB_TOKEN_ADDRESS_PER_MINUTE", "1")
    monkeypatch.setenv("GOVHUB_TRUSTED_PROXIES", "127.0.0.1/32")
    async with running_hub(fresh_db_url) as running:
        yield running


def retry_after(reply: httpx.Response) -> int:
    assert reply.status_code == 429, reply.text
    assert reply.headers["content-type"] == "application/problem+json"
    assert reply.json()["code"] == "rate_limited"
    return int(reply.headers["retry-after"])


async def test_a_burst_of_wrong_secrets_is_throttled_per_client_and_per_address(
    strict_hub: Hub,
) -> None:
    hub = strict_hub
    target, other = await make_client(hub), await make_client(hub)
    caller = {"X-Forwarded-For": "203.0.113.7"}

    for _ in range(3):
        wrong = await hub.client.post(
            TOKEN, data=form(target["client_id"], "guess"), headers=caller
        )
        assert wrong.status_code == 401
    throttled = await hub.client.post(
        TOKEN, data=form(target["client_id"], "guess"), headers=caller
    )
    assert retry_after(throttled) >= 1
    # The right secret waits too: guessing must not go on while the bucket is empty.
    assert (
        await hub.client.post(TOKEN, data=form(target["client_id"], target["client_secret"]))
    ).status_code == 429

    # Another client, from the same address, is unaffected.
    for _ in range(5):
        fine = await hub.client.post(
            TOKEN, data=form(other["client_id"], other["client_secret"]), headers=caller
        )
        assert fine.status_code == 200, fine.text

    # Per address: unknown client ids from one address run out its bucket (3 failures were
    # already counted), then every client id from it waits; another address does not.
    for _ in range(3):
        guess = await hub.client.post(TOKEN, data=form(unique("nobody-"), "x"), headers=caller)
        assert guess.status_code == 401
    assert retry_after(
        await hub.client.post(
            TOKEN, data=form(other["client_id"], other["client_secret"]), headers=caller
        )
    )
    elsewhere = await hub.client.post(
        TOKEN,
        data=form(other["client_id"], other["client_secret"]),
        headers={"X-Forwarded-For": "198.51.100.20"},
    )
    assert elsewhere.status_code == 200, elsewhere.text
    # X-Forwarded-For is believed only from a trusted proxy: a forged entry further left
    # does not give the caller a fresh address.
    forged = await hub.client.post(
        TOKEN,
        data=form(other["client_id"], other["client_secret"]),
        headers={"X-Forwarded-For": "192.0.2.99, 203.0.113.7"},
    )
    assert forged.status_code == 429


async def test_the_token_operation_declares_its_429(hub: Hub) -> None:
    document = (await hub.client.get("/exchange/openapi.json")).json()
    responses = document["paths"]["/v1/oauth/token"]["post"]["responses"]
    assert "Retry-After" in responses["429"]["headers"]
    assert "rate_limited" in responses["429"]["description"]
    assert "invalid_request" in responses["400"]["description"]


def basic(client_id: str, secret: str) -> dict[str, str]:
    raw = f"{client_id}:{secret}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


HOSTILE: dict[str, tuple[bytes, dict[str, str], str]] = {
    "NUL in client_id": (b"grant_type=client_credentials&client_id=a%00b&client_secret=x", {}, "$.client_id"),
    "NUL in client_secret": (b"grant_type=client_credentials&client_id=abc&client_secret=x%00", {}, "$.client_secret"),
    "NUL in scope": (b"grant_type=client_credentials&client_id=abc&client_secret=x&scope=%00", {}, "$.scope"),
    "control character": (b"grant_type=client_credentials&client_id=a%0Ab&client_secret=x", {}, "$.client_id"),
    "long client_id": (b"grant_type=client_credentials&client_secret=x&client_id=" + b"a" * 100_000, {}, "$.client_id"),
    "long client_secret": (b"grant_type=client_credentials&client_id=abc&client_secret=" + b"s" * 100_000, {}, "$.client_secret"),
    "duplicate client_id": (b"grant_type=client_credentials&client_id=abc&client_id=def&client_secret=x", {}, "$.client_id"),
    "duplicate grant_type": (b"grant_type=client_credentials&grant_type=password&client_id=abc&client_secret=x", {}, "$.grant_type"),
    "not UTF-8": (b"grant_type=client_credentials&client_id=\xff\xfe&client_secret=x", {}, "$"),
    "escaped not UTF-8": (b"grant_type=client_credentials&client_id=%ff&client_secret=x", {}, "$"),
    "NUL in Basic": (b"grant_type=client_credentials", basic("a%00b", "x"), "header:$.authorization"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(HOSTILE))
async def test_a_hostile_token_request_is_a_clear_400(hub: Hub, case: str) -> None:
    body, headers, path = HOSTILE[case]
    reply = await hub.client.post(TOKEN, content=body, headers={"Content-Type": FORM, **headers})
    assert reply.status_code == 400, reply.text
    assert reply.headers["content-type"] == "application/problem+json"
    problem = reply.json()
    assert problem["code"] == "invalid_request" and problem["error"] == "invalid_request"
    assert [e["path"] for e in problem["errors"]] == [path]
