"""The registry's lists on the one pagination model (limit, an opaque cursor, `next` null at
the end) and its OpenAPI document as a contract (operation ids, declared problems)."""

from __future__ import annotations

import random

from govhub_common.testing import Hub, every_page
from tests.registry.support import enterprise, make_uscc, publish, published, record


async def test_history_registrations_and_search_page_to_the_end(hub: Hub) -> None:
    stem = "".join(random.choice("甲乙丙丁戊己庚辛壬癸子丑寅卯辰巳午未申酉") for _ in range(4))
    usccs = [make_uscc() for _ in range(3)]
    await publish(
        hub,
        published(
            "enterprise_registered",
            "gz-amr",
            [
                record(enterprise(u, name=f"广州市{stem}{i}号科技有限公司"))
                for i, u in enumerate(usccs)
            ],
        ),
    )
    uscc = usccs[0]
    for topic, agency in (
        ("local_tax_registered", "gz-ltax"),
        ("national_tax_registered", "gz-ntax"),
    ):
        tax = {"uscc": uscc, "tax_no": f"T-{agency}", "registered_date": "2024-04-01"}
        await publish(hub, published(topic, agency, [record(tax)]))
    operator = hub.operator()
    url = f"/registry/v1/legal-entities/{uscc}"

    whole = (await hub.client.get(f"{url}/history", headers=operator)).json()
    assert whole["next"] is None and len(whole["data"]) > 3
    assert await every_page(hub, f"{url}/history", operator, limit=2) == whole["data"]

    registrations = (await hub.client.get(f"{url}/registrations", headers=operator)).json()
    assert registrations["next"] is None and len(registrations["data"]) == 3
    assert (
        await every_page(hub, f"{url}/registrations", operator, limit=1) == (registrations["data"])
    )

    tax = hub.auth("gz-ltax", "registry:read")
    hits = await every_page(hub, "/registry/v1/legal-entities", tax, name=stem, limit=1)
    assert sorted(h["id"] for h in hits) == sorted(usccs)
    similarities = [h["similarity"] for h in hits]
    assert similarities == sorted(similarities, reverse=True)


async def test_every_list_refuses_a_cursor_it_did_not_give(hub: Hub) -> None:
    uscc = make_uscc()
    await publish(hub, published("enterprise_registered", "gz-amr", [record(enterprise(uscc))]))
    lists = [
        (f"/registry/v1/legal-entities/{uscc}/history", {}),
        (f"/registry/v1/legal-entities/{uscc}/registrations", {}),
        ("/registry/v1/legal-entities", {"name": "海创信息"}),
        ("/registry/v1/persons/440106197104041235/access-log", {}),
        ("/registry/v1/conflicts", {}),
        ("/registry/v1/review-queue", {}),
        ("/registry/v1/match-decisions", {}),
        ("/registry/v1/unmapped-records", {}),
    ]
    for url, query in lists:
        for cursor in ("42", "bm90IGEgY3Vyc29y", "WyJ4Il0"):
            params = {**query, "cursor": cursor}
            reply = await hub.client.get(url, params=params, headers=hub.operator())
            assert reply.status_code == 400, (url, cursor, reply.text)
            assert reply.json()["code"] == "invalid_cursor"
            assert reply.headers["content-type"] == "application/problem+json"
        params = {**query, "limit": "5001"}
        too_many = await hub.client.get(url, params=params, headers=hub.operator())
        assert too_many.status_code == 422 and too_many.json()["code"] == "validation_failed"


async def test_the_document_names_and_declares_every_operation(hub: Hub) -> None:
    document = (await hub.client.get("/registry/openapi.json")).json()
    operations = {
        operation["operationId"]: operation
        for item in document["paths"].values()
        for operation in item.values()
    }
    for expected in (
        "getLegalEntity",
        "getPerson",
        "searchLegalEntities",
        "searchPersons",
        "listLegalEntityHistory",
        "listPersonRegistrations",
        "listPersonAccessLog",
        "listConflicts",
        "settleConflict",
        "listReviewQueue",
        "resolveReview",
        "listMatchDecisions",
        "listUnmappedRecords",
    ):
        operation = operations[expected]
        assert operation["summary"] and operation["description"], expected
        assert len(operation["tags"]) == 1, expected

    def codes(operation_id: str, status: str) -> str:
        return operations[operation_id]["responses"][status]["description"]

    assert "`conflict_not_open`" in codes("settleConflict", "409")
    assert "`review_not_pending`" in codes("resolveReview", "409")
    assert "`unmappable`" in codes("resolveReview", "422")
    for name, operation in operations.items():
        parameters = {p["name"] for p in operation.get("parameters", [])}
        if name.startswith(("list", "search")) and "cursor" in parameters:
            assert "`invalid_cursor`" in codes(name, "400")
            assert "after" not in parameters
    schemas = document["components"]["schemas"]
    assert "Page" not in schemas
    page = schemas["ConflictPublicPage"]
    assert set(page["properties"]) == {"data", "next"}
    assert schemas["ConflictSettle"]["examples"] and schemas["ReviewResolve"]["examples"]
