"""Field-level authorisation, masking of other people's ID numbers, the access log, and
the errors a caller sees."""

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


async def test_search_by_name_finds_similar_names(hub: Hub) -> None:
    uscc = make_uscc()
    await publish(
        hub,
        published(
            "enterprise_registered",
            "gz-amr",
            [record(enterprise(uscc, name="广州市白云山制药有限公司"))],
        ),
    )
    hits = (
        await hub.client.get(
            "/registry/v1/legal-entities",
            params={"name": "白云山制药"},
            headers=hub.auth("gz-ltax", "registry:read"),
        )
    ).json()["data"]
    assert uscc in [h["id"] for h in hits]


async def test_errors_are_problem_json(hub: Hub) -> None:
    unknown = make_ric(date(1999, 9, 9))
    missing = await hub.client.get(f"/registry/v1/persons/{unknown}", headers=hub.operator())
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"
    # A well-shaped ID whose check character is wrong names no person (no pattern can say
    # so): 404, naming the fault; an ID of the wrong shape is refused by the schema (422).
    bad_check = await hub.client.get(
        "/registry/v1/persons/440106199909091234", headers=hub.operator()
    )
    assert bad_check.status_code == 404 and bad_check.json()["code"] == "not_found"
    assert bad_check.json()["errors"][0]["path"] == "path:$.id_number"
    malformed = await hub.client.get("/registry/v1/persons/44010619990909", headers=hub.operator())
    assert (
        malformed.status_code == 422 and malformed.json()["errors"][0]["path"] == "path:$.id_number"
    )
    no_scope = await hub.client.get(
        f"/registry/v1/persons/{unknown}", headers=hub.auth("gz-hrss", "sms:send")
    )
    assert (
        no_scope.status_code == 403
        and no_scope.headers["content-type"] == "application/problem+json"
    )
    anonymous = await hub.client.get(f"/registry/v1/persons/{unknown}")
    assert anonymous.status_code == 401
    bad_date = await hub.client.get(
        f"/registry/v1/persons/{unknown}", params={"as_of": "yesterday"}, headers=hub.operator()
    )
    assert bad_date.status_code == 422 and bad_date.json()["errors"][0]["path"] == "query:$.as_of"


async def test_a_read_by_id_answers_alike_on_every_path(hub: Hub) -> None:
    """Reads by ID that succeed are served before routing (lookup/fast_path.py); the rest by
    the declared route. Both give the same record, headers, metrics and problems."""
    id_number = make_ric(date(1971, 4, 4))
    await publish(
        hub, published("person_registered", "gz-psb", [record(person(id_number, "周建国"))])
    )
    url = f"/registry/v1/persons/{id_number}"
    hrss = hub.auth("gz-hrss", "registry:read")
    current = await hub.client.get(url, params={"purpose": "核查"}, headers=hrss)
    assert current.status_code == 200 and current.headers["x-request-id"]
    assert current.headers["content-type"] == "application/json"
    as_of = await hub.client.get(url, params={"as_of": date.today().isoformat()}, headers=hrss)
    assert as_of.status_code == 200
    assert as_of.json()["attributes"] == current.json()["attributes"]
    assert as_of.json()["sources"] == current.json()["sources"]
    assert "mobile" not in current.json()["attributes"]

    lowercase_scheme = {"Authorization": hrss["Authorization"].replace("Bearer", "bearer")}
    assert (await hub.client.get(url, headers=lowercase_scheme)).status_code == 200
    forged = await hub.client.get(url, headers={"Authorization": "Bearer not-a-token"})
    assert forged.status_code == 401 and forged.json()["code"] == "unauthorized"
    too_long = await hub.client.get(url, params={"purpose": "x" * 201}, headers=hrss)
    assert too_long.status_code == 422
    assert too_long.json()["errors"][0]["path"] == "query:$.purpose"

    log = (await hub.client.get(f"{url}/access-log", headers=hub.operator())).json()["data"]
    assert [(e["agency"], e["purpose"]) for e in log].count(("gz-hrss", "核查")) == 1
    metrics = (await hub.client.get("/metrics")).text
    assert 'route="/registry/v1/persons/{id_number}"' in metrics


async def test_a_name_search_takes_wildcards_literally(hub: Hub) -> None:
    """`%`, `_` and `\\` in a searched name are characters, not LIKE wildcards: `%%` or `__`
    would otherwise list every resident with their ID number (issue 15, point 7)."""
    plain, odd = make_ric(date(1961, 6, 1)), make_ric(date(1962, 6, 2))
    await publish(
        hub,
        published(
            "person_registered",
            "gz-psb",
            [record(person(plain, "陈大文")), record(person(odd, "百分%_\\之百"))],
        ),
    )
    civil = hub.auth("gz-civil", "registry:read")
    for name in ("%%", "__", "\\\\", "%_"):
        response = await hub.client.get(
            "/registry/v1/persons", params={"name": name}, headers=civil
        )
        assert response.status_code == 200
        hits = response.json()["data"]
        assert plain not in [h["id"] for h in hits]
        assert all(name in h["attributes"]["name"] for h in hits), (name, hits)
    literal = await hub.client.get("/registry/v1/persons", params={"name": "%_\\"}, headers=civil)
    assert [h["id"] for h in literal.json()["data"]] == [odd]


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
