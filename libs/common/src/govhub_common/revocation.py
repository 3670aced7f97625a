"""Token revocation: a short list that every process checks beside the signature.

Access tokens are verified offline, so a change at the exchange (a rotated secret, a removed
scope, a disabled client or agency) would not reach a token issued before it. Each client
and each agency has a token generation, carried in the tokens the exchange issues
(`client_gen`, `agency_gen`; absent counts as 0); a revoking change bumps it in the same
transaction and stages an `exchange.identity.revoked` event naming the subject and its new
generation. A token whose generation is below the revoked one is refused. A token issued
after the change carries the new generation, so it works at once, even in the same second.

Every service keeps the revocations in a table of its own schema (its consumer group writes
them), and every process reloads its services' tables every few moments, so each replica
learns a revocation whichever replica's consumer took the event. An entry is kept until
every token it can refuse has expired (`expires_at`), then pruned.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from govhub_common.event_contracts import BrokenContract, read_batch
from govhub_common.event_contracts.exchange import IdentityRevoked, Revocation, RevocationKind

if TYPE_CHECKING:  # security imports this module, and events imports security (via web)
    from govhub_common.db import Database
    from govhub_common.events import CloudEvent

log = logging.getLogger("govhub.revocation")

REVOKED_EVENT = "exchange.identity.revoked"
# The consumer group every service hosts: `<service>.token-revocations`.
CONSUMER_NAME = "token-revocations"
CLIENT_GENERATION_CLAIM = "client_gen"
AGENCY_GENERATION_CLAIM = "agency_gen"

Kind = RevocationKind


def revocations_table(metadata: sa.MetaData, schema: str) -> sa.Table:
    return sa.Table(
        "token_revocations",
        metadata,
        sa.Column("kind", sa.Text, primary_key=True),  # client | agency
        sa.Column("subject", sa.Text, primary_key=True),  # client id | agency code
        # Tokens of the subject with a lower generation are refused.
        sa.Column("generation", sa.BigInteger, nullable=False),
        # After this, no token the entry refuses is valid anyway: the row may go.
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        schema=schema,
    )


def create_revocation_table(op: object, schema: str) -> None:
    """For a service's migration: `create_revocation_table(op, "registry")`."""
    revocations_table(sa.MetaData(), schema).create(op.get_bind(), checkfirst=True)  # type: ignore[attr-defined]


def drop_revocation_table(op: object, schema: str) -> None:
    op.execute(f'DROP TABLE IF EXISTS "{schema}".token_revocations')  # type: ignore[attr-defined]


def revoked_event(revocations: Sequence[Revocation], *, reason: str) -> CloudEvent:
    """The event the exchange stages in the transaction of the revoking change."""
    from govhub_common.events import CloudEvent

    first = revocations[0]
    return CloudEvent(
        source="govhub/exchange",
        type=REVOKED_EVENT,
        subject=f"{first.kind}/{first.subject}",
        data=IdentityRevoked(reason=reason, revocations=list(revocations)).model_dump(mode="json"),
    )


def revocations_of(event: CloudEvent) -> list[Revocation]:
    """The event's revocations; one that breaks the contract parks the whole event (a token
    must never stay valid because its revocation was skipped)."""
    revoked = read_batch(event, IdentityRevoked, "revocations", Revocation)
    if revoked.faults:
        raise BrokenContract(f"{event.type} {event.id}: {'; '.join(revoked.faults)}")
    return revoked.items


async def store_revocations(
    session: AsyncSession, schema: str, revocations: Iterable[Revocation]
) -> None:
    """Upsert into the schema's table; an event arriving late never lowers a generation."""
    for revocation in revocations:
        await session.execute(
            sa.text(
                f"INSERT INTO {schema}.token_revocations (kind, subject, generation, expires_at) "
                "VALUES (:kind, :subject, :generation, :expires_at) "
                "ON CONFLICT (kind, subject) DO UPDATE SET "
                "generation = greatest(token_revocations.generation, EXCLUDED.generation), "
                "expires_at = greatest(token_revocations.expires_at, EXCLUDED.expires_at)"
            ),
            {
                "kind": revocation.kind,
                "subject": revocation.subject,
                "generation": revocation.generation,
                "expires_at": revocation.expires_at,
            },
        )


class RevocationList:
    """The process's in-memory copy: (kind, subject) -> (generation, expires at, epoch s).
    Checked on every request, after the verifier's cache, so a remembered token is refused
    as soon as its subject is revoked."""

    def __init__(self) -> None:
        self._entries: dict[tuple[str, str], tuple[int, float]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def add(self, revocations: Iterable[Revocation]) -> None:
        for revocation in revocations:
            key = (revocation.kind, revocation.subject)
            expires = revocation.expires_at.timestamp()
            known = self._entries.get(key)
            if known is not None:
                generation = max(known[0], revocation.generation)
                expires = max(known[1], expires)
            else:
                generation = revocation.generation
            self._entries[key] = (generation, expires)

    def prune(self, now: float | None = None) -> None:
        now = time.time() if now is None else now
        self._entries = {k: v for k, v in self._entries.items() if v[1] > now}

    def revoked(self, claims: dict[str, Any]) -> str | None:
        """Why a token with these claims is revoked, or None."""
        if not self._entries:
            return None
        client_id = claims.get("client_id")
        if client_id is not None:
            entry = self._entries.get(("client", str(client_id)))
            if entry is not None and _generation(claims, CLIENT_GENERATION_CLAIM) < entry[0]:
                return f"its client {client_id} was changed or disabled since it was issued"
        entry = self._entries.get(("agency", str(claims.get("sub"))))
        if entry is not None and _generation(claims, AGENCY_GENERATION_CLAIM) < entry[0]:
            return f"its agency {claims.get('sub')} was disabled since it was issued"
        return None


def _generation(claims: dict[str, Any], name: str) -> int:
    value = claims.get(name, 0)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


async def load_revocations(session: AsyncSession, schema: str) -> list[Revocation]:
    rows = await session.execute(
        sa.text(
            f"SELECT kind, subject, generation, expires_at FROM {schema}.token_revocations "
            "WHERE expires_at > now()"
        )
    )
    return [
        Revocation(kind=r.kind, subject=r.subject, generation=r.generation, expires_at=r.expires_at)
        for r in rows
    ]


async def refresh_forever(
    db: Database,
    schemas: Sequence[str],
    revocations: RevocationList,
    *,
    interval: float,
    prune_every: float = 60.0,
) -> None:
    """Reload the hosted services' tables every `interval` seconds (each replica learns what
    another replica's consumer stored), and delete expired rows now and then."""
    last_prune = 0.0
    while True:
        try:
            async with db.session() as session:
                for schema in schemas:
                    revocations.add(await load_revocations(session, schema))
                if time.monotonic() - last_prune > prune_every:
                    for schema in schemas:
                        await session.execute(
                            sa.text(
                                f"DELETE FROM {schema}.token_revocations WHERE expires_at < now()"
                            )
                        )
                    last_prune = time.monotonic()
            revocations.prune()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the database may be away; the list keeps what it has
            log.warning("could not refresh the token revocation list (%s)", exc)
        await asyncio.sleep(interval)
