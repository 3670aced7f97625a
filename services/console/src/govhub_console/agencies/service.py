"""Agencies and their OAuth clients as the exchange gives them to an operator; disabling
and enabling an agency."""

from __future__ import annotations

from typing import Any, Final

from govhub_console.ops.service import PAGE_SIZE, Caller, segment

AGENCIES: Final = "/exchange/v1/agencies"
# What the confirmation page offers: the action -> the agency's `disabled` after it.
ACTIONS: Final = {"disable": True, "enable": False}


async def agency_list(api: Caller, *, cursor: str | None) -> dict[str, Any]:
    page = await api.get(AGENCIES, cursor=cursor, limit=PAGE_SIZE)
    return {
        "agencies": page["data"],
        "next_href": api.url("/agencies", cursor=page["next"]) if page.get("next") else None,
    }


async def agency_page(
    api: Caller, *, code: str, cursor: str | None, done: str | None = None
) -> dict[str, Any]:
    agency = await api.get(f"{AGENCIES}/{segment(code)}")
    clients = await api.get(f"{AGENCIES}/{segment(code)}/clients", cursor=cursor, limit=PAGE_SIZE)
    href = api.url(f"/agencies/{code}", cursor=clients["next"]) if clients.get("next") else None
    return {
        "agency": agency,
        "clients": clients["data"],
        "next_href": href,
        "done": done if done in ACTIONS else None,
    }


async def confirmation(api: Caller, *, code: str, action: str) -> dict[str, Any]:
    return {"agency": await api.get(f"{AGENCIES}/{segment(code)}"), "action": action}


async def set_disabled(api: Caller, *, code: str, action: str) -> None:
    await api.call("PATCH", f"{AGENCIES}/{segment(code)}", json={"disabled": ACTIONS[action]})
