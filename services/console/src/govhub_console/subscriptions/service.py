"""The data steward's subscriptions (订阅): the requests to the agency's topics waiting for
its decision, who receives what from its topics, and the agency's own subscriptions with
their lag, webhook and dead letters.

Everything comes from the exchange's public API with the person's own token: the lists
are the API's `role=owner` and `role=subscriber` views, so another agency's subscription
answers here as the API answers it (404)."""

from __future__ import annotations

from typing import Any, Final

from govhub_console.ops.service import PAGE_SIZE, ApiProblem, Caller, segment

EXCHANGE: Final = "/exchange/v1"
SUBSCRIPTIONS: Final = f"{EXCHANGE}/subscriptions"
# Rows of the own-subscriptions list: each row costs a figures call.
OWN_PAGE_SIZE: Final = 20
# The owner is expected to decide within a few working days; past this many days a
# request is flagged as overdue (in words, not only in colour).
OVERDUE_DAYS: Final = 5
DAY_SECONDS: Final = 86_400

DECISIONS: Final = ("approve", "refuse")
# Words of the API's values (literal keys, so the catalogs' test sees them used).
STATUS_WORDS: Final = {
    "pending": "subscriptions.status_pending",
    "approved": "subscriptions.status_approved",
    "refused": "subscriptions.status_refused",
    "revoked": "subscriptions.status_revoked",
}
WEBHOOK_WORDS: Final = {
    "active": "subscriptions.webhook_active",
    "paused": "subscriptions.webhook_paused",
}
# What a successful action says on the page it leads back to (?done=...).
DONE_WORDS: Final = {
    "approved": "subscriptions.done_approved",
    "refused": "subscriptions.done_refused",
    "resumed": "subscriptions.done_resumed",
    "redriven": "subscriptions.done_redriven",
}


# A duration in its largest whole unit (literal keys, for the catalogs' test).
UNITS: Final = (
    (DAY_SECONDS, "subscriptions.days"),
    (3600, "subscriptions.hours"),
    (60, "subscriptions.minutes"),
    (1, "subscriptions.seconds"),
)


def duration(seconds: float | None) -> tuple[str, int] | None:
    """A duration as (catalog key, whole units): 3 days, 5 hours, 12 minutes."""
    if seconds is None:
        return None
    for size, key in UNITS:
        if seconds >= size:
            return key, int(seconds // size)
    return "subscriptions.seconds", 0


def age_days(seconds: float | None) -> int | None:
    """Whole days a request has waited (the API gives seconds)."""
    return None if seconds is None else int(seconds // DAY_SECONDS)


async def _item_titles(api: Caller, topics: set[str]) -> dict[str, dict[str, str]]:
    """Topic -> data item name -> title, for the topics the rows name. A topic the API
    does not show leaves its items by name."""
    titles: dict[str, dict[str, str]] = {}
    for code in sorted(topics):
        try:
            topic = await api.get(f"{EXCHANGE}/topics/{segment(code)}")
        except ApiProblem:
            continue
        titles[code] = {item["name"]: item["title"] for item in topic.get("data_items", [])}
    return titles


def _with_items(rows: list[dict[str, Any]], titles: dict[str, dict[str, str]]) -> None:
    for row in rows:
        known = titles.get(row["topic"], {})
        row["item_titles"] = [(name, known.get(name, "")) for name in row["items"]]


async def _own_row(api: Caller, row: dict[str, Any]) -> dict[str, Any]:
    """An own subscription with its delivery figures (approved ones deliver)."""
    row["stats"] = None
    row["dead"] = 0
    if row["status"] == "approved":
        stats = await api.get(f"{SUBSCRIPTIONS}/{row['id']}/stats")
        row["stats"] = stats
        row["dead"] = int((stats.get("webhook") or {}).get("dead", {}).get("count", 0))
    return row


def _next(api: Caller, name: str, cursor: str | None) -> str | None:
    return api.url("/subscriptions", **{name: cursor}) + f"#{name}" if cursor else None


async def overview(
    api: Caller,
    *,
    pending_cursor: str | None = None,
    granted_cursor: str | None = None,
    own_cursor: str | None = None,
    done: str | None = None,
    count: int | None = None,
) -> dict[str, Any]:
    """The three lists, each on its own cursor: following one list's next page shows that
    list's page with the others' first pages."""
    pending = await api.get(
        SUBSCRIPTIONS, role="owner", status="pending", cursor=pending_cursor, limit=PAGE_SIZE
    )
    granted = await api.get(
        SUBSCRIPTIONS, role="owner", status="approved", cursor=granted_cursor, limit=PAGE_SIZE
    )
    own = await api.get(SUBSCRIPTIONS, role="subscriber", cursor=own_cursor, limit=OWN_PAGE_SIZE)
    for row in pending["data"]:
        row["age_days"] = age_days(row.get("pending_age_seconds"))
        row["overdue"] = row["age_days"] is not None and row["age_days"] > OVERDUE_DAYS
    titles = await _item_titles(api, {r["topic"] for r in pending["data"] + granted["data"]})
    _with_items(pending["data"], titles)
    _with_items(granted["data"], titles)
    return {
        "pending": pending["data"],
        "pending_next": _next(api, "pending_cursor", pending.get("next")),
        "granted": granted["data"],
        "granted_next": _next(api, "granted_cursor", granted.get("next")),
        "own": [await _own_row(api, row) for row in own["data"]],
        "own_next": _next(api, "own_cursor", own.get("next")),
        "overdue_days": OVERDUE_DAYS,
        "problem": None,
        "hint": None,
        "done": DONE_WORDS.get(done or ""),
        "count": count,
        **page_words(),
    }


async def subscription_page(
    api: Caller, *, subscription_id: int, cursor: str | None, done: str | None, count: int | None
) -> dict[str, Any]:
    """One subscription with its figures and, for the agency's own, its dead letters."""
    found = await api.get(f"{SUBSCRIPTIONS}/{subscription_id}")
    mine = found["subscriber"] == api.person.agency
    row = await _own_row(api, found)
    letters: dict[str, Any] = {"data": [], "next": None}
    if mine:
        letters = await api.get(
            f"{EXCHANGE}/webhooks/dead-letters",
            subscription_id=subscription_id,
            cursor=cursor,
            limit=PAGE_SIZE,
        )
    following = letters.get("next")
    return {
        "sub": row,
        "mine": mine,
        "letters": letters["data"],
        "next_href": (
            api.url(f"/subscriptions/{subscription_id}", cursor=following) if following else None
        ),
        "done": DONE_WORDS.get(done or ""),
        "count": count,
        **page_words(),
    }


async def decide(api: Caller, *, subscription_id: int, decision: str, reason: str) -> str:
    """Approve or refuse a pending request (the API needs a reason to refuse); what was
    done, for the page's notice."""
    body: dict[str, Any] = {"approve": decision == "approve"}
    if reason.strip():
        body["reason"] = reason.strip()
    await api.call("POST", f"{SUBSCRIPTIONS}/{subscription_id}/decision", json=body)
    return "approved" if decision == "approve" else "refused"


def hint_for(problem: ApiProblem, decision: str, form: dict[str, str]) -> str | None:
    """Words beside the API's own for the refusal a person most likely met: a refusal
    without a reason (the API's 422 names only the body)."""
    if problem.status == 422 and decision == "refuse" and not form.get("reason", "").strip():
        return "subscriptions.reason_required"
    return None


async def resume(api: Caller, *, subscription_id: int) -> None:
    await api.call("POST", f"{SUBSCRIPTIONS}/{subscription_id}/webhook/resume")


async def redrive(api: Caller, *, subscription_id: int) -> int:
    """Put the subscription's dead webhook deliveries back in the queue; how many."""
    done = await api.call(
        "POST", f"{EXCHANGE}/webhooks/redrive", json={"subscription_id": subscription_id}
    )
    return int(done["redriven"])


def page_words() -> dict[str, Any]:
    return {
        "status_word": lambda value: STATUS_WORDS.get(value or ""),
        "webhook_word": lambda value: WEBHOOK_WORDS.get(value or ""),
        "duration": duration,
    }
