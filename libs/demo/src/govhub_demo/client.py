"""An agency's view of the hub: OAuth2 client credentials and the HTTP APIs, nothing else."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx

from govhub_common.hub_urls import parse_hub_url, prefix_of


class HubError(RuntimeError):
    pass


class HubClient:
    """Talks to a running hub over HTTP with each agency's own token."""

    def __init__(self, url: str, operator_secret: str) -> None:
        """`url`: the hub's one base URL (all-in-one, or behind an Ingress), or a base URL
        per service prefix (split mode without an Ingress: "/exchange=http://...:8001,...")."""
        self.url = url
        parsed = parse_hub_url(url)
        by_prefix = parsed if isinstance(parsed, dict) else {"": parsed}
        self._http = {
            prefix: httpx.AsyncClient(
                base_url=url,
                timeout=httpx.Timeout(120.0),
                limits=httpx.Limits(max_connections=32, max_keepalive_connections=32),
            )
            for prefix, url in by_prefix.items()
        }
        self.credentials: dict[str, tuple[str, str]] = {"operator": ("operator", operator_secret)}
        self._tokens: dict[str, tuple[str, float]] = {}

    def http(self, path: str, via: str | None = None) -> httpx.AsyncClient:
        """The client for a path: by its service prefix, or `via` a given process."""
        if via is not None:
            return self._http[via]
        return self._http.get(prefix_of(path)) or self._http[""]

    async def close(self) -> None:
        for client in self._http.values():
            await client.aclose()

    async def token(self, who: str) -> str:
        cached = self._tokens.get(who)
        if cached and cached[1] > time.monotonic() + 30:
            return cached[0]
        client_id, secret = self.credentials[who]
        reply = await self.http("/exchange").post(
            "/exchange/v1/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=(client_id, secret),
        )
        if reply.status_code != 200:
            raise HubError(f"token for {who}: {reply.status_code} {reply.text}")
        body = reply.json()
        self._tokens[who] = (body["access_token"], time.monotonic() + float(body["expires_in"]))
        return str(body["access_token"])

    async def call(
        self,
        method: str,
        path: str,
        who: str = "operator",
        *,
        ok: tuple[int, ...] = (200, 201, 204),
        via: str | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {await self.token(who)}", **kwargs.pop("headers", {})}
        reply = await self.http(path, via).request(method, path, headers=headers, **kwargs)
        if reply.status_code not in ok:
            raise HubError(f"{method} {path} as {who}: {reply.status_code} {reply.text[:500]}")
        return reply

    async def pages(self, path: str, who: str = "operator", **params: Any) -> list[dict[str, Any]]:
        """Every item of a `{"data": [...], "next": cursor}` listing."""
        items: list[dict[str, Any]] = []
        cursor: Any = None
        while True:
            query = dict(params)
            if cursor is not None:
                query["cursor"] = cursor
            body = (await self.call("GET", path, who, params=query)).json()
            items.extend(body["data"])
            cursor = body.get("next")
            if not cursor or not body["data"]:
                return items

    async def simulated(self) -> bool:
        """Does every process of the hub run in simulation mode?"""
        statuses = [
            (await self.call("GET", "/events/status", via=prefix)).json() for prefix in self._http
        ]
        return all(s.get("clock", {}).get("simulated") for s in statuses)

    async def settle(self, *, timeout: float = 300.0) -> None:
        """Wait until every hub process is idle (empty outboxes, empty queues, no handler
        running), twice in a row, so events caused by events are caught too."""
        deadline = time.monotonic() + timeout
        quiet = 0
        while quiet < 2:
            statuses = [
                (await self.call("GET", "/events/status", via=prefix)).json()
                for prefix in self._http
            ]
            quiet = quiet + 1 if all(s["idle"] for s in statuses) else 0
            if time.monotonic() > deadline:
                raise HubError(f"the hub did not catch up within {timeout}s: {statuses}")
            if quiet == 0:
                await asyncio.sleep(0.01)
