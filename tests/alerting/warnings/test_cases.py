"""Warnings worked as cases: transitions with actor and time, what each agency sees,
silences, and the Prometheus series."""

from __future__ import annotations

from datetime import date

from govhub_common.testing import Hub
from tests.alerting.support import Capture, days, evaluate, record_event, uscc, warnings_of


async def raise_tax_warning(hub: Hub, day0: date) -> dict[str, object]:
    code = uscc()
    await hub.runtime.bus.publish(
        [
            record_event(
                "enterprise_registered",
                "gz-amr",
                {"uscc": code, "name": "丙", "established_date": day0.isoformat()},
            )
        ]
    )
    await evaluate(hub, day0 + days(31))
    (warning,) = await warnings_of(hub, "gz-ltax", subject=code)
    return warning


async def test_case_transitions_record_actor_and_time(
    hub: Hub, capture: Capture, day0: date
) -> None:
    warning = await raise_tax_warning(hub, day0)
    url = f"/alerting/v1/warnings/{warning['id']}"
    officer = hub.auth("gz-ltax", "alerting:read", "alerting:work")

    # Reading is not working: a read-only token may not move a case.
    readonly = await hub.client.post(
        f"{url}/transitions",
        json={"status": "investigating"},
        headers=hub.auth("gz-ltax", "alerting:read"),
    )
    assert readonly.status_code == 403
    response = await hub.client.post(
        f"{url}/transitions",
        json={"status": "investigating", "note": "已电话联系企业"},
        headers=officer,
    )
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "investigating"

    missing = await hub.client.post(
        f"{url}/transitions", json={"status": "resolved"}, headers=officer
    )
    assert missing.status_code == 422
    assert missing.json()["errors"][0]["path"] == "$.resolution"
    bad = await hub.client.post(
        f"{url}/transitions", json={"status": "resolved", "resolution": "forgiven"}, headers=officer
    )
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["path"] == "$.resolution"

    response = await hub.client.post(
        f"{url}/transitions",
        json={"status": "resolved", "resolution": "penalised", "note": "责令限期改正并处罚款"},
        headers=officer,
    )
    assert response.status_code == 200
    again = await hub.client.post(
        f"{url}/transitions", json={"status": "investigating"}, headers=officer
    )
    assert again.status_code == 409

    detail = (await hub.client.get(url, headers=officer)).json()
    assert [(h["from_status"], h["to_status"]) for h in detail["history"]] == [
        (None, "open"),
        ("open", "investigating"),
        ("investigating", "resolved"),
    ]
    assert detail["history"][2]["actor"] == "gz-ltax"
    assert detail["history"][2]["resolution"] == "penalised"
    assert all(h["at"] for h in detail["history"])
    await hub.settle()
    (resolved,) = capture.warnings("alerting.warning.resolved", str(warning["subject"]))
    assert resolved["resolution"] == "penalised"


async def test_an_agency_sees_only_warnings_assigned_to_it(hub: Hub, day0: date) -> None:
    warning = await raise_tax_warning(hub, day0)
    other = hub.auth("gz-hrss", "alerting:read", "alerting:work")
    response = await hub.client.get(f"/alerting/v1/warnings/{warning['id']}", headers=other)
    assert response.status_code == 404
    listed = await hub.client.get("/alerting/v1/warnings", headers=other)
    assert all(w["assigned_agency"] == "gz-hrss" for w in listed.json()["data"])
    asked = await hub.client.get(
        "/alerting/v1/warnings", params={"agency": "gz-ltax"}, headers=other
    )
    assert asked.status_code == 403
    moved = await hub.client.post(
        f"/alerting/v1/warnings/{warning['id']}/transitions",
        json={"status": "investigating"},
        headers=other,
    )
    assert moved.status_code == 404
    assert (await hub.client.get("/alerting/v1/warnings")).status_code == 401
    # Filters: by rule, status and the date raised.
    found = await warnings_of(
        hub,
        "gz-ltax",
        rule="tax_registration_missing",
        status="open",
        **{"from": (day0 + days(31)).isoformat(), "to": (day0 + days(31)).isoformat()},
    )
    assert warning["id"] in {w["id"] for w in found}


async def test_silenced_subject_raises_nothing_until_the_date(hub: Hub, day0: date) -> None:
    code = uscc()
    officer = hub.auth("gz-ltax", "alerting:read", "alerting:work")
    response = await hub.client.post(
        "/alerting/v1/silences",
        json={
            "rule_id": "tax_registration_missing",
            "subject": code,
            "until": (day0 + days(60)).isoformat(),
            "reason": "企业迁出本市，待核实",
        },
        headers=officer,
    )
    assert response.status_code == 201, response.text
    refused = await hub.client.post(
        "/alerting/v1/silences",
        json={
            "rule_id": "pension_after_death",
            "subject": "x",
            "until": "2030-01-01",
            "reason": "r",
        },
        headers=officer,
    )
    assert refused.status_code == 403
    await hub.runtime.bus.publish(
        [
            record_event(
                "enterprise_registered",
                "gz-amr",
                {"uscc": code, "name": "丁", "established_date": day0.isoformat()},
            )
        ]
    )
    await evaluate(hub, day0 + days(31))
    assert await warnings_of(hub, "gz-ltax", subject=code) == []


async def test_metrics_export_the_alerting_series(hub: Hub, day0: date) -> None:
    await raise_tax_warning(hub, day0)
    await hub.client.get("/alerting/v1/stats", headers=hub.operator())
    text = (await hub.client.get("/metrics")).text
    for name in (
        "govhub_alerting_warnings_raised_total",
        "govhub_alerting_warnings_open",
        "govhub_alerting_reminders_due_total",
        "govhub_alerting_follow_up_ratio",
        "govhub_alerting_timers_pending",
        "govhub_alerting_warnings_resolved_total",
    ):
        assert name in text, name
    assert 'govhub_alerting_warnings_raised_total{rule="tax_registration_missing"}' in text


async def test_a_case_officer_in_person_is_named_in_the_history(hub: Hub, day0: date) -> None:
    import time

    from govhub_common.persons import ROLE_SCOPES, PersonClaims

    warning = await raise_tax_warning(hub, day0)
    url = f"/alerting/v1/warnings/{warning['id']}"
    officer = PersonClaims(
        person="oidc:8f14e45f", name="王五", role="case_officer", auth_time=int(time.time()),
        agency="gz-ltax",
    )  # fmt: skip
    headers = hub.auth("gz-ltax", *ROLE_SCOPES["case_officer"], person=officer)
    moved = await hub.client.post(
        f"{url}/transitions", json={"status": "investigating"}, headers=headers
    )
    assert moved.status_code == 200, moved.text
    detail = (await hub.client.get(url, headers=headers)).json()
    assert detail["history"][-1]["actor"] == "gz-ltax/oidc:8f14e45f"
