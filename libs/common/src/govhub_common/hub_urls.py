"""Where a client reaches a running hub: one base URL (all-in-one, or behind an Ingress), or
a base URL per service prefix (split mode without an Ingress), written
`/exchange=http://a:8001,/registry=http://b:8002,...`. The command-line tools (`govhub
apply`, `export`, `events`, `demo`) take either."""

from __future__ import annotations

import httpx


def parse_hub_url(url: str) -> str | dict[str, str]:
    """ "http://hub:8000", or "/exchange=http://a:8001,/registry=http://b:8002,..."."""
    if "=" not in url:
        return url.rstrip("/")
    pairs = (part.split("=", 1) for part in url.split(",") if part.strip())
    return {"/" + prefix.strip().strip("/"): base.strip().rstrip("/") for prefix, base in pairs}


def prefix_of(path: str) -> str:
    return "/" + path.lstrip("/").split("/", 1)[0]


class PrefixRouter(httpx.BaseTransport):
    """Sends each request to the process serving its path's first segment (its service's
    prefix), so one client talks to a hub whose services run apart."""

    def __init__(self, bases: dict[str, str]) -> None:
        self._bases = {prefix: httpx.URL(base) for prefix, base in bases.items()}
        self._inner = httpx.HTTPTransport()

    @property
    def prefixes(self) -> frozenset[str]:
        return frozenset(self._bases)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        base = self._bases.get(prefix_of(request.url.path))
        if base is None:
            known = ", ".join(sorted(self._bases))
            raise httpx.UnsupportedProtocol(
                f"no base URL for {request.url.path} (the hub's URL names {known})"
            )
        request.url = request.url.copy_with(scheme=base.scheme, host=base.host, port=base.port)
        return self._inner.handle_request(request)

    def close(self) -> None:
        self._inner.close()


def hub_client(
    url: str, *, timeout: float = 60, headers: dict[str, str] | None = None
) -> httpx.Client:
    """An HTTP client of the hub at `url` (either form): requests take the hub's paths."""
    parsed = parse_hub_url(url)
    if isinstance(parsed, str):
        return httpx.Client(base_url=parsed, timeout=timeout, headers=headers)
    # Relative paths need a base; the router replaces its host with the service's.
    return httpx.Client(
        base_url="http://hub", transport=PrefixRouter(parsed), timeout=timeout, headers=headers
    )


class AsyncPrefixRouter(httpx.AsyncBaseTransport):
    """PrefixRouter's async twin: a service that calls the others' APIs from its event loop
    (the console in split mode) reaches each at its own process."""

    def __init__(self, bases: dict[str, str]) -> None:
        self._bases = {prefix: httpx.URL(base) for prefix, base in bases.items()}
        self._inner = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        base = self._bases.get(prefix_of(request.url.path))
        if base is None:
            known = ", ".join(sorted(self._bases))
            raise httpx.UnsupportedProtocol(
                f"no base URL for {request.url.path} (the hub's URL names {known})"
            )
        request.url = request.url.copy_with(scheme=base.scheme, host=base.host, port=base.port)
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


def async_hub_client(
    url: str, *, timeout: float = 60, headers: dict[str, str] | None = None
) -> httpx.AsyncClient:
    """An async HTTP client of the hub at `url` (either form): requests take the hub's paths."""
    parsed = parse_hub_url(url)
    if isinstance(parsed, str):
        return httpx.AsyncClient(base_url=parsed, timeout=timeout, headers=headers)
    return httpx.AsyncClient(
        base_url="http://hub",
        transport=AsyncPrefixRouter(parsed),
        timeout=timeout,
        headers=headers,
    )


def serves(client: httpx.Client, prefix: str) -> bool:
    """Does the hub this client talks to serve `prefix`? One base URL serves every prefix;
    a URL per prefix serves those it names (a split hub may run without a service, e.g.
    the console)."""
    transport = client._transport  # httpx keeps the transport it was given here
    return not isinstance(transport, PrefixRouter) or prefix in transport.prefixes
