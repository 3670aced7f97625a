"""The data steward's OAuth clients (接入客户端): the agency's clients as the exchange lists
them for its `exchange:clients` scope, and rotating a client's secret.

A new secret is the API's answer to the rotation and goes into that one page only: the
console never stores it, never puts it in a URL or a cookie."""

from __future__ import annotations

from typing import Any, Final

from govhub_console.ops.service import PAGE_SIZE, ApiProblem, Caller, segment

AGENCIES: Final = "/exchange/v1/agencies"


def clients_path(agency: str) -> str:
    return f"{AGENCIES}/{segment(agency)}/clients"


async def client_list(api: Caller, *, cursor: str | None) -> dict[str, Any]:
    page = await api.get(clients_path(api.person.agency), cursor=cursor, limit=PAGE_SIZE)
    return {
        "clients": page["data"],
        "next_href": api.url("/clients", cursor=page["next"]) if page.get("next") else None,
    }


async def find_client(api: Caller, *, agency: str, client_id: str) -> dict[str, Any]:
    """One client of an agency, as the API lists them to this person (another agency's
    list is the API's 403); one it does not list is a 404."""
    cursor = None
    while True:
        page = await api.get(clients_path(agency), cursor=cursor, limit=PAGE_SIZE)
        for client in page["data"]:
            if client["client_id"] == client_id:
                return {"client": client}
        cursor = page.get("next")
        if not cursor:
            raise ApiProblem(404, f"client {client_id} does not exist")


async def rotate(api: Caller, *, agency: str, client_id: str) -> dict[str, Any]:
    """The client with its new secret (the API's reply): the old secret stops working."""
    rotated: dict[str, Any] = await api.call(
        "POST", f"{clients_path(agency)}/{segment(client_id)}/rotate"
    )
    return rotated
