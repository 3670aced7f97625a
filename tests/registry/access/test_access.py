"""Field-level authorisation, masking of other people's ID numbers, and the access log."""

from __future__ import annotations

from datetime import date

from govhub_common.testing import Hub, every_page
from tests.registry.support import (
    enterprise,
    make_ric,
    make_uscc,
    person,
    publish,
    published,
    record,
)


async def test_each_agency_sees_only_its_granted_attributes(hub: Hub) -> None:
    uscc, rep = make_uscc(), make_ric(date(1975, 9, 9))
    await publish(
        hub,
        published("enterprise_registered", "gz-amr", [record(enterprise(uscc, legal_rep_id=rep))]),
    )
    url = f"/registry/v1/legal-entities/{uscc}"

    tax = (await hub.client.get(url, headers=hub.auth("gz-ltax", "registry:read"))).json()
    assert (
        tax["attributes"]["legal_rep_id"] == rep and tax["attributes"]["mobile"] == "+8613800138000"
    )

    quality = (await hub.client.get(url, headers=hub.auth("gz-qts", "registry:read"))).json()
    assert quality["attributes"]["legal_rep_id"] == rep[:6] + "********" + rep[-4:]
    assert "mobile" not in quality["attributes"] and "mobile" not in quality["sources"]

    health = (await hub.client.get(url, headers=hub.auth("gz-health", "registry:read"))).json()
    assert set(health["attributes"]) == {
        "name",
        "district",
        "industry",
        "status",
        "established_date",
        "registered_capital",
    }

    forbidden = await hub.client.get(
        f"{url}/registrations", headers=hub.auth("gz-health", "registry:read")
    )
    assert forbidden.status_code == 403


async def test_tax_sees_no_household_data_of_persons(hub: Hub) -> None:
    id_number = make_ric(date(1990, 1, 1), sex="female")
    await publish(
        hub, published("person_registered", "gz-psb", [record(person(id_number, "林小红"))])
    )
    url = f"/registry/v1/persons/{id_number}"
    tax = (await hub.client.get(url, headers=hub.auth("gz-ntax", "registry:read"))).json()
    assert tax["attributes"] == {"name": "林小红", "vital_status": "alive"}
    police = (await hub.client.get(url, headers=hub.auth("gz-psb", "registry:read"))).json()
    assert (
        police["attributes"]["household_id"].startswith("H")
        and police["attributes"]["sex"] == "female"
    )
    history = (
        await hub.client.get(f"{url}/history", headers=hub.auth("gz-ntax", "registry:read"))
    ).json()["data"]
    assert {h["attribute"] for h in history} == {"name", "vital_status"}


async def test_every_read_is_in_the_persons_access_log(hub: Hub) -> None:
    id_number = make_ric(date(1966, 12, 12))
    await publish(
        hub, published("person_registered", "gz-psb", [record(person(id_number, "黄志强"))])
    )
    await hub.client.get(
        f"/registry/v1/persons/{id_number}",
        params={"purpose": "养老金资格核查"},
        headers=hub.auth("gz-hrss", "registry:read"),
    )
    await hub.client.get(
        "/registry/v1/persons",
        params={"name": "黄志强", "purpose": "救助审核"},
        headers=hub.auth("gz-civil", "registry:read"),
    )

    log = await hub.client.get(
        f"/registry/v1/persons/{id_number}/access-log", headers=hub.operator()
    )
    assert log.status_code == 200
    entries = [(e["agency"], e["purpose"], e["action"]) for e in log.json()["data"]]
    assert ("gz-hrss", "养老金资格核查", "get") in entries
    assert ("gz-civil", "救助审核", "search") in entries
    hrss = next(e for e in log.json()["data"] if e["agency"] == "gz-hrss")
    assert "household_id" in hrss["fields"] and "mobile" not in hrss["fields"]

    agency = await hub.client.get(
        f"/registry/v1/persons/{id_number}/access-log", headers=hub.auth("gz-hrss", "registry:read")
    )
    assert agency.status_code == 403


async def test_a_legal_entity_read_is_logged_on_its_legal_representative(hub: Hub) -> None:
    """An agency shown a legal entity's representative (ID number, name) has read that
    person's data: the person's access log says so, naming the entity (issue 15, point 12)."""
    uscc, rep = make_uscc(), make_ric(date(1971, 7, 7))
    await publish(
        hub,
        published("enterprise_registered", "gz-amr", [record(enterprise(uscc, legal_rep_id=rep))]),
    )
    url = f"/registry/v1/legal-entities/{uscc}"
    tax = await hub.client.get(
        url, params={"purpose": "税务登记核查"}, headers=hub.auth("gz-ltax", "registry:read")
    )
    assert tax.json()["attributes"]["legal_rep_id"] == rep  # shown in full
    as_of = await hub.client.get(
        url, params={"as_of": "2030-01-01"}, headers=hub.auth("gz-qts", "registry:read")
    )
    assert as_of.status_code == 200
    history = await hub.client.get(f"{url}/history", headers=hub.auth("gz-psb", "registry:read"))
    assert history.status_code == 200
    found = await hub.client.get(
        "/registry/v1/legal-entities",
        params={"name": "海创信息"},
        headers=hub.auth("gz-ntax", "registry:read"),
    )
    assert uscc in [h["id"] for h in found.json()["data"]]
    # Not granted the representative's attributes: nothing of the person was shown.
    await hub.client.get(url, headers=hub.auth("gz-health", "registry:read"))

    entries = await every_page(
        hub, f"/registry/v1/persons/{rep}/access-log", hub.operator(), limit=50
    )
    seen = {(e["agency"], e["action"], e["via_legal_entity"]) for e in entries}
    assert seen == {
        ("gz-ltax", "get", uscc),
        ("gz-qts", "get", uscc),
        ("gz-psb", "history", uscc),
        ("gz-ntax", "search", uscc),
    }
    ltax = next(e for e in entries if e["agency"] == "gz-ltax")
    assert ltax["fields"] == ["legal_rep_id", "legal_rep_name"]
    assert ltax["purpose"] == "税务登记核查"
