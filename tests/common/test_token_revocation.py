"""Revocation that bites (issue 15, point 3): a token issued before its client is rotated,
loses a scope or is disabled, or before its agency is disabled, is refused by every service
within seconds, in every run mode; a token issued after the change works at once."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from govhub_common.security import generate_key_pair
from govhub_common.testing import Hub, HubProcess, wait_for

EXCHANGE = "/exchange/v1"
# A valid resident ID number no test records: an authorised read is a 404.
PERSON = "440106195003070011"
# One read per service, and the scope it needs.
READS = {
    "registry:read": f"/registry/v1/persons/{PERSON}",
    "exchange:subscribe": f"{EXCHANGE}/topics",
    "alerting:read": "/alerting/v1/warnings",
    "sms:send": "/sms/v1/messages",
}
AUTHORISED = {
    "registry:read": 404,
    "exchange:subscribe": 200,
    "alerting:read": 200,
    "sms:send": 200,
}
ALL_SCOPES = sorted(READS)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def make_agency(client: httpx.AsyncClient, operator: dict[str, str]) -> str:
    code = f"t-rev-{uuid.uuid4().hex[:8]}"
    created = await client.post(
        f"{EXCHANGE}/agencies", json={"code": code, "name": "测试局"}, headers=operator
    )
    assert created.status_code == 201, created.text
    return code


async def make_client(
    client: httpx.AsyncClient, operator: dict[str, str], agency: str, scopes: list[str]
) -> dict[str, Any]:
    created = await client.post(
        f"{EXCHANGE}/agencies/{agency}/clients", json={"scopes": scopes}, headers=operator
    )
    assert created.status_code == 201, created.text
    return dict(created.json())


async def get_token(client: httpx.AsyncClient, client_id: str, secret: str) -> str:
    reply = await client.post(
        f"{EXCHANGE}/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(client_id, secret),
    )
    assert reply.status_code == 200, reply.text
    return str(reply.json()["access_token"])


async def works(client: httpx.AsyncClient, token: str, scopes: list[str]) -> bool:
    for scope in scopes:
        reply = await client.get(READS[scope], headers=bearer(token))
        assert reply.status_code in (AUTHORISED[scope], 401), (scope, reply.text)
        if reply.status_code != AUTHORISED[scope]:
            return False
    return True


async def refused_everywhere(client: httpx.AsyncClient, token: str) -> bool:
    for scope in ALL_SCOPES:
        reply = await client.get(READS[scope], headers=bearer(token))
        if reply.status_code != 401:
            assert reply.status_code == AUTHORISED[scope], (scope, reply.text)
            return False
        problem = reply.json()
        assert problem["code"] == "unauthorized"
        assert "revoked" in problem["detail"], problem
        assert 'error="invalid_token"' in reply.headers["www-authenticate"]
    return True


# Each revocation: (hub client, operator headers, agency, the client) -> a token issued after
# the change that must work, and the scopes it must work for.
Revoke = Callable[
    [httpx.AsyncClient, dict[str, str], str, dict[str, Any]],
    Awaitable[tuple[str, list[str]]],
]


async def rotate(
    client: httpx.AsyncClient, operator: dict[str, str], agency: str, oauth: dict[str, Any]
) -> tuple[str, list[str]]:
    rotated = await client.post(
        f"{EXCHANGE}/agencies/{agency}/clients/{oauth['client_id']}/rotate", headers=operator
    )
    assert rotated.status_code == 200, rotated.text
    # Issued right after the change (the same second, likely): it works.
    return await get_token(client, oauth["client_id"], rotated.json()["client_secret"]), ALL_SCOPES


async def remove_scope(
    client: httpx.AsyncClient, operator: dict[str, str], agency: str, oauth: dict[str, Any]
) -> tuple[str, list[str]]:
    kept = [s for s in ALL_SCOPES if s != "sms:send"]
    changed = await client.patch(
        f"{EXCHANGE}/agencies/{agency}/clients/{oauth['client_id']}",
        json={"scopes": kept},
        headers=operator,
    )
    assert changed.status_code == 200, changed.text
    return await get_token(client, oauth["client_id"], oauth["client_secret"]), kept


async def disable_client(
    client: httpx.AsyncClient, operator: dict[str, str], agency: str, oauth: dict[str, Any]
) -> tuple[str, list[str]]:
    sibling = await make_client(client, operator, agency, ALL_SCOPES)
    sibling_token = await get_token(client, sibling["client_id"], sibling["client_secret"])
    changed = await client.patch(
        f"{EXCHANGE}/agencies/{agency}/clients/{oauth['client_id']}",
        json={"disabled": True},
        headers=operator,
    )
    assert changed.status_code == 200, changed.text
    # Another client of the agency keeps its tokens, old and new.
    assert await works(client, sibling_token, ALL_SCOPES)
    return await get_token(client, sibling["client_id"], sibling["client_secret"]), ALL_SCOPES


async def disable_agency(
    client: httpx.AsyncClient, operator: dict[str, str], agency: str, oauth: dict[str, Any]
) -> tuple[str, list[str]]:
    other = await make_agency(client, operator)
    other_client = await make_client(client, operator, other, ALL_SCOPES)
    changed = await client.patch(
        f"{EXCHANGE}/agencies/{agency}", json={"disabled": True}, headers=operator
    )
    assert changed.status_code == 200, changed.text
    return await get_token(
        client, other_client["client_id"], other_client["client_secret"]
    ), ALL_SCOPES


REVOCATIONS: dict[str, Revoke] = {
    "rotated": rotate,
    "scope removed": remove_scope,
    "client disabled": disable_client,
    "agency disabled": disable_agency,
}


async def operator_headers(client: httpx.AsyncClient, secret: str) -> dict[str, str]:
    return bearer(await get_token(client, "operator", secret))


@pytest.fixture(params=["hub", "rabbit_hub"])
def any_hub(request: pytest.FixtureRequest) -> Hub:
    """All-in-one with in-process events, and all-in-one with RabbitMQ."""
    hub: Hub = request.getfixturevalue(request.param)
    return hub


@pytest.mark.parametrize("revocation", list(REVOCATIONS))
async def test_a_token_issued_before_a_revocation_is_refused_by_every_service(
    any_hub: Hub, revocation: str, govhub_home: Path
) -> None:
    client = any_hub.client
    operator = await operator_headers(client, (govhub_home / "operator-secret").read_text().strip())
    agency = await make_agency(client, operator)
    oauth = await make_client(client, operator, agency, ALL_SCOPES)
    old_token = await get_token(client, oauth["client_id"], oauth["client_secret"])
    assert await works(client, old_token, ALL_SCOPES)

    new_token, new_scopes = await REVOCATIONS[revocation](client, operator, agency, oauth)

    await wait_for(lambda: refused_everywhere(client, old_token), timeout=15)
    assert await works(client, new_token, new_scopes)


async def test_a_split_registry_learns_the_revocation_on_every_replica(
    fresh_db_url: str, amqp_url: str, tmp_path: Path
) -> None:
    """Split mode: the exchange in one process, two registry replicas in two others, events
    through RabbitMQ. One replica's consumer takes the event; both refuse the old token."""
    keys = generate_key_pair()
    (tmp_path / "private.pem").write_bytes(keys.private_pem or b"")
    (tmp_path / "public.pem").write_bytes(keys.public_pem)
    events = f"govhub.test.{uuid.uuid4().hex[:8]}"
    secret = uuid.uuid4().hex
    env = {
        "GOVHUB_AMQP_URL": amqp_url,
        "GOVHUB_AMQP_EXCHANGE": events,
        "GOVHUB_AMQP_QUEUE_PREFIX": f"{events}.",
        "GOVHUB_AMQP_DELETE_QUEUES_AT_STOP": "true",
        "GOVHUB_JWT_PRIVATE_KEY_FILE": str(tmp_path / "private.pem"),
        "GOVHUB_JWT_PUBLIC_KEY_FILE": str(tmp_path / "public.pem"),
        "GOVHUB_OPERATOR_BOOTSTRAP_SECRET": secret,
    }

    async def person(replica: HubProcess, token: str) -> httpx.Response:
        async with httpx.AsyncClient(base_url=replica.url) as client:
            return await client.get(READS["registry:read"], headers=bearer(token))

    exchange = HubProcess(fresh_db_url, target="exchange", env=env)
    replicas = [HubProcess(fresh_db_url, target="registry", env=env) for _ in range(2)]
    try:
        await exchange.start()
        for replica in replicas:
            await replica.start()
        async with httpx.AsyncClient(base_url=exchange.url) as client:
            operator = await operator_headers(client, secret)
            agency = await make_agency(client, operator)
            oauth = await make_client(client, operator, agency, ["registry:read"])
            old_token = await get_token(client, oauth["client_id"], oauth["client_secret"])
            for replica in replicas:  # verified, and remembered by each replica's verifier
                assert (await person(replica, old_token)).status_code == 404
            rotated = await client.post(
                f"{EXCHANGE}/agencies/{agency}/clients/{oauth['client_id']}/rotate",
                headers=operator,
            )
            assert rotated.status_code == 200, rotated.text
            new_token = await get_token(client, oauth["client_id"], rotated.json()["client_secret"])

        async def refused_by_both() -> bool:
            for replica in replicas:
                reply = await person(replica, old_token)
                if reply.status_code != 401:
                    assert reply.status_code == 404, reply.text
                    return False
                assert "revoked" in reply.json()["detail"]
            return True

        await wait_for(refused_by_both, timeout=20, interval=0.2)
        for replica in replicas:
            assert (await person(replica, new_token)).status_code == 404
    finally:
        for process in [*replicas, exchange]:
            await process.stop()
