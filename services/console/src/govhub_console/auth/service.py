"""Sessions: server-side rows keyed by the SHA-256 of the cookie's random value, ending
after an idle time and at most GOVHUB_CONSOLE_SESSION_MAX_SECONDS after sign-in. Each holds
the person's short-lived access token, renewed at 60% of its lifetime.

Sessions follow the wall clock, never the hub's business clock: a simulation moves that one
by years."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from govhub_common.db import Database
from govhub_common.persons import PersonClaims
from govhub_console.auth.models import ConsoleSession, PendingLogin
from govhub_console.hub_api import HubApi, PersonToken, TokenRefused, renewal_due
from govhub_console.security import new_secret, token_hash
from govhub_console.settings import ConsoleSettings

# Unused sessions are not written to on every page: seen_at moves at most this often.
SEEN_RESOLUTION = timedelta(seconds=15)


def wall_now() -> datetime:
    return datetime.now(UTC)


class SignedOut(Exception):
    """The session is gone (expired, ended, or its token could not be renewed)."""


async def open_session(
    session: AsyncSession,
    *,
    person: PersonClaims,
    token: PersonToken,
    locale: str,
    settings: ConsoleSettings,
    now: datetime,
    id_token: str | None = None,
) -> tuple[str, ConsoleSession]:
    """A new session for a person just signed in: the cookie value (only ever in the
    cookie) and the row. `id_token`: the identity provider's, for its logout."""
    value = new_secret()
    auth_time = datetime.fromtimestamp(person.auth_time, UTC)
    row = ConsoleSession(
        id_hash=token_hash(value),
        person=person.person,
        person_name=person.name,
        agency=person.agency,
        role=person.role,
        locale=locale,
        csrf=new_secret(),
        person_token=token.access_token,
        token_expires_at=token.expires_at,
        auth_time=auth_time,
        seen_at=now,
        expires_at=auth_time + timedelta(seconds=settings.console_session_max_seconds),
        id_token=id_token,
    )
    session.add(row)
    await session.flush()
    return value, row


def expired(row: ConsoleSession, settings: ConsoleSettings, now: datetime) -> bool:
    idle = timedelta(seconds=settings.console_session_idle_seconds)
    return now >= row.expires_at or now >= row.seen_at + idle


async def find_session(
    db: Database, value: str | None, settings: ConsoleSettings, now: datetime
) -> ConsoleSession | None:
    """The live session of a cookie's value; an expired one is deleted on the way."""
    if not value:
        return None
    async with db.session() as session:
        row = await session.get(ConsoleSession, token_hash(value))
        if row is None:
            return None
        if expired(row, settings, now):
            await session.delete(row)
            return None
        if now - row.seen_at >= SEEN_RESOLUTION:
            row.seen_at = now
    return row


async def close_session(session: AsyncSession, *, id_hash: str) -> None:
    await session.execute(sa.delete(ConsoleSession).where(col(ConsoleSession.id_hash) == id_hash))


async def end_sessions_of(session: AsyncSession, *, person: str) -> None:
    await session.execute(sa.delete(ConsoleSession).where(col(ConsoleSession.person) == person))


async def set_locale(session: AsyncSession, *, id_hash: str, locale: str) -> None:
    await session.execute(
        sa.update(ConsoleSession)
        .where(col(ConsoleSession.id_hash) == id_hash)
        .values(locale=locale)
    )


async def _renew(db: Database, row: ConsoleSession, api: HubApi) -> None:
    """A fresh person token from the one the session holds; none (refused, or past the
    session's maximum): the session ends."""
    try:
        token = await api.renew(row.person_token)
    except TokenRefused as exc:
        async with db.session() as session:
            await close_session(session, id_hash=row.id_hash)
        raise SignedOut(str(exc)) from exc
    async with db.session() as session:
        await session.execute(
            sa.update(ConsoleSession)
            .where(col(ConsoleSession.id_hash) == row.id_hash)
            .values(person_token=token.access_token, token_expires_at=token.expires_at)
        )
    row.person_token = token.access_token
    row.token_expires_at = token.expires_at


async def call_api(
    db: Database, row: ConsoleSession, api: HubApi, method: str, path: str, **kwargs: Any
) -> httpx.Response:
    """Call a service's API as the signed-in person: the token is renewed when 60% of its
    lifetime has passed, and once more if the API answers 401; then the person is signed out."""
    if renewal_due(row.person_token, row.token_expires_at, wall_now()):
        await _renew(db, row, api)
    reply = await api.request(method, path, token=row.person_token, **kwargs)
    if reply.status_code == 401:
        await _renew(db, row, api)
        reply = await api.request(method, path, token=row.person_token, **kwargs)
        if reply.status_code == 401:
            async with db.session() as session:
                await close_session(session, id_hash=row.id_hash)
            raise SignedOut("the API refused the renewed token")
    return reply


async def prune_expired(db: Database, settings: ConsoleSettings, now: datetime) -> int:
    """Delete sessions past their idle or absolute expiry and stale pending sign-ins."""
    idle = timedelta(seconds=settings.console_session_idle_seconds)
    async with db.session() as session:
        gone = await session.execute(
            sa.delete(ConsoleSession).where(
                sa.or_(
                    col(ConsoleSession.expires_at) <= now, col(ConsoleSession.seen_at) <= now - idle
                )
            )
        )
        await session.execute(sa.delete(PendingLogin).where(col(PendingLogin.expires_at) <= now))
    return int(getattr(gone, "rowcount", 0) or 0)
