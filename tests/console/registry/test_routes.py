"""/console/registry: an operator finds a conflict between agencies and settles it with a
note; the review queue is listed; a problem (a settled conflict, an unknown review) is
shown as the registry words it; a case officer gets the registry's refusal."""

from __future__ import annotations

from datetime import date

import httpx

from govhub_common.testing import Hub
from tests.console.ops.support import csrf_of, sign_in_as, sign_in_operator, text_of
from tests.registry.support import make_ric, person, publish, published, record


async def test_an_operator_settles_a_conflict_with_a_note(
    hub: Hub, client: httpx.AsyncClient, username: str
) -> None:
    # A birth date the ID number contradicts (tests/registry/conflicts).
    id_number = make_ric(date(1962, 2, 14))
    await publish(
        hub,
        published(
            "person_registered", "gz-psb", [record(person(id_number, birth_date="1962-02-15"))]
        ),
    )
    await sign_in_operator(hub, client, username)
    page = await client.get("/console/registry", params={"subject_id": id_number})
    assert page.status_code == 200, page.text
    words = text_of(page.text)
    assert "birth_date" in words
    assert "gz-psb: 1962-02-15" in words and "gb11643: 1962-02-14" in words
    conflict_id = page.text.split('/settle"', 1)[0].rsplit("/conflicts/", 1)[1]

    settled = await client.post(
        f"/console/registry/conflicts/{conflict_id}/settle",
        data={"csrf": csrf_of(page.text), "note": "已通知公安局更正出生日期"},
    )
    assert settled.status_code == 303
    shown = await client.get(settled.headers["location"])
    assert "冲突已标记为已处置。" in shown.text
    api = await hub.client.get(
        "/registry/v1/conflicts",
        params={"subject_id": id_number, "status": "settled"},
        headers=hub.operator(),
    )
    (conflict,) = api.json()["data"]
    assert conflict["note"] == "已通知公安局更正出生日期"
    assert conflict["settled_by"].endswith(f"/local:{username}-op")

    again = await client.post(
        f"/console/registry/conflicts/{conflict_id}/settle",
        data={"csrf": csrf_of(page.text), "note": "再次处置"},
    )
    assert again.status_code == 409
    assert "接口拒绝了此请求（HTTP 409）" in text_of(again.text)


async def test_the_review_queue_is_listed_and_an_unknown_review_answers_404(
    hub: Hub, client: httpx.AsyncClient, username: str
) -> None:
    await sign_in_operator(hub, client, username)
    page = await client.get("/console/registry", params={"review_status": "rejected"})
    assert page.status_code == 200
    assert "待核匹配" in page.text
    missing = await client.post(
        "/console/registry/reviews/999999999/resolve",
        data={"csrf": csrf_of(page.text), "decision": "reject"},
    )
    assert missing.status_code == 404
    assert "HTTP 404" in text_of(missing.text)


async def test_a_case_officer_gets_the_registrys_refusal(
    hub: Hub, client: httpx.AsyncClient, username: str
) -> None:
    await sign_in_as(hub, client, username, role="case_officer")
    refused = await client.get("/console/registry")
    assert refused.status_code == 403
    assert "HTTP 403" in text_of(refused.text)
