"""Calling the services' public APIs as the signed-in person, for the operator's pages.

An API's refusal or problem (403, 404, 409, 422 ...) becomes an ApiProblem carrying the
API's status and `detail`; the pages show it to the person as it is, never as a 500."""

from __future__ import annotations

from collections.abc import Awaitable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import quote, urlencode

import httpx
from fastapi import Depends, Request
from fastapi.responses import HTMLResponse

from govhub_common.clock import BUSINESS_TZ
from govhub_common.db import Database
from govhub_common.logs import request_id_var
from govhub_console.auth.models import ConsoleSession
from govhub_console.auth.service import call_api
from govhub_console.deps import CheckedPerson, DatabaseDep, Person, State
from govhub_console.home.service import menu_for
from govhub_console.hub_api import HubApi
from govhub_console.pages import prefix_of, render

WHOAMI = "/exchange/v1/whoami"
# Rows per page of the operator's lists.
PAGE_SIZE = 50


class ApiProblem(Exception):
    """An API answered with a problem: its status and its own words (`detail`)."""

    def __init__(
        self, status: int, detail: str, code: str | None = None, errors: list[str] | None = None
    ) -> None:
        super().__init__(f"{status}: {detail}")
        self.status = status
        self.detail = detail
        self.code = code
        self.errors = errors or []  # "path: message" of each field the API named


def problem_of(reply: httpx.Response) -> ApiProblem:
    try:
        body = reply.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        detail = str(body.get("detail") or body.get("title") or body.get("code") or "")
        errors = [
            f"{e.get('path', '')}: {e.get('message', '')}"
            for e in body.get("errors") or []
            if isinstance(e, dict)
        ]
        return ApiProblem(reply.status_code, detail, body.get("code"), errors)
    return ApiProblem(reply.status_code, reply.reason_phrase)


def segment(value: str | int) -> str:
    """A value as one path segment of an API URL (never a way into another path)."""
    return quote(str(value), safe="")


def query(params: Mapping[str, Any]) -> dict[str, Any]:
    """The parameters given a value (an empty form field is no filter)."""
    return {k: v for k, v in params.items() if v is not None and v != ""}


def local_time(value: str | None) -> str:
    """An API's RFC 3339 time as Asia/Shanghai wall time, to the second."""
    if not value:
        return ""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return value
    if moment.tzinfo is None:
        return value
    return moment.astimezone(BUSINESS_TZ).strftime("%Y-%m-%d %H:%M:%S")


@dataclass
class Caller:
    """One request of a signed-in person: the API as they may call it, and their page."""

    request: Request
    person: ConsoleSession
    db: Database
    api: HubApi

    async def call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
    ) -> Any:
        """The API's JSON answer; ApiProblem when it refuses."""
        kwargs: dict[str, Any] = {}
        if params:
            kwargs["params"] = query(params)
        if json is not None:
            kwargs["json"] = json
        reply = await call_api(self.db, self.person, self.api, method, path, **kwargs)
        if reply.status_code >= 400:
            raise problem_of(reply)
        return reply.json() if reply.content else None

    async def get(self, path: str, **params: Any) -> Any:
        return await self.call("GET", path, params=params)

    async def download(self, path: str, **params: Any) -> httpx.Response:
        """A streamed GET (a download): the reply with its headers read and its body not
        yet; the caller closes it. ApiProblem when the API refuses."""
        # A cheap call first renews the person's token when due (call_api does): the
        # streamed call goes around call_api, which reads whole bodies.
        await self.call("GET", WHOAMI)
        headers = {"Authorization": f"Bearer {self.person.person_token}"}
        if request_id := request_id_var.get():
            headers["X-Request-ID"] = request_id
        request = self.api.client.build_request("GET", path, params=query(params), headers=headers)
        reply = await self.api.client.send(request, stream=True)
        if reply.status_code >= 400:
            try:
                await reply.aread()
            finally:
                await reply.aclose()
            raise problem_of(reply)
        return reply

    def page(self, name: str, *, status: int = 200, **context: Any) -> HTMLResponse:
        return render(
            self.request,
            name,
            locale=self.person.locale,
            csrf=self.person.csrf,
            status=status,
            person=self.person,
            menu=menu_for(self.person.role),
            when=local_time,
            **context,
        )

    def problem_page(self, problem: ApiProblem) -> HTMLResponse:
        """The API's refusal as a page, with the API's status."""
        return self.page("ops/problem.html", status=problem.status, problem=problem)

    async def show(self, name: str, context: Awaitable[dict[str, Any]]) -> HTMLResponse:
        """The page `name` with what `context` reads from the APIs, or the API's problem."""
        try:
            return self.page(name, **await context)
        except ApiProblem as problem:
            return self.problem_page(problem)

    def url(self, path: str, **params: Any) -> str:
        """A console URL with its query (the empty parameters left out)."""
        given = query(params)
        return f"{prefix_of(self.request)}{path}" + (f"?{urlencode(given)}" if given else "")


def caller(request: Request, person: Person, state: State, db: DatabaseDep) -> Caller:
    return Caller(request, person, db, state.hub_api())


def checked_caller(
    request: Request, person: CheckedPerson, state: State, db: DatabaseDep
) -> Caller:
    return Caller(request, person, db, state.hub_api())


# A page's signed-in person with their API; ...for a POST, from the console's own page.
Ops = Annotated[Caller, Depends(caller)]
CheckedOps = Annotated[Caller, Depends(checked_caller)]
