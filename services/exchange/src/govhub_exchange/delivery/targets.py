"""Where webhooks may post: an allow/deny policy on the addresses a webhook URL's host
resolves to (settings webhook_deny_networks, webhook_allow_networks, and the addresses of
the host the hub runs on).

The policy is checked when a webhook is set (a 422 naming the url) and again at every
connection the webhook client opens, after its own DNS resolution: the client connects to
the very address it checked, so a name that resolves elsewhere later (DNS rebinding) gains
nothing; TLS still verifies and sends SNI for the URL's host name, and Host is unchanged.
Redirects are not followed (a 3xx is a failed attempt), so a permitted receiver cannot
bounce a delivery inward.

What a subscriber is told of a failure is coarse (see `public_error`): an HTTP status when
its endpoint answered, and one sentence for everything else (a refused address, a name
that does not resolve, a closed or filtered port, TLS, a timeout), so that delivery errors
tell nothing about the hub's networks. The detail goes to the exchange's log."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpcore
import httpx

from govhub_common.problem_codes import ProblemCode
from govhub_common.problems import Problem
from govhub_exchange.settings import ExchangeSettings

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# The longest wait for DNS when a webhook is set.
RESOLVE_SECONDS = 5.0

# What a subscriber reads of an attempt that got no HTTP answer, whatever the cause.
NO_ANSWER = "the endpoint could not be reached or gave no complete HTTP answer"


class TargetDenied(httpcore.ConnectError):
    """The host resolves to no address, or to one the policy denies (raised where the
    client connects, so httpx reports it as a failed connection)."""


def _plain(address: Address) -> Address:
    """An IPv4 address written as IPv6 (::ffff:10.0.0.1) is judged as the IPv4 it is."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def host_addresses() -> frozenset[Address]:
    """The addresses of the host the hub runs on, as its own name resolves."""
    found: set[Address] = set()
    try:
        infos = socket.getaddrinfo(socket.gethostname(), None, type=socket.SOCK_STREAM)
    except OSError:
        return frozenset()
    for info in infos:
        try:
            found.add(_plain(ipaddress.ip_address(str(info[4][0]).split("%")[0])))
        except ValueError:
            continue
    return frozenset(found)


@dataclass(frozen=True)
class WebhookPolicy:
    denied: tuple[Network, ...]
    allowed: tuple[Network, ...]
    own: frozenset[Address]

    @classmethod
    def from_settings(cls, settings: ExchangeSettings) -> WebhookPolicy:
        return cls(
            denied=_parse(settings.webhook_deny_networks),
            allowed=_parse(settings.webhook_allow_networks),
            own=host_addresses(),
        )

    def permits(self, address: Address) -> bool:
        """Allowed networks win (an operator's explicit word); then the host's own
        addresses and the denied networks are refused."""
        address = _plain(address)
        if any(address in network for network in self.allowed):
            return True
        if address in self.own:
            return False
        return not any(address in network for network in self.denied)

    async def resolve(self, host: str, port: int) -> list[str]:
        """The addresses to connect to for host:port, every one permitted: a name with
        any denied address is refused whole (it may be answered either way next time)."""
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(
                host, port, type=socket.SOCK_STREAM
            )
        except (OSError, UnicodeError) as exc:
            raise TargetDenied(f"{host} does not resolve: {exc}") from exc
        addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
        if not addresses:
            raise TargetDenied(f"{host} does not resolve")
        refused = [a for a in addresses if not self.permits(_address(a))]
        if refused:
            raise TargetDenied(
                f"{host} resolves to {', '.join(refused)}, which the webhook policy denies"
            )
        return addresses


def _parse(networks: Iterable[str]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(n, strict=False) for n in networks)


def _address(text: str) -> Address:
    return ipaddress.ip_address(text.split("%")[0])  # an IPv6 zone names no other host


async def check_webhook_url(url: str, policy: WebhookPolicy) -> None:
    """Refuse (422 naming the url) a webhook whose host does not resolve to addresses the
    policy permits. One message whatever the reason, so that setting webhooks cannot map
    which internal names exist."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        # A resolver that never answers does not hold the request (nor its row lock).
        async with asyncio.timeout(RESOLVE_SECONDS):
            await policy.resolve(host, port)
    except (TargetDenied, ValueError, TimeoutError) as exc:
        raise Problem(
            ProblemCode.VALIDATION_FAILED,
            "the webhook url is not one the hub may post to",
            errors=[
                {
                    "path": "$.url",
                    "message": "the host must resolve only to addresses the hub's webhook "
                    "policy permits (public addresses unless an operator allows others)",
                }
            ],
        ) from exc


class _GuardedBackend(httpcore.AsyncNetworkBackend):
    """Resolves and checks each connection's host itself, then connects to a checked
    address; TLS is started by httpcore afterwards with the URL's host name."""

    def __init__(self, policy: WebhookPolicy) -> None:
        self.policy = policy
        self.inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        failure: Exception | None = None
        for address in await self.policy.resolve(host, port):
            try:
                return await self.inner.connect_tcp(
                    address,
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        assert failure is not None
        raise failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise TargetDenied("webhooks post over TCP only")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


def webhook_client(
    policy: WebhookPolicy, *, timeout: float, limits: httpx.Limits
) -> httpx.AsyncClient:
    """The client webhooks are posted with: every connection through the policy, no
    redirects followed, no proxy taken from the environment (a proxy would resolve the
    host itself, past the policy)."""
    transport = httpx.AsyncHTTPTransport(limits=limits, trust_env=False)
    # httpx takes no network backend; its pool is rebuilt with the guarded one, with what
    # httpx would have given it.
    transport._pool = httpcore.AsyncConnectionPool(
        ssl_context=httpx.create_ssl_context(trust_env=False),
        max_connections=limits.max_connections,
        max_keepalive_connections=limits.max_keepalive_connections,
        keepalive_expiry=limits.keepalive_expiry,
        network_backend=_GuardedBackend(policy),
    )
    return httpx.AsyncClient(
        transport=transport, timeout=timeout, follow_redirects=False, trust_env=False
    )


def public_error(status: int | None, excerpt: str) -> str:
    """What the subscriber is told of a failed attempt: the status (and the start of the
    body) its endpoint answered with, or the same sentence for anything else."""
    if status is None:
        return NO_ANSWER
    return f"HTTP {status}" + (f": {excerpt}" if excerpt else "")
