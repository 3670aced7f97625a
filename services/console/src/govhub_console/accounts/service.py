"""Local accounts: passwords hashed with argon2id (memory-hard, RFC 9106's low-memory
profile), verified off the event loop, locked after repeated failures."""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import argon2
import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from govhub_common.persons import ROLES, local_person_id
from govhub_console.accounts.models import Account


def password_hasher() -> PasswordHasher:
    return PasswordHasher.from_parameters(argon2.profiles.RFC_9106_LOW_MEMORY)


def generate_password() -> str:
    """Shown once to the operator who made or reset the account: 128 bits, URL-safe."""
    return secrets.token_urlsafe(16)


async def hash_password(hasher: PasswordHasher, password: str) -> str:
    return await asyncio.to_thread(hasher.hash, password)


async def _verifies(hasher: PasswordHasher, stored: str, password: str) -> bool:
    try:
        return await asyncio.to_thread(hasher.verify, stored, password)
    except (VerificationError, InvalidHashError):
        return False


class AccountError(ValueError):
    """An account command that cannot be done (the message says why)."""


@dataclass(frozen=True)
class Policy:
    max_failures: int
    lockout: timedelta


async def authenticate(
    session: AsyncSession,
    *,
    hasher: PasswordHasher,
    dummy_hash: str,
    username: str,
    password: str,
    policy: Policy,
    now: datetime,
) -> Account | None:
    """The account if `password` is its password and it may sign in now; None otherwise,
    whatever the reason (unknown, disabled, locked, wrong): every refusal costs one argon2
    verification and looks the same, so neither the answer nor its time tells which.

    The row stays locked while the password is checked: parallel guesses wait their turn
    and count, so the lockout holds."""
    account = (
        await session.execute(
            sa.select(Account).where(col(Account.username) == username).with_for_update()
        )
    ).scalar_one_or_none()
    if account is None:
        await _verifies(hasher, dummy_hash, password)
        return None
    locked = account.locked_until is not None and account.locked_until > now
    if locked or account.disabled:
        await _verifies(hasher, dummy_hash, password)
        return None
    if not await _verifies(hasher, account.password_hash, password):
        account.failed_attempts += 1
        if account.failed_attempts >= policy.max_failures:
            account.locked_until = now + policy.lockout
            account.failed_attempts = 0
        await session.flush()
        return None
    account.failed_attempts = 0
    account.locked_until = None
    if hasher.check_needs_rehash(account.password_hash):
        account.password_hash = await hash_password(hasher, password)
    await session.flush()
    return account


async def add_account(
    session: AsyncSession,
    *,
    hasher: PasswordHasher,
    username: str,
    agency: str,
    role: str,
    display_name: str | None = None,
) -> str:
    """Register a person; returns the generated password (to be shown once)."""
    if role not in ROLES:
        raise AccountError(f"unknown role {role!r}; choose one of: {', '.join(ROLES)}")
    if not username or not agency:
        raise AccountError("a username and an agency are required")
    password = generate_password()
    inserted = await session.execute(
        insert(Account)
        .values(
            username=username,
            agency=agency,
            role=role,
            display_name=display_name or username,
            password_hash=await hash_password(hasher, password),
        )
        .on_conflict_do_nothing(index_elements=["username"])
        .returning(col(Account.username))
    )
    if inserted.scalar_one_or_none() is None:
        raise AccountError(f"an account {username!r} exists already")
    return password


async def list_accounts(session: AsyncSession) -> list[Account]:
    return list(
        (await session.execute(sa.select(Account).order_by(col(Account.username)))).scalars()
    )


async def disable_account(session: AsyncSession, *, username: str) -> None:
    """The account can no longer sign in; its open sessions end now."""
    from govhub_console.auth.service import end_sessions_of

    account = await session.get(Account, username)
    if account is None:
        raise AccountError(f"no account {username!r}")
    account.disabled = True
    await end_sessions_of(session, person=local_person_id(username))


async def reset_password(session: AsyncSession, *, hasher: PasswordHasher, username: str) -> str:
    """A new generated password (shown once); the account is unlocked and enabled, and its
    open sessions end."""
    from govhub_console.auth.service import end_sessions_of

    account = await session.get(Account, username)
    if account is None:
        raise AccountError(f"no account {username!r}")
    password = generate_password()
    account.password_hash = await hash_password(hasher, password)
    account.failed_attempts = 0
    account.locked_until = None
    account.disabled = False
    await end_sessions_of(session, person=local_person_id(username))
    return password
