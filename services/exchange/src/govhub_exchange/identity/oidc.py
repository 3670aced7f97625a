"""ID tokens of the city's OpenID Connect provider, verified for the console's token exchange.

The provider's discovery document and signing keys (JWKS) are fetched with httpx and kept
for GOVHUB_OIDC_CACHE_SECONDS; a token signed with a key id not among them makes one fetch
at once (the provider rotated its keys), at most every few seconds, so forged key ids cannot
make the exchange hammer the provider.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import jwt

# The signatures an ID token may carry (never `none`, never HMAC with a public key).
ALGORITHMS = ("RS256", "ES256")
# Fewest seconds between two fetches forced by an unknown key id.
REFETCH_SECONDS = 10.0
LEEWAY_SECONDS = 5


class IdTokenRefused(Exception):
    """The ID token is not one the exchange accepts; the message says why."""


class ProviderUnreachable(Exception):
    """The provider's discovery document or keys could not be fetched."""


@dataclass
class _Keys:
    issuer: str
    by_kid: dict[str | None, Any]
    fetched: float


@dataclass
class OidcProvider:
    """The keys of one issuer, fetched on demand."""

    issuer: str
    cache_seconds: float
    timeout_seconds: float
    https_only: bool
    _keys: _Keys | None = None
    _forced: float = float("-inf")
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def verify(self, token: str, *, audience: str) -> dict[str, Any]:
        """The claims of a valid ID token of this issuer for `audience`."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError as exc:
            raise IdTokenRefused(f"the ID token is malformed: {exc}") from None
        algorithm = header.get("alg")
        if algorithm not in ALGORITHMS:
            raise IdTokenRefused(f"the ID token's algorithm {algorithm!r} is not accepted")
        key = await self._key(header.get("kid"))
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[algorithm],
                audience=audience,
                issuer=self.issuer,
                options={"require": ["iss", "aud", "exp", "iat", "sub"]},
                leeway=LEEWAY_SECONDS,
            )
        except jwt.ExpiredSignatureError:
            raise IdTokenRefused("the ID token has expired") from None
        except jwt.InvalidAudienceError:
            raise IdTokenRefused("the ID token is for another audience") from None
        except jwt.InvalidIssuerError:
            raise IdTokenRefused("the ID token is from another issuer") from None
        except jwt.InvalidSignatureError:
            raise IdTokenRefused("the ID token's signature is not the provider's") from None
        except jwt.InvalidTokenError as exc:
            raise IdTokenRefused(f"the ID token is not valid: {exc}") from None
        return claims

    async def _key(self, kid: str | None) -> Any:
        async with self._lock:
            now = time.monotonic()
            keys = self._keys
            if keys is None or now - keys.fetched > self.cache_seconds:
                keys = self._keys = await self._fetch()
            elif self._lookup(keys, kid) is None and now - self._forced >= REFETCH_SECONDS:
                # A key id never seen: the provider may have rotated its keys.
                self._forced = now
                keys = self._keys = await self._fetch()
            key = self._lookup(keys, kid)
        if key is None:
            raise IdTokenRefused(f"the ID token's key {kid!r} is not among the provider's")
        return key

    @staticmethod
    def _lookup(keys: _Keys, kid: str | None) -> Any:
        if kid in keys.by_kid:
            return keys.by_kid[kid]
        if kid is None and len(keys.by_kid) == 1:
            return next(iter(keys.by_kid.values()))
        return None

    async def _fetch(self) -> _Keys:
        discovery_url = self.issuer.rstrip("/") + "/.well-known/openid-configuration"
        async with httpx.AsyncClient(timeout=self.timeout_seconds) as client:
            discovery = await self._json(client, discovery_url)
            if discovery.get("issuer") != self.issuer:
                raise ProviderUnreachable(
                    f"the provider's discovery names issuer {discovery.get('issuer')!r}, "
                    f"not {self.issuer!r}"
                )
            jwks_uri = discovery.get("jwks_uri")
            if not isinstance(jwks_uri, str) or not jwks_uri.startswith(
                ("https://",) if self.https_only else ("https://", "http://")
            ):
                raise ProviderUnreachable(f"the provider's jwks_uri {jwks_uri!r} is not usable")
            jwks = await self._json(client, jwks_uri)
        by_kid: dict[str | None, Any] = {}
        for jwk in jwks.get("keys", []):
            if not isinstance(jwk, dict) or jwk.get("use", "sig") != "sig":
                continue
            try:
                key = jwt.PyJWK.from_json(json.dumps(jwk))
            except (jwt.PyJWKError, jwt.InvalidKeyError):
                continue  # a kind of key this exchange does not use
            by_kid[jwk.get("kid")] = key.key
        return _Keys(issuer=self.issuer, by_kid=by_kid, fetched=time.monotonic())

    @staticmethod
    async def _json(client: httpx.AsyncClient, url: str) -> dict[str, Any]:
        try:
            reply = await client.get(url, headers={"Accept": "application/json"})
            reply.raise_for_status()
            body = reply.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise ProviderUnreachable(f"{url}: {exc}") from None
        if not isinstance(body, dict):
            raise ProviderUnreachable(f"{url}: not a JSON object")
        return body
