"""Client secrets: generated, hashed with scrypt (stdlib), verified in constant time."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time

_N, _R, _P = 2**14, 8, 1


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def hash_secret(secret: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(secret.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return f"scrypt${_N}${_R}${_P}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def verify_secret(secret: str, stored: str) -> bool:
    try:
        _, n, r, p, salt, digest = stored.split("$")
        computed = hashlib.scrypt(
            secret.encode(),
            salt=base64.b64decode(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=32,
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(computed, base64.b64decode(digest))


# A hash of a secret nobody is given, with the parameters of every stored hash: an unknown
# client id is checked against it, so it costs the same scrypt as a wrong secret.
_UNKNOWN_CLIENT_HASH = (
    "scrypt$16384$8$1$MSfKUSoCWJEET/C4DdmRDA==$tuReoupzmiXFi/if3qD6N/UNvtR4QB016kNeOXX3qcA="
)


def verify_unknown_client(secret: str) -> bool:
    """The work of verify_secret for a client id the hub does not know; always False."""
    verify_secret(secret, _UNKNOWN_CLIENT_HASH)
    return False


class VerifiedSecretCache:
    """Remembers recently verified (client, secret, stored hash) triples, so token issuance
    under load does not spend a core on scrypt. Keyed by a fast hash, never the secret."""

    def __init__(self, ttl_seconds: float) -> None:
        self.ttl = ttl_seconds
        self._entries: dict[str, float] = {}

    def _key(self, client_id: str, secret: str, stored: str) -> str:
        return hashlib.sha256(f"{client_id}\0{secret}\0{stored}".encode()).hexdigest()

    def verify(self, client_id: str, secret: str, stored: str) -> bool:
        key = self._key(client_id, secret, stored)
        now = time.monotonic()
        expires = self._entries.get(key)
        if expires is not None and expires > now:
            return True
        if not verify_secret(secret, stored):
            return False
        if len(self._entries) > 10_000:
            self._entries = {k: v for k, v in self._entries.items() if v > now}
        self._entries[key] = now + self.ttl
        return True
