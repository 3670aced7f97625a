"""Reads of the registries: a subject by ID on the fast path and the route alike, search by
name, bitemporal reads, and the errors a caller sees."""

from __future__ import annotations

from datetime import date

from govhub_common.testing import Hub
from tests.registry.support import (
    enterprise,
    make_ric,
    make_uscc,
    person,
    publish,
    published,
    record,
)


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
    as_of = await hub.client.get(url, params={"as_of": "2025-01-01"}, headers=hrss)
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


async def test_the_route_and_the_fast_path_send_the_same_bytes(hub: Hub) -> None:
    """A current read the fast path passes on (here for a query parameter it does not take)
    is answered by the route from the same function: the same bytes, masking included."""
    uscc = make_uscc()
    await publish(
        hub,
        published(
            "enterprise_registered",
            "gz-amr",
            [record(enterprise(uscc, legal_rep_id=make_ric(date(1972, 2, 2))))],
        ),
    )
    url = f"/registry/v1/legal-entities/{uscc}"
    for headers in (
        hub.auth("gz-qts", "registry:read"),  # the representative's ID number masked
        hub.auth("gz-ltax", "registry:read"),
        hub.operator(),
    ):
        fast = await hub.client.get(url, params={"purpose": "核查"}, headers=headers)
        routed = await hub.client.get(
            url, params={"purpose": "核查", "via": "route"}, headers=headers
        )
        assert fast.status_code == routed.status_code == 200, routed.text
        assert fast.content == routed.content
        assert fast.headers["content-type"] == routed.headers["content-type"]


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


async def test_as_of_a_valid_time_and_as_known_at_a_recorded_time(hub: Hub) -> None:
    id_number = make_ric(date(1980, 2, 2))
    await publish(
        hub,
        published(
            "person_registered",
            "gz-psb",
            [record(person(id_number, address="旧地址1号"), when="2020-01-10T09:00:00+08:00")],
        ),
    )
    first = (
        await hub.client.get(f"/registry/v1/persons/{id_number}", headers=hub.operator())
    ).json()
    between = (
        await hub.client.get(f"/registry/v1/persons/{id_number}/history", headers=hub.operator())
    ).json()["data"][0]["recorded_at"]
    await publish(
        hub,
        published(
            "person_registered",
            "gz-psb",
            [record(person(id_number, address="新地址2号"), when="2023-06-01T09:00:00+08:00")],
        ),
    )

    now = (await hub.client.get(f"/registry/v1/persons/{id_number}", headers=hub.operator())).json()
    assert (
        first["attributes"]["address"] == "旧地址1号"
        and now["attributes"]["address"] == "新地址2号"
    )
    then = (
        await hub.client.get(
            f"/registry/v1/persons/{id_number}",
            params={"as_of": "2021-05-01"},
            headers=hub.operator(),
        )
    ).json()
    assert then["attributes"]["address"] == "旧地址1号"
    assert then["sources"]["address"]["valid_from"] == "2020-01-10"
    known = (
        await hub.client.get(
            f"/registry/v1/persons/{id_number}",
            params={"known_at": between, "as_of": "2024-01-01"},
            headers=hub.operator(),
        )
    ).json()
    assert known["attributes"]["address"] == "旧地址1号"
    before = (
        await hub.client.get(
            f"/registry/v1/persons/{id_number}",
            params={"as_of": "2019-01-01"},
            headers=hub.operator(),
        )
    ).json()
    assert "address" not in before["attributes"]
