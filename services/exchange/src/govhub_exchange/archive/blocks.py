"""Old records into compressed blocks (migration 0015; docs/exchange.md, "Blocks: the log's
old records compressed"): part of each log maintenance, topic by topic, in transactions of
at most COMPRESS_SHARE records, so that no topic's compression holds anything for long."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import asyncpg

from govhub_common.db import Database

log = logging.getLogger("govhub.exchange.archive")

COMPRESS_SHARE = 100_000  # records moved in one transaction
# A topic's last old records, fewer than a block, wait this much longer for company: a
# block of a handful gains little (PostgreSQL compresses a row over about 2 kB: six
# records or so), and a block a day of a topic that publishes a few would be just that.
PARTIAL_BLOCK_WAIT = timedelta(days=6)


async def compress_old_records(db: Database, *, before: datetime) -> dict[str, int]:
    """Move every topic's records published before `before` into blocks (whole ones, and
    the rest once PARTIAL_BLOCK_WAIT older); returns the records moved per topic (topics
    with none left out)."""
    async with db.autocommit() as raw:
        topics = [row["code"] for row in await raw.fetch("SELECT code FROM exchange.topics")]
    moved: dict[str, int] = {}
    for topic in topics:
        try:
            while True:
                async with db.autocommit() as raw:
                    n = int(
                        await raw.fetchval(
                            "SELECT exchange.compress_records($1, $2, $3, $4)",
                            topic,
                            before,
                            before - PARTIAL_BLOCK_WAIT,
                            COMPRESS_SHARE,
                        )
                    )
                if n == 0:
                    break
                moved[topic] = moved.get(topic, 0) + n
        except asyncpg.PostgresError as exc:  # the next round takes it up again
            log.warning("records of %s not compressed (%s); the next round tries again", topic, exc)
    return moved
