"""People (人员) acting through the console: their roles, the scopes each role is granted,
and the token types the console exchanges for a person's access token (RFC 8693).

A person's access token keeps `sub` = the person's agency, so every agency rule, filter and
scope check of the services applies to it unchanged: the console sees exactly what an
integration of that agency holding the role's scopes would see. Who the person is travels
beside it (`person`, `person_name`, `role`, `auth_time`, and `act` naming the console as
the actor in the RFC 8693 sense); the audit log records `<agency>/<person>`.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal

import jwt

from govhub_common.files import open_private, private_directory
from govhub_common.settings import CommonSettings

Role = Literal["case_officer", "data_steward", "operator"]

# The exchange grants from this table, the console draws its menus from it.
ROLE_SCOPES: Final[dict[str, frozenset[str]]] = {
    # 个案办理人员: works the warnings assigned to the agency.
    "case_officer": frozenset({"alerting:read", "alerting:work"}),
    # 数据管理员: the agency's topics, subscriptions and clients.
    "data_steward": frozenset(
        {"exchange:catalog", "exchange:publish", "exchange:subscribe", "exchange:clients"}
    ),
    # 运维人员: the data center's operators (only people of the hub's own agency).
    "operator": frozenset({"operator"}),
}
ROLES: Final[tuple[str, ...]] = tuple(ROLE_SCOPES)

# The console's OAuth client, kept by the exchange beside the operator client.
CONSOLE_CLIENT_ID: Final = "console"

TOKEN_EXCHANGE_GRANT: Final = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN_TYPE: Final = "urn:ietf:params:oauth:token-type:access_token"
ID_TOKEN_TYPE: Final = "urn:ietf:params:oauth:token-type:id_token"
# A person the console itself signed in with a local account, asserted by the console
# (an HS256 JWT under the console client's secret; accepted only with local accounts on).
LOCAL_PERSON_TOKEN_TYPE: Final = "urn:govhub:params:oauth:token-type:local-person"
SUBJECT_TOKEN_TYPES: Final = (ID_TOKEN_TYPE, LOCAL_PERSON_TOKEN_TYPE, ACCESS_TOKEN_TYPE)

# Claims of a person's access token (besides the usual ones).
PERSON_CLAIM: Final = "person"
PERSON_NAME_CLAIM: Final = "person_name"
ROLE_CLAIM: Final = "role"
AUTH_TIME_CLAIM: Final = "auth_time"
ACTOR_CLAIM: Final = "act"

LOCAL_ASSERTION_ISSUER: Final = "govhub-console"
LOCAL_ASSERTION_AUDIENCE: Final = "govhub-exchange"
LOCAL_ASSERTION_TTL_SECONDS: Final = 60


@dataclass(frozen=True)
class PersonClaims:
    """Who a person token speaks for. `person` is a stable id: `oidc:<sub>` for a person of
    the city's identity provider, `local:<username>` for a local account."""

    person: str
    name: str
    role: str
    auth_time: int
    agency: str

    def claims(self) -> dict[str, Any]:
        return {
            PERSON_CLAIM: self.person,
            PERSON_NAME_CLAIM: self.name,
            ROLE_CLAIM: self.role,
            AUTH_TIME_CLAIM: self.auth_time,
            ACTOR_CLAIM: {"sub": CONSOLE_CLIENT_ID},
        }


def local_person_id(username: str) -> str:
    return f"local:{username}"


def oidc_person_id(subject: str) -> str:
    return f"oidc:{subject}"


def encode_local_assertion(person: PersonClaims, secret: str, *, now: float | None = None) -> str:
    """The console's statement that it signed `person` in with a local account."""
    issued = int(now if now is not None else time.time())
    return jwt.encode(
        {
            "iss": LOCAL_ASSERTION_ISSUER,
            "aud": LOCAL_ASSERTION_AUDIENCE,
            "sub": person.person,
            "agency": person.agency,
            "name": person.name,
            "role": person.role,
            "auth_time": person.auth_time,
            "iat": issued,
            "exp": issued + LOCAL_ASSERTION_TTL_SECONDS,
        },
        secret,
        algorithm="HS256",
    )


def decode_local_assertion(token: str, secret: str) -> PersonClaims:
    """The person a local assertion names; raises jwt.InvalidTokenError (or KeyError for a
    missing claim) when it is forged, expired or malformed."""
    claims = jwt.decode(
        token,
        secret,
        algorithms=["HS256"],
        audience=LOCAL_ASSERTION_AUDIENCE,
        issuer=LOCAL_ASSERTION_ISSUER,
        options={"require": ["exp", "iat", "sub", "agency", "role", "auth_time"]},
        leeway=5,
    )
    return PersonClaims(
        person=str(claims["sub"]),
        name=str(claims.get("name") or claims["sub"]),
        role=str(claims["role"]),
        auth_time=int(claims["auth_time"]),
        agency=str(claims["agency"]),
    )


def console_client_secret(settings: CommonSettings) -> str:
    """GOVHUB_CONSOLE_CLIENT_SECRET, or (development) one generated once under GOVHUB_HOME,
    so the exchange and the console of one hub agree without being told."""
    if settings.console_client_secret is not None:
        return settings.console_client_secret.get_secret_value()
    if not settings.is_development:
        raise RuntimeError("GOVHUB_CONSOLE_CLIENT_SECRET is required in production")
    path = Path(settings.home) / "console-client-secret"
    if not path.exists():
        private_directory(settings.home)
        try:
            handle = open_private(path, "x")
        except FileExistsError:  # another process got there first
            return path.read_text().strip()
        with handle:
            handle.write(secrets.token_urlsafe(32) + "\n")
    return path.read_text().strip()


def claim_at(claims: dict[str, Any], path: str) -> Any:
    """The value at a dotted path into an ID token's claims (`realm_access.roles`), or None.
    A claim whose own name holds the dots (`https://example.org/roles`) is taken first."""
    if path in claims:
        return claims[path]
    value: Any = claims
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def first_role(value: Any) -> str | None:
    """The first of ROLES (in their order) found in a roles claim: a list, or one string
    (space- or comma-separated names are accepted too)."""
    if isinstance(value, str):
        names = set(value.replace(",", " ").split())
    elif isinstance(value, list):
        names = {item for item in value if isinstance(item, str)}
    else:
        return None
    return next((role for role in ROLES if role in names), None)
