"""The registry's conflicts between agencies (settled with a note) and its review queue of
records awaiting a match decision (linked to a subject, or rejected)."""

from __future__ import annotations

from typing import Any, Final

import orjson

from govhub_console.ops.service import PAGE_SIZE, Caller, segment

CONFLICTS: Final = "/registry/v1/conflicts"
REVIEWS: Final = "/registry/v1/review-queue"
CONFLICT_STATUSES: Final = ("open", "settled", "resolved")
REVIEW_STATUSES: Final = ("pending", "linked", "rejected")


def as_text(value: Any) -> str:
    return value if isinstance(value, str) else orjson.dumps(value).decode()


async def overview(
    api: Caller,
    *,
    conflict_status: str,
    review_status: str,
    subject_id: str,
    conflict_cursor: str | None,
    review_cursor: str | None,
    done: str | None = None,
) -> dict[str, Any]:
    conflicts = await api.get(
        CONFLICTS,
        status=conflict_status,
        subject_id=subject_id,
        cursor=conflict_cursor,
        limit=PAGE_SIZE,
    )
    reviews = await api.get(REVIEWS, status=review_status, cursor=review_cursor, limit=PAGE_SIZE)
    state = {
        "conflict_status": conflict_status,
        "review_status": review_status,
        "subject_id": subject_id,
    }
    return {
        **state,
        "done": done,
        "conflict_statuses": CONFLICT_STATUSES,
        "review_statuses": REVIEW_STATUSES,
        "conflicts": [
            {**c, "claims": [{**claim, "text": as_text(claim["value"])} for claim in c["claims"]]}
            for c in conflicts["data"]
        ],
        "reviews": [
            {
                **r,
                "record_text": orjson.dumps(r["record"]).decode(),
                "candidates_text": [orjson.dumps(c).decode() for c in r["candidates"]],
            }
            for r in reviews["data"]
        ],
        "conflicts_next": api.url("/registry", **state, conflict_cursor=conflicts["next"])
        if conflicts.get("next")
        else None,
        "reviews_next": api.url("/registry", **state, review_cursor=reviews["next"])
        if reviews.get("next")
        else None,
    }


async def settle(api: Caller, *, conflict_id: int, note: str) -> None:
    await api.call("POST", f"{CONFLICTS}/{segment(conflict_id)}/settle", json={"note": note})


async def resolve(api: Caller, *, review_id: int, decision: str, subject_id: str) -> None:
    body: dict[str, Any] = {"decision": decision}
    if decision == "link":
        body["id"] = subject_id
    await api.call("POST", f"{REVIEWS}/{segment(review_id)}/resolve", json=body)
