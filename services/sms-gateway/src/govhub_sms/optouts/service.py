"""The opt-out list: numbers that replied TD (sending/reports.py) or were added by an
operator. Plain reads and writes, through the model (optouts/models.py)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from govhub_sms.optouts.models import OptOut


async def get_opt_out(session: AsyncSession, *, recipient: str) -> OptOut | None:
    return await session.get(OptOut, recipient)


async def add_opt_out(session: AsyncSession, *, recipient: str, source: str) -> OptOut:
    """The number on the list; one already there is returned as it is (its source kept)."""
    statement = (
        insert(OptOut)
        .values(recipient=recipient, source=source)
        .on_conflict_do_nothing(index_elements=[col(OptOut.recipient)])
    )
    await session.execute(statement)
    found = await session.get(OptOut, recipient, populate_existing=True)
    assert found is not None  # inserted, or there before
    return found


async def add_opt_outs(session: AsyncSession, *, recipients: list[str], source: str) -> None:
    """Many numbers in one statement (the TD replies of a batch of inbound messages)."""
    if recipients:
        await session.execute(
            insert(OptOut)
            .values([{"recipient": r, "source": source} for r in recipients])
            .on_conflict_do_nothing(index_elements=[col(OptOut.recipient)])
        )


async def remove_opt_out(session: AsyncSession, *, recipient: str) -> bool:
    """Whether the number was on the list."""
    result = await session.execute(
        sa.delete(OptOut).where(col(OptOut.recipient) == recipient).returning(sa.literal(1))
    )
    return result.first() is not None


async def opted_out(session: AsyncSession, *, recipients: list[str]) -> set[str]:
    """Which of the numbers are on the list."""
    rows = await session.execute(
        select(OptOut.recipient).where(col(OptOut.recipient).in_(recipients))
    )
    return set(rows.scalars())
