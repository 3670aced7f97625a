"""Identity: signed JWT access tokens (OAuth2 client credentials) verified offline.

The exchange issues tokens with the private key; every service verifies them with the
public key. In development, a key pair is generated once under GOVHUB_HOME/keys.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from govhub_common.files import make_private, private_directory, write_private
from govhub_common.persons import PERSON_CLAIM, PersonClaims
from govhub_common.problem_codes import ProblemCode
from govhub_common.problems import Problem
from govhub_common.revocation import (
    AGENCY_GENERATION_CLAIM,
    CLIENT_GENERATION_CLAIM,
    RevocationList,
)
from govhub_common.settings import CommonSettings

ALGORITHM = "RS256"
OPERATOR_SCOPE = "operator"


@dataclass(frozen=True)
class Principal:
    """Who calls: an agency (sub = agency code) and the scopes its token grants; for a
    person's token (govhub_common.persons) also the person, who acts for the agency."""

    agency: str
    scopes: frozenset[str]
    client_id: str | None = None
    claims: dict[str, Any] = field(default_factory=dict, compare=False)
    person: str | None = None

    @property
    def actor(self) -> str:
        """Who acted, as audit entries and histories record it: the agency for a client's
        token, `<agency>/<person>` for a person's (`gz-datacenter/local:ops`). Filters and
        ownership checks use `agency`."""
        return f"{self.agency}/{self.person}" if self.person else self.agency

    @property
    def is_operator(self) -> bool:
        return OPERATOR_SCOPE in self.scopes

    def has(self, scope: str) -> bool:
        return scope in self.scopes


@dataclass(frozen=True)
class KeyPair:
    private_pem: bytes | None
    public_pem: bytes

    @property
    def kid(self) -> str:
        # Stable per key: the JWK thumbprint would do too; a hash of the PEM is enough here.
        import hashlib

        return hashlib.sha256(self.public_pem).hexdigest()[:16]

    def jwk(self) -> dict[str, Any]:
        public_key = serialization.load_pem_public_key(self.public_pem)
        assert isinstance(public_key, rsa.RSAPublicKey)
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(public_key))
        jwk.update({"kid": self.kid, "use": "sig", "alg": ALGORITHM})
        return dict(jwk)


def generate_key_pair() -> KeyPair:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return KeyPair(private_pem, public_pem)


def load_key_pair(settings: CommonSettings) -> KeyPair:
    """Configured key files, or (development only) a pair generated under GOVHUB_HOME/keys."""
    if settings.jwt_public_key_file:
        public_pem = Path(settings.jwt_public_key_file).read_bytes()
        private_pem = (
            Path(settings.jwt_private_key_file).read_bytes()
            if settings.jwt_private_key_file
            else None
        )
        return KeyPair(private_pem, public_pem)
    if not settings.is_development:
        raise RuntimeError("GOVHUB_JWT_PUBLIC_KEY_FILE is required outside development")
    # The folder and the private key readable by the hub's user only (also when an older
    # version left them readable by others).
    key_dir = private_directory(Path(settings.home) / "keys")
    private_path, public_path = key_dir / "jwt-private.pem", key_dir / "jwt-public.pem"
    if not private_path.exists():
        pair = generate_key_pair()
        # Write to a temporary name and rename, so two processes starting together agree.
        tmp = private_directory(key_dir / f".tmp-{os.getpid()}")
        write_private(tmp / "jwt-private.pem", pair.private_pem or b"")
        (tmp / "jwt-public.pem").write_bytes(pair.public_pem)
        if not private_path.exists():
            os.replace(tmp / "jwt-public.pem", public_path)
            os.replace(tmp / "jwt-private.pem", private_path)
        for leftover in tmp.iterdir():
            leftover.unlink()
        tmp.rmdir()
    make_private(private_path)
    return KeyPair(private_path.read_bytes(), public_path.read_bytes())


class TokenIssuer:
    def __init__(self, keys: KeyPair, *, issuer: str, audience: str) -> None:
        if keys.private_pem is None:
            raise RuntimeError("this process has no private key; only the exchange issues tokens")
        self.keys = keys
        self.private_pem: bytes = keys.private_pem
        self.issuer = issuer
        self.audience = audience

    def issue(
        self,
        agency: str,
        scopes: Iterable[str],
        *,
        ttl_seconds: int = 900,
        client_id: str | None = None,
        client_generation: int | None = None,
        agency_generation: int | None = None,
        now: float | None = None,
        person: PersonClaims | None = None,
    ) -> str:
        """The generations are the client's and the agency's when the token is issued:
        a later revocation of either refuses the token (govhub_common.revocation). With
        `person`, a person's token: `sub` stays the agency, the person's claims are added."""
        issued = int(now if now is not None else time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": agency,
            "scope": " ".join(sorted(set(scopes))),
            "iat": issued,
            "nbf": issued,
            "exp": issued + ttl_seconds,
            "jti": uuid.uuid4().hex,
        }
        if client_id:
            claims["client_id"] = client_id
        if client_generation is not None:
            claims[CLIENT_GENERATION_CLAIM] = client_generation
        if agency_generation is not None:
            claims[AGENCY_GENERATION_CLAIM] = agency_generation
        if person is not None:
            claims.update(person.claims())
        return jwt.encode(
            claims, self.private_pem, algorithm=ALGORITHM, headers={"kid": self.keys.kid}
        )


class TokenVerifier:
    """Verifies access tokens offline; a token verified once is remembered until it expires,
    so an agency's integration sending the same token on every call pays for RSA once. The
    revocation list is checked on every call, remembered tokens included."""

    def __init__(
        self, keys: KeyPair, *, issuer: str, audience: str, cache_size: int = 4096
    ) -> None:
        self.public_key = serialization.load_pem_public_key(keys.public_pem)
        self.issuer = issuer
        self.audience = audience
        self.cache_size = cache_size
        self._verified: dict[str, tuple[Principal, float]] = {}
        self.revocations = RevocationList()

    def verify(self, token: str) -> Principal:
        principal = self._remembered(token)
        if principal is None:
            principal = self._verify(token)
            if len(self._verified) >= self.cache_size:
                self._verified.pop(next(iter(self._verified)))  # the oldest entry
            self._verified[token] = (principal, float(principal.claims["exp"]))
        why = self.revocations.revoked(principal.claims)
        if why is not None:
            raise _unauthorized("invalid_token", f"the access token was revoked: {why}")
        return principal

    def _remembered(self, token: str) -> Principal | None:
        cached = self._verified.get(token)
        if cached is None:
            return None
        principal, expires = cached
        if time.time() < expires:
            return principal
        del self._verified[token]
        return None

    def _verify(self, token: str) -> Principal:
        try:
            claims = jwt.decode(
                token,
                self.public_key,  # type: ignore[arg-type]
                algorithms=[ALGORITHM],
                audience=self.audience,
                issuer=self.issuer,
                options={"require": ["exp", "sub", "iat"]},
                leeway=5,
            )
        except jwt.ExpiredSignatureError:
            raise _unauthorized("invalid_token", "the access token has expired") from None
        except jwt.InvalidTokenError as exc:
            raise _unauthorized("invalid_token", f"the access token is not valid: {exc}") from None
        scopes = frozenset(str(claims.get("scope", "")).split())
        person = claims.get(PERSON_CLAIM)
        return Principal(
            str(claims["sub"]),
            scopes,
            claims.get("client_id"),
            claims,
            person=str(person) if person else None,
        )


def _unauthorized(error: str, detail: str) -> Problem:
    return Problem(
        ProblemCode.UNAUTHORIZED,
        detail,
        headers={"WWW-Authenticate": f'Bearer error="{error}"'},
    )


_bearer = HTTPBearer(auto_error=False)


async def current_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Problem(
            ProblemCode.UNAUTHORIZED,
            "an access token is required (Authorization: Bearer <token>)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    verifier: TokenVerifier = request.app.state.runtime.verifier
    return verifier.verify(credentials.credentials)


# What the OpenAPI contract reads to declare an operation's security (govhub_common.contract).
current_principal.needs_token = True  # type: ignore[attr-defined]


def require_scope(*scopes: str) -> Callable[..., Any]:
    """A dependency that admits a principal holding any of `scopes` (or `operator`)."""
    accepted = set(scopes) | {OPERATOR_SCOPE}

    async def dependency(
        principal: Annotated[Principal, Depends(current_principal)],
    ) -> Principal:
        if principal.scopes.isdisjoint(accepted):
            raise Problem(
                ProblemCode.INSUFFICIENT_SCOPE,
                f"this operation needs one of the scopes: {', '.join(sorted(accepted))}",
                headers={
                    "WWW-Authenticate": f'Bearer error="insufficient_scope", scope="{" ".join(sorted(scopes))}"'
                },
            )
        return principal

    dependency.accepted_scopes = frozenset(accepted)  # type: ignore[attr-defined]
    return dependency


def require_operator() -> Callable[..., Any]:
    return require_scope(OPERATOR_SCOPE)


Operator = Annotated[Principal, Depends(require_operator())]
AnyPrincipal = Annotated[Principal, Depends(current_principal)]
