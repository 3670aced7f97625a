"""The console's token exchange (RFC 8693): a signed-in person's identity for the person's
short-lived access token (govhub_common.persons).

Only the console's client may ask. The person comes from one of three subject tokens: the
console's own assertion for a local account, an ID token of the city's identity provider,
or a person token this exchange issued (renewal, while the sign-in lasts). Whatever the
source, the person's agency must exist and be enabled, the role must be one of ROLES, and
only people of the hub's own agency may be operators.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import jwt
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from govhub_common.persons import (
    ACCESS_TOKEN_TYPE,
    AUTH_TIME_CLAIM,
    CONSOLE_CLIENT_ID,
    ID_TOKEN_TYPE,
    LOCAL_PERSON_TOKEN_TYPE,
    PERSON_NAME_CLAIM,
    ROLE_CLAIM,
    ROLE_SCOPES,
    ROLES,
    PersonClaims,
    claim_at,
    decode_local_assertion,
    first_role,
    oidc_person_id,
)
from govhub_common.problem_codes import ProblemCode
from govhub_common.problems import Problem
from govhub_common.security import TokenIssuer, TokenVerifier
from govhub_exchange.audit import service as audit
from govhub_exchange.identity.models import Agency
from govhub_exchange.identity.oidc import IdTokenRefused, OidcProvider, ProviderUnreachable
from govhub_exchange.identity.schemas import TokenResponse
from govhub_exchange.identity.secrets import VerifiedSecretCache
from govhub_exchange.identity.service import (
    HUB_AGENCY,
    authenticate_client,
    unauthorized_client,
)
from govhub_exchange.settings import ExchangeSettings

LOCAL_IDP = "local"


class SubjectRefused(Problem):
    """The subject token itself is refused (forged, expired, for another audience ...).
    These count in the token endpoint's throttle; refusals of a person whose token is
    genuine (an unknown role, a disabled agency, a sign-in too old) do not, or one person
    retrying would lock every other person out of the console."""

    def __init__(self, detail: str) -> None:
        super().__init__(ProblemCode.INVALID_GRANT, detail, error="invalid_grant")


def refused(detail: str) -> Problem:
    return Problem(ProblemCode.INVALID_GRANT, detail, error="invalid_grant")


@dataclass(frozen=True)
class Subject:
    person: PersonClaims
    idp: str  # the issuer that vouched for the person, or "local"


async def exchange_token(
    session: AsyncSession,
    *,
    client_id: str,
    client_secret: str,
    subject_token: str,
    subject_token_type: str,
    requested_scopes: list[str] | None,
    issuer: TokenIssuer,
    verifier: TokenVerifier,
    oidc: OidcProvider | None,
    cache: VerifiedSecretCache,
    settings: ExchangeSettings,
    now: float | None = None,
) -> TokenResponse:
    console = await authenticate_client(
        session, client_id=client_id, client_secret=client_secret, cache=cache
    )
    if client_id != CONSOLE_CLIENT_ID:
        raise unauthorized_client("only the console may exchange a person's identity for a token")
    moment = time.time() if now is None else now
    subject = await _subject(
        subject_token,
        subject_token_type,
        console_secret=client_secret,
        verifier=verifier,
        oidc=oidc,
        settings=settings,
    )
    person = subject.person
    if person.role not in ROLES:
        raise refused(f"unknown role {person.role!r}: a person acts as one of {', '.join(ROLES)}")
    agency = (
        await session.execute(
            sa.select(col(Agency.disabled), col(Agency.token_generation)).where(
                col(Agency.code) == person.agency
            )
        )
    ).first()
    if agency is None:
        raise refused(f"unknown agency {person.agency!r}")
    if agency.disabled:
        raise refused(f"agency {person.agency} is disabled")
    if person.role == "operator" and person.agency != HUB_AGENCY:
        raise refused(f"only people of {HUB_AGENCY} may act as operators")
    session_left = person.auth_time + settings.console_session_max_seconds - moment
    if session_left <= 0:
        raise refused("the sign-in is too old; sign in again")
    granted = set(ROLE_SCOPES[person.role])
    if requested_scopes:
        extra = set(requested_scopes) - granted
        if extra:
            raise Problem(
                ProblemCode.INVALID_SCOPE,
                f"the role {person.role} may not request: {', '.join(sorted(extra))}",
                error="invalid_scope",
            )
        granted = set(requested_scopes)
    # Never beyond the end of the sign-in: renewal stops there too.
    ttl = max(1, min(settings.person_token_ttl_seconds, int(session_left)))
    token = issuer.issue(
        person.agency,
        granted,
        ttl_seconds=ttl,
        client_id=CONSOLE_CLIENT_ID,
        client_generation=console.token_generation,
        agency_generation=agency.token_generation,
        person=person,
        now=moment,
    )
    await audit.append(
        session,
        # Who acted is the person's stable id, never their name (names change, and are
        # personal data the chain would keep forever).
        actor=f"{person.agency}/{person.person}",
        action="token.exchanged",
        agency=person.agency,
        details={
            "client_id": CONSOLE_CLIENT_ID,
            "role": person.role,
            "scopes": sorted(granted),
            "idp": subject.idp,
            "subject_token_type": subject_token_type,
        },
    )
    return TokenResponse(
        access_token=token,
        expires_in=ttl,
        scope=" ".join(sorted(granted)),
        issued_token_type=ACCESS_TOKEN_TYPE,
    )


async def _subject(
    token: str,
    token_type: str,
    *,
    console_secret: str,
    verifier: TokenVerifier,
    oidc: OidcProvider | None,
    settings: ExchangeSettings,
) -> Subject:
    if token_type == LOCAL_PERSON_TOKEN_TYPE:
        return Subject(_local_person(token, console_secret, settings), LOCAL_IDP)
    if token_type == ID_TOKEN_TYPE:
        if oidc is None or not settings.console_oidc_issuer:
            raise refused("single sign-on is not configured (GOVHUB_CONSOLE_OIDC_ISSUER)")
        return Subject(await _oidc_person(token, oidc, settings), oidc.issuer)
    if token_type == ACCESS_TOKEN_TYPE:
        person = _renewed_person(token, verifier)
        idp = LOCAL_IDP if person.person.startswith("local:") else settings.console_oidc_issuer
        return Subject(person, idp or "oidc")
    # The route checks the type first; this is a guard.
    raise refused(f"unsupported subject_token_type {token_type!r}")


def _local_person(token: str, secret: str, settings: ExchangeSettings) -> PersonClaims:
    if not settings.console_local_accounts:
        raise refused("local accounts are turned off (GOVHUB_CONSOLE_LOCAL_ACCOUNTS=false)")
    try:
        return decode_local_assertion(token, secret)
    except jwt.ExpiredSignatureError:
        raise SubjectRefused("the local person assertion has expired") from None
    except jwt.InvalidAudienceError:
        raise SubjectRefused("the local person assertion is for another audience") from None
    except jwt.InvalidSignatureError:
        raise SubjectRefused("the local person assertion is forged (bad signature)") from None
    except jwt.InvalidTokenError as exc:
        raise SubjectRefused(f"the local person assertion is not valid: {exc}") from None
    except (KeyError, TypeError, ValueError) as exc:
        raise SubjectRefused(f"the local person assertion lacks a claim: {exc}") from None


async def _oidc_person(token: str, oidc: OidcProvider, settings: ExchangeSettings) -> PersonClaims:
    try:
        claims = await oidc.verify(token, audience=settings.console_oidc_client_id)
    except IdTokenRefused as exc:
        raise SubjectRefused(str(exc)) from None
    except ProviderUnreachable as exc:
        raise Problem(
            ProblemCode.IDENTITY_PROVIDER_UNAVAILABLE,
            f"the identity provider could not be reached: {exc}",
            headers={"Retry-After": "5"},
        ) from None
    agency = claim_at(claims, settings.console_oidc_agency_claim)
    if not isinstance(agency, str) or not agency:
        raise refused(
            f"the ID token names no agency (claim {settings.console_oidc_agency_claim!r})"
        )
    role = first_role(claim_at(claims, settings.console_oidc_role_claim))
    if role is None:
        raise refused(
            f"the ID token names no role of {', '.join(ROLES)} "
            f"(claim {settings.console_oidc_role_claim!r})"
        )
    subject = str(claims["sub"])
    name = claim_at(claims, settings.console_oidc_name_claim)
    auth_time = claims.get("auth_time")
    return PersonClaims(
        person=oidc_person_id(subject),
        name=name if isinstance(name, str) and name else subject,
        role=role,
        auth_time=int(auth_time if isinstance(auth_time, int | float) else claims["iat"]),
        agency=agency,
    )


def _renewed_person(token: str, verifier: TokenVerifier) -> PersonClaims:
    try:
        principal = verifier.verify(token)
    except Problem as exc:  # expired, forged, revoked
        raise SubjectRefused(f"the person's access token is refused: {exc.detail}") from None
    claims: dict[str, Any] = principal.claims
    if principal.person is None or principal.client_id != CONSOLE_CLIENT_ID:
        raise SubjectRefused("the access token is not a person's token issued to the console")
    try:
        return PersonClaims(
            person=principal.person,
            name=str(claims.get(PERSON_NAME_CLAIM) or principal.person),
            role=str(claims[ROLE_CLAIM]),
            auth_time=int(claims[AUTH_TIME_CLAIM]),
            agency=principal.agency,
        )
    except (KeyError, TypeError, ValueError):
        raise SubjectRefused("the person's access token lacks its role or auth_time") from None
