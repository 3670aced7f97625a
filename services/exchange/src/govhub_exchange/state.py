"""What one exchange process keeps between requests: made with its context
(ServiceSpec.state), one typed object instead of a dict of names."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING

from govhub_common.runtime import ServiceContext
from govhub_common.security import TokenIssuer

if TYPE_CHECKING:  # the domains import exchange_state from here
    from govhub_exchange.delivery.notify import TopicNotifier
    from govhub_exchange.delivery.targets import WebhookPolicy
    from govhub_exchange.identity.oidc import OidcProvider
    from govhub_exchange.identity.secrets import VerifiedSecretCache
    from govhub_exchange.identity.throttle import Network, TokenEndpointThrottle


@dataclass
class ExchangeState:
    notifier: TopicNotifier  # wakes long-polling feed readers of a topic
    webhook_wake: asyncio.Event  # starts this replica's webhook round now
    webhook_policy: WebhookPolicy  # which webhook addresses are allowed
    token_throttle: TokenEndpointThrottle  # failed token attempts per client and address
    trusted_proxies: list[Network]  # whose X-Forwarded-For the throttle believes
    issuer: TokenIssuer
    secret_cache: VerifiedSecretCache  # client secrets verified lately (scrypt is slow)
    oidc: OidcProvider | None  # the city's identity provider's keys, when single sign-on is on


def make_state(ctx: ServiceContext) -> ExchangeState:
    from govhub_exchange.delivery.notify import TopicNotifier
    from govhub_exchange.delivery.targets import WebhookPolicy
    from govhub_exchange.identity.oidc import OidcProvider
    from govhub_exchange.identity.secrets import VerifiedSecretCache
    from govhub_exchange.identity.throttle import (
        KeyedBuckets,
        TokenEndpointThrottle,
        parse_networks,
    )
    from govhub_exchange.settings import ExchangeSettings

    settings: ExchangeSettings = ctx.settings
    return ExchangeState(
        notifier=TopicNotifier(),
        webhook_wake=asyncio.Event(),
        webhook_policy=WebhookPolicy.from_settings(settings),
        token_throttle=TokenEndpointThrottle(
            per_client=KeyedBuckets(
                burst=settings.token_client_burst, per_minute=settings.token_client_per_minute
            ),
            per_address=KeyedBuckets(
                burst=settings.token_address_burst, per_minute=settings.token_address_per_minute
            ),
        ),
        trusted_proxies=parse_networks(settings.trusted_proxies),
        issuer=TokenIssuer(
            ctx.runtime.keys,
            issuer=ctx.runtime.settings.jwt_issuer,
            audience=ctx.runtime.settings.jwt_audience,
        ),
        secret_cache=VerifiedSecretCache(settings.secret_cache_seconds),
        oidc=(
            OidcProvider(
                issuer=settings.console_oidc_issuer,
                cache_seconds=settings.oidc_cache_seconds,
                timeout_seconds=settings.oidc_timeout_seconds,
                # Production refuses an http issuer (CommonSettings); its keys come over
                # https too.
                https_only=not settings.is_development,
            )
            if settings.console_oidc_issuer
            else None
        ),
    )


def exchange_state(ctx: ServiceContext) -> ExchangeState:
    state: ExchangeState = ctx.state
    return state
