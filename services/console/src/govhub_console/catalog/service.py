"""Searching the catalog: the exchange's topics and data items (信息项) matching a text,
each list paged by the API's cursor."""

from __future__ import annotations

from typing import Any, Final

from govhub_console.ops.service import PAGE_SIZE, Caller

TOPICS: Final = "/exchange/v1/topics"
DATA_ITEMS: Final = "/exchange/v1/data-items"
KINDS: Final = ("topics", "items")


async def search(api: Caller, *, q: str, kind: str | None, cursor: str | None) -> dict[str, Any]:
    """Both lists' first pages; or, following one list's next-page link, that list's page."""
    shown = [kind] if kind in KINDS else list(KINDS)
    found: dict[str, Any] = {"q": q, "kind": kind, "topics": None, "items": None}
    for which in shown:
        path = TOPICS if which == "topics" else DATA_ITEMS
        page = await api.get(path, q=q, cursor=cursor if kind else None, limit=PAGE_SIZE)
        found[which] = page["data"]
        found[f"{which}_next"] = (
            api.url("/catalog", q=q, kind=which, cursor=page["next"]) if page.get("next") else None
        )
    return found
