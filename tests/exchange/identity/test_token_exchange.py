"""The console's token exchange (issue 19, RFC 8693): a signed-in person's identity (a local
account's assertion, an ID token of the city's identity provider, or the person's current
token) for the person's short-lived access token, through the HTTP API."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from govhub_common.persons import (
    ACCESS_TOKEN_TYPE,
    ID_TOKEN_TYPE,
    LOCAL_ASSERTION_ISSUER,
    LOCAL_PERSON_TOKEN_TYPE,
    ROLE_SCOPES,
    TOKEN_EXCHANGE_GRANT,
    PersonClaims,
    console_client_secret,
    encode_local_assertion,
)
from govhub_common.settings import CommonSettings
from govhub_common.testing import Hub, create_test_database, drop_test_database, running_hub
from govhub_common.testing import wait_for as wait_until
from tests.exchange.support import BASE, make_agency, unique

TOKEN = f"{BASE}/oauth/token"
HUB_AGENCY = "gz-datacenter"


def console_secret() -> str:
    # The hub's GOVHUB_HOME is the tests' (tests/conftest.py): the same generated secret.
    return console_client_secret(CommonSettings())


def person(
    agency: str, role: str, *, who: str = "local:wang", auth_time: int | None = None
) -> PersonClaims:
    return PersonClaims(
        person=who,
        name="王小明",
        role=role,
        auth_time=int(time.time()) if auth_time is None else auth_time,
        agency=agency,
    )


async def exchange(
    client: httpx.AsyncClient,
    subject_token: str,
    subject_token_type: str = LOCAL_PERSON_TOKEN_TYPE,
    *,
    auth: tuple[str, str] | None = None,
    **extra: str,
) -> httpx.Response:
    return await client.post(
        TOKEN,
        data={
            "grant_type": TOKEN_EXCHANGE_GRANT,
            "subject_token": subject_token,
            "subject_token_type": subject_token_type,
            **extra,
        },
        auth=auth or ("console", console_secret()),
    )


def claims_of(token: str) -> dict[str, Any]:
    # The signature is the services' business (checked by using the token below).
    return dict(jwt.decode(token, options={"verify_signature": False}))


def refused(reply: httpx.Response, *words: str) -> None:
    assert reply.status_code == 400, reply.text
    problem = reply.json()
    assert problem["code"] == "invalid_grant" and problem["error"] == "invalid_grant", problem
    for word in words:
        assert word in problem["detail"], problem


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_a_local_person_gets_a_token_for_the_agency_with_the_roles_scopes(
    hub: Hub,
) -> None:
    agency = await make_agency(hub, "广州市地方税务局")
    officer = person(agency, "case_officer")
    reply = await exchange(hub.client, encode_local_assertion(officer, console_secret()))
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["issued_token_type"] == ACCESS_TOKEN_TYPE
    assert body["token_type"] == "Bearer" and 0 < body["expires_in"] <= 300
    assert body["scope"] == "alerting:read alerting:work"
    claims = claims_of(body["access_token"])
    assert claims["sub"] == agency
    assert set(claims["scope"].split()) == ROLE_SCOPES["case_officer"]
    assert claims["person"] == "local:wang" and claims["person_name"] == "王小明"
    assert claims["role"] == "case_officer" and claims["auth_time"] == officer.auth_time
    assert claims["act"] == {"sub": "console"} and claims["client_id"] == "console"

    # The services take it as the agency's: its warnings, not the operator's lists.
    warnings = await hub.client.get("/alerting/v1/warnings", headers=bearer(body["access_token"]))
    assert warnings.status_code == 200, warnings.text
    agencies = await hub.client.get(f"{BASE}/agencies", headers=bearer(body["access_token"]))
    assert agencies.status_code == 403

    # A narrower scope may be asked for; a wider one not.
    narrow = await exchange(
        hub.client, encode_local_assertion(officer, console_secret()), scope="alerting:read"
    )
    assert narrow.json()["scope"] == "alerting:read"
    wide = await exchange(
        hub.client, encode_local_assertion(officer, console_secret()), scope="operator"
    )
    assert wide.status_code == 400 and wide.json()["code"] == "invalid_scope"

    # A client-credentials answer is unchanged: no issued_token_type.
    operator_secret = (Path(os.environ["GOVHUB_HOME"]) / "operator-secret").read_text().strip()
    plain = await hub.client.post(
        TOKEN, data={"grant_type": "client_credentials"}, auth=("operator", operator_secret)
    )
    assert plain.status_code == 200 and "issued_token_type" not in plain.json()


async def test_the_exchange_is_audited_under_the_person_without_their_name(hub: Hub) -> None:
    agency = await make_agency(hub)
    who = f"local:{uuid.uuid4().hex[:8]}"
    steward = person(agency, "data_steward", who=who)
    reply = await exchange(hub.client, encode_local_assertion(steward, console_secret()))
    assert reply.status_code == 200, reply.text
    entries = await hub.client.get(
        f"{BASE}/audit",
        params={"agency": agency, "action": "token.exchanged"},
        headers=hub.operator(),
    )
    (entry,) = entries.json()["data"]
    assert entry["actor"] == f"{agency}/{who}"
    assert entry["details"] == {
        "client_id": "console",
        "role": "data_steward",
        "scopes": sorted(ROLE_SCOPES["data_steward"]),
        "idp": "local",
        "subject_token_type": LOCAL_PERSON_TOKEN_TYPE,
    }
    assert "王小明" not in entry["actor"]
    verified = await hub.client.get(f"{BASE}/audit/verify", headers=hub.operator())
    assert verified.json()["valid"] is True


async def test_a_person_token_is_renewed_until_the_sign_in_is_too_old(hub: Hub) -> None:
    agency = await make_agency(hub)
    first = await exchange(
        hub.client, encode_local_assertion(person(agency, "data_steward"), console_secret())
    )
    token = first.json()["access_token"]
    renewed = await exchange(hub.client, token, ACCESS_TOKEN_TYPE)
    assert renewed.status_code == 200, renewed.text
    again = claims_of(renewed.json()["access_token"])
    assert (again["sub"], again["person"], again["role"]) == (agency, "local:wang", "data_steward")
    assert again["auth_time"] == claims_of(token)["auth_time"]

    # Signed in longer ago than GOVHUB_CONSOLE_SESSION_MAX_SECONDS (8 hours by default).
    old = person(agency, "data_steward", auth_time=int(time.time()) - 8 * 3600 - 60)
    stale = hub.token(agency, ROLE_SCOPES["data_steward"], person=old)
    refused(await exchange(hub.client, stale, ACCESS_TOKEN_TYPE), "too old", "sign in again")
    # Nor does a local assertion of that sign-in get one.
    refused(await exchange(hub.client, encode_local_assertion(old, console_secret())), "too old")

    # An agency's own (client) token is no person's: not renewable.
    refused(
        await exchange(hub.client, hub.token(agency, ["exchange:catalog"]), ACCESS_TOKEN_TYPE),
        "not a person's token",
    )


async def test_who_the_person_is_must_hold(hub: Hub) -> None:
    agency = await make_agency(hub)
    secret = console_secret()

    # Operators are the data center's people only.
    refused(
        await exchange(hub.client, encode_local_assertion(person(agency, "operator"), secret)),
        "only people of gz-datacenter",
    )
    ops = await exchange(hub.client, encode_local_assertion(person(HUB_AGENCY, "operator"), secret))
    assert ops.status_code == 200 and ops.json()["scope"] == "operator"

    refused(
        await exchange(hub.client, encode_local_assertion(person(agency, "mayor"), secret)),
        "unknown role",
    )
    refused(
        await exchange(hub.client, encode_local_assertion(person("t-nowhere", "case_officer"), secret)),
        "unknown agency",
    )  # fmt: skip
    disabled = await make_agency(hub)
    changed = await hub.client.patch(
        f"{BASE}/agencies/{disabled}", json={"disabled": True}, headers=hub.operator()
    )
    assert changed.status_code == 200
    refused(
        await exchange(hub.client, encode_local_assertion(person(disabled, "case_officer"), secret)),
        "disabled",
    )  # fmt: skip


async def test_a_forged_expired_or_misaddressed_assertion_is_refused(hub: Hub) -> None:
    agency = await make_agency(hub)
    officer = person(agency, "case_officer")
    refused(
        await exchange(hub.client, encode_local_assertion(officer, "not-the-console-secret-at-all-but-long-enough")),
        "forged",
    )  # fmt: skip
    expired = encode_local_assertion(officer, console_secret(), now=time.time() - 600)
    refused(await exchange(hub.client, expired), "expired")
    now = int(time.time())
    elsewhere = jwt.encode(
        {
            "iss": LOCAL_ASSERTION_ISSUER,
            "aud": "some-other-service",
            "sub": "local:wang",
            "agency": agency,
            "role": "case_officer",
            "auth_time": now,
            "iat": now,
            "exp": now + 60,
        },
        console_secret(),
        algorithm="HS256",
    )
    refused(await exchange(hub.client, elsewhere), "another audience")
    # A subject token of an unknown type, or none, is a malformed request.
    unknown = await exchange(hub.client, "x", "urn:example:token-type:saml")
    assert unknown.status_code == 400 and unknown.json()["code"] == "invalid_request"
    # An ID token when no identity provider is configured.
    refused(await exchange(hub.client, "a.b.c", ID_TOKEN_TYPE), "not configured")


async def test_only_the_console_exchanges_and_it_gets_no_token_of_its_own(hub: Hub) -> None:
    agency = await make_agency(hub)
    created = await hub.client.post(
        f"{BASE}/agencies/{agency}/clients",
        json={"scopes": ["exchange:subscribe"]},
        headers=hub.operator(),
    )
    other = created.json()
    assertion = encode_local_assertion(person(agency, "case_officer"), console_secret())
    reply = await exchange(hub.client, assertion, auth=(other["client_id"], other["client_secret"]))
    assert reply.status_code == 400, reply.text
    assert reply.json()["code"] == "unauthorized_client"
    assert reply.json()["error"] == "unauthorized_client"

    own = await hub.client.post(
        TOKEN, data={"grant_type": "client_credentials"}, auth=("console", console_secret())
    )
    assert own.status_code == 400 and own.json()["code"] == "unauthorized_client"
    # A wrong console secret is an authentication failure, as for any client.
    wrong = await exchange(hub.client, assertion, auth=("console", "wrong-secret"))
    assert wrong.status_code == 401 and wrong.json()["code"] == "invalid_client"
    # An ID token is longer than the 512 characters of other fields: it has room of its own.
    long = await exchange(hub.client, "x" * 4000, ID_TOKEN_TYPE)
    assert long.status_code == 400 and long.json()["code"] == "invalid_grant"
    too_long = await exchange(hub.client, "x" * 9000, ID_TOKEN_TYPE)
    assert too_long.status_code == 400 and too_long.json()["code"] == "invalid_request"
    assert too_long.json()["errors"][0]["path"] == "$.subject_token"


async def test_a_data_steward_keeps_the_own_agencys_clients_only(hub: Hub) -> None:
    mine, theirs = await make_agency(hub), await make_agency(hub)
    ids = {}
    for agency in (mine, theirs):
        created = await hub.client.post(
            f"{BASE}/agencies/{agency}/clients",
            json={"client_id": unique("c-"), "scopes": ["exchange:publish"]},
            headers=hub.operator(),
        )
        ids[agency] = created.json()["client_id"]
    reply = await exchange(
        hub.client, encode_local_assertion(person(mine, "data_steward"), console_secret())
    )
    steward = bearer(reply.json()["access_token"])

    listed = await hub.client.get(f"{BASE}/agencies/{mine}/clients", headers=steward)
    assert listed.status_code == 200, listed.text
    assert [c["client_id"] for c in listed.json()["data"]] == [ids[mine]]
    rotated = await hub.client.post(
        f"{BASE}/agencies/{mine}/clients/{ids[mine]}/rotate", headers=steward
    )
    assert rotated.status_code == 200, rotated.text
    assert rotated.json()["client_secret"]

    other = await hub.client.get(f"{BASE}/agencies/{theirs}/clients", headers=steward)
    assert other.status_code == 403 and other.json()["code"] == "forbidden"
    other = await hub.client.post(
        f"{BASE}/agencies/{theirs}/clients/{ids[theirs]}/rotate", headers=steward
    )
    assert other.status_code == 403
    # Creating or changing clients stays with operators.
    made = await hub.client.post(
        f"{BASE}/agencies/{mine}/clients", json={"scopes": ["exchange:publish"]}, headers=steward
    )
    assert made.status_code == 403

    # The data center's own steward may not rotate the hub's built-in clients.
    hub_steward = await exchange(
        hub.client, encode_local_assertion(person(HUB_AGENCY, "data_steward"), console_secret())
    )
    headers = bearer(hub_steward.json()["access_token"])
    for client_id in ("console", "operator"):
        refused_rotation = await hub.client.post(
            f"{BASE}/agencies/{HUB_AGENCY}/clients/{client_id}/rotate", headers=headers
        )
        assert refused_rotation.status_code == 403, refused_rotation.text


async def test_rotating_the_console_client_signs_every_person_out(fresh_db_url: str) -> None:
    """On a hub of its own: the rotation changes the console's secret."""
    async with running_hub(fresh_db_url) as hub:
        agency = await make_agency(hub)
        reply = await exchange(
            hub.client, encode_local_assertion(person(agency, "case_officer"), console_secret())
        )
        token = reply.json()["access_token"]
        assert (
            await hub.client.get("/alerting/v1/warnings", headers=bearer(token))
        ).status_code == 200

        rotated = await hub.client.post(
            f"{BASE}/agencies/{HUB_AGENCY}/clients/console/rotate", headers=hub.operator()
        )
        assert rotated.status_code == 200, rotated.text

        async def refused_by_alerting() -> bool:
            reply = await hub.client.get("/alerting/v1/warnings", headers=bearer(token))
            if reply.status_code == 200:
                return False
            assert reply.status_code == 401 and "revoked" in reply.json()["detail"], reply.text
            return True

        await wait_until(refused_by_alerting, timeout=15)
        # Nor can it be renewed; the old console secret no longer authenticates.
        renewal = await exchange(
            hub.client, token, ACCESS_TOKEN_TYPE, auth=("console", rotated.json()["client_secret"])
        )
        refused(renewal, "revoked")
        stale = await exchange(
            hub.client, encode_local_assertion(person(agency, "case_officer"), console_secret())
        )
        assert stale.status_code == 401


# ---------------------------------------------------------------------------------------
# ID tokens of a real OpenID provider (oidc-provider-mock), driven through its code flow.

ROLES_CLAIM = {"realm_access": {"roles": ["offline_access", "data_steward"]}}


@pytest.fixture(scope="module")
def provider() -> Iterator[str]:
    from oidc_provider_mock import run_server_in_thread

    # The mock speaks OAuth over http only with authlib told so.
    os.environ["AUTHLIB_INSECURE_TRANSPORT"] = "1"
    # ID tokens live 8 seconds: long enough to exchange, short enough to see one expire.
    with run_server_in_thread(access_token_max_age=timedelta(seconds=8)) as server:
        # Its issuer is the host it is asked on: localhost, not 127.0.0.1.
        yield f"http://localhost:{server.server_port}"


@pytest.fixture(scope="module")
async def sso_hub(admin_db_url: str, provider: str) -> AsyncIterator[Hub]:
    """A hub whose console signs people in with the provider (GOVHUB_CONSOLE_OIDC_*)."""
    url = await create_test_database(admin_db_url)
    names = {
        "GOVHUB_CONSOLE_OIDC_ISSUER": provider,
        "GOVHUB_CONSOLE_OIDC_CLIENT_ID": "govhub-console",
    }
    saved = {name: os.environ.get(name) for name in names}
    os.environ.update(names)
    try:
        async with running_hub(url) as hub:
            yield hub
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        await drop_test_database(admin_db_url, url)


async def id_token(
    provider: str, sub: str, claims: dict[str, Any], client_id: str = "govhub-console"
) -> str:
    """Sign `sub` in at the provider as a browser would, and take the console's ID token."""
    redirect = "http://localhost/console/callback"
    async with httpx.AsyncClient(base_url=provider) as idp:
        assert (await idp.put(f"/users/{sub}", json=claims)).status_code == 204
        authorized = await idp.post(
            "/oauth2/authorize",
            params={
                "client_id": client_id,
                "redirect_uri": redirect,
                "response_type": "code",
                "scope": "openid profile",
                "state": "s1",
            },
            data={"sub": sub},
        )
        assert authorized.status_code == 302, authorized.text
        code = parse_qs(urlparse(authorized.headers["location"]).query)["code"][0]
        tokens = await idp.post(
            "/oauth2/token",
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": redirect,
            },
            auth=(client_id, "any-secret"),
        )
        assert tokens.status_code == 200, tokens.text
        return str(tokens.json()["id_token"])


async def test_a_person_signed_in_with_the_city_provider_gets_a_token(
    sso_hub: Hub, provider: str
) -> None:
    agency = await make_agency(sso_hub)
    sub = uuid.uuid4().hex
    token = await id_token(provider, sub, {"name": "李四", "govhub_agency": agency, **ROLES_CLAIM})
    reply = await exchange(sso_hub.client, token, ID_TOKEN_TYPE)
    assert reply.status_code == 200, reply.text
    claims = claims_of(reply.json()["access_token"])
    assert claims["sub"] == agency and claims["person"] == f"oidc:{sub}"
    assert claims["person_name"] == "李四" and claims["role"] == "data_steward"
    assert set(claims["scope"].split()) == ROLE_SCOPES["data_steward"]
    topics = await sso_hub.client.get(
        f"{BASE}/topics", headers=bearer(reply.json()["access_token"])
    )
    assert topics.status_code == 200, topics.text

    entries = await sso_hub.client.get(
        f"{BASE}/audit",
        params={"agency": agency, "action": "token.exchanged"},
        headers=sso_hub.operator(),
    )
    (entry,) = entries.json()["data"]
    assert entry["actor"] == f"{agency}/oidc:{sub}"
    assert entry["details"]["idp"] == provider
    assert entry["details"]["subject_token_type"] == ID_TOKEN_TYPE

    # Renewed as the same person, and the audit names the provider that vouched.
    renewed = await exchange(sso_hub.client, reply.json()["access_token"], ACCESS_TOKEN_TYPE)
    assert renewed.status_code == 200, renewed.text
    assert claims_of(renewed.json()["access_token"])["person"] == f"oidc:{sub}"


async def test_id_tokens_the_hub_must_not_trust(sso_hub: Hub, provider: str) -> None:
    agency = await make_agency(sso_hub)
    good_claims = {"name": "李四", "govhub_agency": agency, **ROLES_CLAIM}

    # Issued to another application of the city.
    other_app = await id_token(provider, uuid.uuid4().hex, good_claims, client_id="other-app")
    refused(await exchange(sso_hub.client, other_app, ID_TOKEN_TYPE), "another audience")

    # Signed by someone else, naming the provider's key as the genuine token does.
    genuine = await id_token(provider, uuid.uuid4().hex, good_claims)
    header = jwt.get_unverified_header(genuine)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    same_key = {"kid": header["kid"]} if "kid" in header else None
    forged = jwt.encode(claims_of(genuine), pem, algorithm="RS256", headers=same_key)
    refused(await exchange(sso_hub.client, forged, ID_TOKEN_TYPE), "signature")
    # ... or under a key id the provider never had.
    unknown_key = jwt.encode(claims_of(genuine), pem, algorithm="RS256", headers={"kid": "k-x"})
    refused(await exchange(sso_hub.client, unknown_key, ID_TOKEN_TYPE), "key")

    # Without a role the hub knows, or without an agency, or of an unknown agency.
    no_role = await id_token(
        provider, uuid.uuid4().hex, {"govhub_agency": agency, "realm_access": {"roles": ["x"]}}
    )
    refused(await exchange(sso_hub.client, no_role, ID_TOKEN_TYPE), "no role")
    no_agency = await id_token(provider, uuid.uuid4().hex, ROLES_CLAIM)
    refused(await exchange(sso_hub.client, no_agency, ID_TOKEN_TYPE), "no agency")
    nowhere = await id_token(
        provider, uuid.uuid4().hex, {"govhub_agency": "t-nowhere", **ROLES_CLAIM}
    )
    refused(await exchange(sso_hub.client, nowhere, ID_TOKEN_TYPE), "unknown agency")
    operator = await id_token(
        provider,
        uuid.uuid4().hex,
        {"govhub_agency": agency, "realm_access": {"roles": ["operator"]}},
    )
    refused(await exchange(sso_hub.client, operator, ID_TOKEN_TYPE), "gz-datacenter")

    # Expired: the provider's ID tokens live 8 seconds (the exchange allows 5 of skew).
    expiring = await id_token(provider, uuid.uuid4().hex, good_claims)
    exp = claims_of(expiring)["exp"]

    async def expired() -> bool:
        return time.time() > exp + 6

    await wait_until(expired, timeout=30, interval=0.5)
    refused(await exchange(sso_hub.client, expiring, ID_TOKEN_TYPE), "expired")
