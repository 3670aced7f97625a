"""Sessions of signed-in people and sign-ins under way (migrations 0001, 0002)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

SCHEMA = "console"


class ConsoleSession(SQLModel, table=True):
    """A signed-in person. The cookie holds a random value; only its SHA-256 is stored, so a
    copy of the table opens no session."""

    __tablename__ = "sessions"
    __table_args__ = (
        sa.Index("sessions_expiry", "expires_at"),
        sa.Index("sessions_by_person", "person"),
        {"schema": SCHEMA},
    )

    id_hash: str = Field(sa_column=sa.Column(sa.Text, primary_key=True))
    person: str = Field(sa_type=sa.Text)  # local:<username> or oidc:<sub>
    person_name: str = Field(sa_type=sa.Text)
    agency: str = Field(sa_type=sa.Text)
    role: str = Field(sa_type=sa.Text)
    locale: str = Field(sa_type=sa.Text)
    csrf: str = Field(sa_type=sa.Text)  # the synchroniser token of every form and htmx call
    person_token: str = Field(sa_type=sa.Text)  # the exchange's short-lived access token
    token_expires_at: datetime = Field(sa_type=sa.DateTime(timezone=True))
    auth_time: datetime = Field(sa_type=sa.DateTime(timezone=True))
    seen_at: datetime = Field(sa_type=sa.DateTime(timezone=True))
    expires_at: datetime = Field(sa_type=sa.DateTime(timezone=True))  # auth_time + maximum
    # A sign-in through the identity provider: its ID token, the id_token_hint of the
    # provider's logout (RP-initiated logout); None for local accounts.
    id_token: str | None = Field(default=None, sa_type=sa.Text, nullable=True)


class PendingLogin(SQLModel, table=True):
    """A sign-in through the city's identity provider between the redirect and the callback
    (authorization code with PKCE). Keyed by the SHA-256 of a random value that only the
    browser's short-lived cookie holds, so a callback completes only in the browser that
    started it; deleted at the callback (one use)."""

    __tablename__ = "pending_logins"
    __table_args__ = (sa.Index("pending_logins_expiry", "expires_at"), {"schema": SCHEMA})

    id_hash: str = Field(sa_column=sa.Column(sa.Text, primary_key=True))
    state: str = Field(sa_type=sa.Text)
    code_verifier: str = Field(sa_type=sa.Text)
    nonce: str = Field(sa_type=sa.Text)
    return_to: str = Field(sa_type=sa.Text)  # a console path (security.return_path)
    redirect_uri: str = Field(sa_type=sa.Text)  # sent again, identical, with the code
    expires_at: datetime = Field(sa_type=sa.DateTime(timezone=True))
