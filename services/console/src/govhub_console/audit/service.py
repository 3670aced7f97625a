"""The exchange's audit log for an operator: a search, the chain's verification and the
export (NDJSON) streamed through to the browser."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any, Final

import orjson

from govhub_common.clock import BUSINESS_TZ
from govhub_console.ops.service import PAGE_SIZE, Caller

AUDIT: Final = "/exchange/v1/audit"
FILTERS: Final = ("agency", "action", "since", "until")


def api_time(text: str | None) -> str | None:
    """A time from the page's fields: a wall time without an offset (what a datetime-local
    field sends) is Asia/Shanghai's; anything else goes to the API as typed, for it to judge."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return text
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=BUSINESS_TZ)
    return moment.isoformat()


async def search(api: Caller, *, filters: dict[str, str], cursor: str | None) -> dict[str, Any]:
    params = {**filters, "since": api_time(filters["since"]), "until": api_time(filters["until"])}
    page = await api.get(AUDIT, **params, cursor=cursor, limit=PAGE_SIZE)
    entries = [
        {**entry, "details_text": orjson.dumps(entry["details"]).decode()} for entry in page["data"]
    ]
    href = api.url("/audit", **filters, cursor=page["next"]) if page.get("next") else None
    return {"entries": entries, "filters": filters, "next_href": href}


async def verification(api: Caller) -> dict[str, Any]:
    """The exchange recomputes the chain from its first entry and checks the signed heads."""
    return {"report": await api.get(f"{AUDIT}/verify")}


async def export(
    api: Caller, *, since: str | None, until: str | None
) -> tuple[str, AsyncIterator[bytes]]:
    """The export's Content-Disposition and its bytes, as the exchange streams them."""
    reply = await api.download(f"{AUDIT}/export", since=api_time(since), until=api_time(until))
    disposition = reply.headers.get(
        "content-disposition", 'attachment; filename="govhub-audit.ndjson"'
    )

    async def body() -> AsyncIterator[bytes]:
        try:
            async for chunk in reply.aiter_raw():
                yield chunk
        finally:
            await reply.aclose()

    return disposition, body()
