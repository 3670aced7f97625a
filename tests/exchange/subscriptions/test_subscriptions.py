"""Subscription requests: automatic, owner-decided, refused; revocation."""

from __future__ import annotations

from govhub_common.testing import Hub
from tests.exchange.support import BASE, agency_headers, make_agency, make_topic, subscribe


async def test_conditional_request_waits_for_the_owner_and_shows_its_age(hub: Hub) -> None:
    owner = await make_agency(hub)
    topic = await make_topic(hub, owner, sharing_type="conditional")
    ltax, ntax = await make_agency(hub), await make_agency(hub)
    first = await subscribe(hub, ltax, topic, ["uscc", "name"])
    second = await subscribe(hub, ntax, topic, ["uscc"])
    assert first["status"] == "pending" and first["pending_age_seconds"] >= 0

    pending = (
        await hub.client.get(
            f"{BASE}/subscriptions",
            params={"role": "owner", "status": "pending"},
            headers=agency_headers(hub, owner),
        )
    ).json()["data"]
    assert {s["id"] for s in pending} == {first["id"], second["id"]}
    assert all(s["pending_age_seconds"] is not None for s in pending)

    # Only the owner decides; a refusal needs a reason.
    not_owner = await hub.client.post(
        f"{BASE}/subscriptions/{first['id']}/decision",
        json={"approve": True},
        headers=agency_headers(hub, ltax),
    )
    assert not_owner.status_code == 403
    no_reason = await hub.client.post(
        f"{BASE}/subscriptions/{second['id']}/decision",
        json={"approve": False},
        headers=agency_headers(hub, owner),
    )
    assert no_reason.status_code == 422

    approved = await hub.client.post(
        f"{BASE}/subscriptions/{first['id']}/decision",
        json={"approve": True},
        headers=agency_headers(hub, owner),
    )
    assert approved.json()["status"] == "approved"
    assert approved.json()["pending_age_seconds"] is None
    refused = await hub.client.post(
        f"{BASE}/subscriptions/{second['id']}/decision",
        json={"approve": False, "reason": "用途与职责不符"},
        headers=agency_headers(hub, owner),
    )
    assert refused.json()["status"] == "refused"
    assert refused.json()["reason"] == "用途与职责不符"
    feed = await hub.client.get(
        f"{BASE}/subscriptions/{second['id']}/records", headers=agency_headers(hub, ntax)
    )
    assert feed.status_code == 403

    again = await hub.client.post(
        f"{BASE}/subscriptions/{first['id']}/decision",
        json={"approve": False, "reason": "x"},
        headers=agency_headers(hub, owner),
    )
    assert again.status_code == 409


async def test_not_shared_topics_refuse_and_unknown_items_are_named(hub: Hub) -> None:
    owner = await make_agency(hub)
    topic = await make_topic(
        hub, owner, sharing_type="not_shared", legal_basis="《税收征收管理法》第八条"
    )
    other = await make_agency(hub)
    refused = await subscribe(hub, other, topic, ["uscc"])
    assert refused["status"] == "refused"
    assert "税收征收管理法" in refused["reason"]

    unknown = await hub.client.post(
        f"{BASE}/subscriptions",
        json={"topic": topic, "purpose": "比对", "items": ["uscc", "salary"]},
        headers=agency_headers(hub, other),
    )
    assert unknown.status_code == 422
    assert unknown.json()["errors"] == [
        {"path": "$.items[1]", "message": "unknown data item salary"}
    ]
    missing = await hub.client.post(
        f"{BASE}/subscriptions",
        json={"topic": "no_such_topic", "purpose": "比对", "items": ["uscc"]},
        headers=agency_headers(hub, other),
    )
    assert missing.status_code == 404


async def test_owner_revokes_and_the_feed_stops(hub: Hub) -> None:
    owner = await make_agency(hub)
    topic = await make_topic(hub, owner)
    reader = await make_agency(hub)
    subscription = await subscribe(hub, reader, topic, ["uscc"])
    assert subscription["status"] == "approved"
    headers = agency_headers(hub, reader)
    assert (
        await hub.client.get(f"{BASE}/subscriptions/{subscription['id']}/records", headers=headers)
    ).status_code == 200
    stranger = await make_agency(hub)
    denied = await hub.client.post(
        f"{BASE}/subscriptions/{subscription['id']}/revoke",
        json={"reason": "x"},
        headers=agency_headers(hub, stranger),
    )
    assert denied.status_code in (403, 404)
    revoked = await hub.client.post(
        f"{BASE}/subscriptions/{subscription['id']}/revoke",
        json={"reason": "协议到期"},
        headers=agency_headers(hub, owner),
    )
    assert revoked.json()["status"] == "revoked"
    stopped = await hub.client.get(
        f"{BASE}/subscriptions/{subscription['id']}/records", headers=headers
    )
    assert stopped.status_code == 403
    assert stopped.json()["code"] == "subscription_not_active"
    # A stranger does not even learn that the subscription exists.
    hidden = await hub.client.get(
        f"{BASE}/subscriptions/{subscription['id']}", headers=agency_headers(hub, stranger)
    )
    assert hidden.status_code == 404


async def test_an_operator_requests_a_subscription_for_an_agency_others_may_not(hub: Hub) -> None:
    owner = await make_agency(hub)
    topic = await make_topic(hub, owner, sharing_type="conditional")
    tax, other = await make_agency(hub), await make_agency(hub)
    body = {"topic": topic, "purpose": "税务登记比对", "items": ["uscc"], "subscriber": tax}

    made = await hub.client.post(f"{BASE}/subscriptions", json=body, headers=hub.operator())
    assert made.status_code == 201, made.text
    assert (made.json()["subscriber"], made.json()["status"]) == (tax, "pending")

    # An agency asks only for itself; an unknown agency is named.
    as_other = await hub.client.post(
        f"{BASE}/subscriptions", json=body, headers=agency_headers(hub, other)
    )
    assert as_other.status_code == 403, as_other.text
    unknown = await hub.client.post(
        f"{BASE}/subscriptions",
        json={**body, "subscriber": "no-such-agency"},
        headers=hub.operator(),
    )
    assert unknown.status_code == 422 and unknown.json()["code"] == "unknown_agency"
    assert unknown.json()["errors"][0]["path"] == "$.subscriber"
    # Naming itself is the same as leaving it out.
    own = await hub.client.post(
        f"{BASE}/subscriptions",
        json={**body, "subscriber": other},
        headers=agency_headers(hub, other),
    )
    assert own.status_code == 201 and own.json()["subscriber"] == other
