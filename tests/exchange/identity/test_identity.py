"""Agencies, OAuth clients, client-credentials tokens and the JWKS."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import jwt

from govhub_common.testing import Hub
from tests.exchange.support import BASE, make_agency, unique


async def token_response(hub: Hub, client_id: str, secret: str, **extra: str):  # type: ignore[no-untyped-def]
    return await hub.client.post(
        f"{BASE}/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": secret,
            **extra,
        },
    )


async def test_operator_client_is_bootstrapped_with_a_private_secret_file(
    hub: Hub, govhub_home: Path
) -> None:
    secret_file = govhub_home / "operator-secret"
    assert stat.S_IMODE(os.stat(secret_file).st_mode) == 0o600
    response = await token_response(hub, "operator", secret_file.read_text().strip())
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "Bearer" and body["scope"] == "operator"
    agencies = await hub.client.get(
        f"{BASE}/agencies", headers={"Authorization": f"Bearer {body['access_token']}"}
    )
    assert agencies.status_code == 200
    assert "gz-datacenter" in [a["code"] for a in agencies.json()["data"]]


async def test_client_credentials_token_verifies_with_the_published_jwks(hub: Hub) -> None:
    agency = await make_agency(hub, "广州市地方税务局")
    created = await hub.client.post(
        f"{BASE}/agencies/{agency}/clients",
        json={"scopes": ["exchange:subscribe", "exchange:publish"]},
        headers=hub.operator(),
    )
    assert created.status_code == 201, created.text
    client = created.json()
    listed = await hub.client.get(f"{BASE}/agencies/{agency}/clients", headers=hub.operator())
    assert "client_secret" not in listed.json()["data"][0]  # shown once only

    response = await token_response(
        hub, client["client_id"], client["client_secret"], scope="exchange:subscribe"
    )
    assert response.status_code == 200, response.text
    token = response.json()["access_token"]
    jwks = (await hub.client.get(f"{BASE}/.well-known/jwks.json")).json()
    key = jwt.PyJWK(jwks["keys"][0])
    claims = jwt.decode(token, key.key, algorithms=["RS256"], audience="govhub")
    assert claims["sub"] == agency
    assert claims["scope"] == "exchange:subscribe"
    assert claims["exp"] - claims["iat"] <= 900

    whoami = await hub.client.get(
        f"{BASE}/topics",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert whoami.status_code == 200

    too_much = await token_response(
        hub, client["client_id"], client["client_secret"], scope="operator"
    )
    assert too_much.status_code == 400
    assert too_much.json()["code"] == "invalid_scope"


async def test_rotated_or_disabled_clients_cannot_get_tokens(hub: Hub) -> None:
    agency = await make_agency(hub)
    client = (
        await hub.client.post(
            f"{BASE}/agencies/{agency}/clients",
            json={"client_id": unique("c-"), "scopes": ["exchange:publish"]},
            headers=hub.operator(),
        )
    ).json()
    old_secret = client["client_secret"]
    rotated = await hub.client.post(
        f"{BASE}/agencies/{agency}/clients/{client['client_id']}/rotate", headers=hub.operator()
    )
    assert rotated.status_code == 200
    new_secret = rotated.json()["client_secret"]
    assert new_secret != old_secret
    refused = await token_response(hub, client["client_id"], old_secret)
    assert refused.status_code == 401
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["code"] == "invalid_client"
    assert (await token_response(hub, client["client_id"], new_secret)).status_code == 200

    disabled = await hub.client.patch(
        f"{BASE}/agencies/{agency}/clients/{client['client_id']}",
        json={"disabled": True},
        headers=hub.operator(),
    )
    assert disabled.json()["disabled"] is True
    assert (await token_response(hub, client["client_id"], new_secret)).status_code == 401


async def test_token_endpoint_rejects_wrong_grant_and_content_type(hub: Hub) -> None:
    wrong_grant = await hub.client.post(
        f"{BASE}/oauth/token",
        data={"grant_type": "password", "client_id": "x", "client_secret": "y"},
    )
    assert wrong_grant.status_code == 400
    assert wrong_grant.json()["code"] == "unsupported_grant_type"
    as_json = await hub.client.post(
        f"{BASE}/oauth/token", json={"grant_type": "client_credentials"}
    )
    assert as_json.status_code == 415


async def test_agency_management_needs_the_operator_scope(hub: Hub) -> None:
    no_token = await hub.client.post(f"{BASE}/agencies", json={"code": "x-y", "name": "某局"})
    assert no_token.status_code == 401
    agency = await hub.client.post(
        f"{BASE}/agencies",
        json={"code": "x-y", "name": "某局"},
        headers=hub.auth("gz-amr", "exchange:catalog"),
    )
    assert agency.status_code == 403
    bad = await hub.client.post(
        f"{BASE}/agencies", json={"code": "Bad Code", "name": ""}, headers=hub.operator()
    )
    assert bad.status_code == 422
    assert {e["path"] for e in bad.json()["errors"]} == {"$.code", "$.name"}


async def test_token_by_http_basic_and_clients_paged(hub: Hub) -> None:
    agency = await make_agency(hub)
    clients = [
        (
            await hub.client.post(
                f"{BASE}/agencies/{agency}/clients",
                json={"client_id": f"{agency}-{n}.x", "scopes": ["exchange:subscribe"]},
                headers=hub.operator(),
            )
        ).json()
        for n in range(3)
    ]
    # RFC 6749 section 2.3.1: id and secret form-encoded, then Basic.
    first = clients[0]
    basic = await hub.client.post(
        f"{BASE}/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(first["client_id"], first["client_secret"]),
    )
    assert basic.status_code == 200, basic.text
    assert basic.json()["scope"] == "exchange:subscribe"
    wrong = await hub.client.post(
        f"{BASE}/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(first["client_id"], "wrong"),
    )
    assert wrong.status_code == 401 and wrong.json()["code"] == "invalid_client"

    listed, cursor = [], None
    while True:
        params: dict[str, str | int] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = (
            await hub.client.get(
                f"{BASE}/agencies/{agency}/clients", params=params, headers=hub.operator()
            )
        ).json()
        listed += [c["client_id"] for c in page["data"]]
        cursor = page["next"]
        if not cursor:
            break
    assert listed == sorted(c["client_id"] for c in clients)
