"""Alerting takes values in the form its OpenAPI document gives them, and refuses the rest
(what schemathesis's negative data found pydantic coercing): no number read as a time or a
date, no 0 as false, no "30" as an integer; a body that is not UTF-8 is a declared 400."""

from __future__ import annotations

from typing import Any

import pytest

from govhub_alerting.rules.schemas import RULE_EXAMPLE
from govhub_common.testing import Hub
from tests.alerting.support import new_id

RULE = "tax_registration_missing"


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/alerting/v1/evaluate", {"as_of": 0}),
        ("/alerting/v1/evaluate", {"as_of": "0.5"}),
        ("/alerting/v1/evaluate", {"as_of": "2026-04-01"}),
        (f"/alerting/v1/rules/{RULE}/backfill", {"dry_run": 0}),
        (f"/alerting/v1/rules/{RULE}/backfill", {"limit": "100"}),
        (f"/alerting/v1/rules/{RULE}/backfill", {"limit": True}),
        (
            "/alerting/v1/silences",
            {"rule_id": RULE, "subject": "91440101MA5CXXXX1K", "until": 0, "reason": "延期"},
        ),
    ],
)
async def test_a_value_in_another_form_is_refused(hub: Hub, path: str, body: Any) -> None:
    response = await hub.client.post(path, json=body, headers=hub.operator())
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "validation_failed"


async def test_an_integer_may_be_written_with_a_zero_fraction(hub: Hub) -> None:
    response = await hub.client.post(
        f"/alerting/v1/rules/{RULE}/backfill", json={"limit": 5.0}, headers=hub.operator()
    )
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    ("path", "query"),
    [
        ("/alerting/v1/stats", {"from": "0"}),
        ("/alerting/v1/warnings", {"to": "86400"}),
        ("/alerting/v1/warnings", {"from": "2026-03-01T00:00:00"}),
    ],
)
async def test_a_date_is_yyyy_mm_dd(hub: Hub, path: str, query: dict[str, str]) -> None:
    response = await hub.client.get(path, params=query, headers=hub.operator())
    assert response.status_code == 422, response.text


async def test_dry_run_time_is_a_date_time(hub: Hub) -> None:
    response = await hub.client.post(
        "/alerting/v1/rules/dry-run",
        params={"as_of": "0.5"},
        json=RULE_EXAMPLE,
        headers=hub.operator(),
    )
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["path"] == "query:$.as_of"


async def test_a_rule_is_read_strictly(hub: Hub) -> None:
    rule = {**RULE_EXAMPLE, "id": new_id(), "auto_resolve": 1}
    response = await hub.client.post("/alerting/v1/rules", json=rule, headers=hub.operator())
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "invalid_rule"
    assert response.json()["errors"][0]["path"] == "$.auto_resolve"


async def test_a_body_that_is_not_utf8_is_a_declared_400(hub: Hub) -> None:
    document = (await hub.client.get("/alerting/openapi.json")).json()
    for path in ("/v1/evaluate", "/v1/rules/{rule_id}/backfill", "/v1/silences"):
        assert "400" in document["paths"][path]["post"]["responses"], path
    response = await hub.client.post(
        "/alerting/v1/evaluate",
        content=b"\xff\xfe{",
        headers={**hub.operator(), "Content-Type": "application/json"},
    )
    assert response.status_code == 400, response.text


async def test_a_reversed_stats_period_counts_nothing(hub: Hub) -> None:
    response = await hub.client.get(
        "/alerting/v1/stats",
        params={"rule": RULE, "from": "2026-12-31", "to": "2026-01-01"},
        headers=hub.operator(),
    )
    assert response.status_code == 200, response.text
    (figures,) = response.json()["data"]
    assert figures["warnings_raised"] == 0
