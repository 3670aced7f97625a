"""The console's home page."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from govhub_console.auth.service import call_api
from govhub_console.deps import DatabaseDep, Person, State
from govhub_console.home.service import menu_for
from govhub_console.pages import render

router = APIRouter(include_in_schema=False)


@router.get("/")
async def home(request: Request, person: Person, state: State, db: DatabaseDep) -> Response:
    # What the hub itself says this person's token grants (the exchange's whoami).
    reply = await call_api(db, person, state.hub_api(), "GET", "/exchange/v1/whoami")
    granted = reply.json() if reply.status_code == 200 else None
    return render(
        request,
        "home/index.html",
        locale=person.locale,
        csrf=person.csrf,
        person=person,
        menu=menu_for(person.role),
        granted=granted,
    )
