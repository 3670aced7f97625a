"""Retention and archive of the log (docs/exchange.md, "Retention and archive"): open
segments closed when their first record is a month old, old records compressed into
blocks (blocks.py), segments past their topic's retention written to compressed files and
dropped whole, the problem a feed cursor before the live log gets, and segments brought
back from their files.

Partitions are changed by the owner-rights functions of migrations 0013-0014; each takes
the topic's row lock as an append does."""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url

from govhub_common.db import Database, raw_connection
from govhub_common.event_contracts.exchange import (
    LOG_ARCHIVED,
    ArchivedSegment,
    LogArchived,
    RetentionPeriod,
)
from govhub_common.events import CloudEvent
from govhub_common.outbox import add_events
from govhub_common.pagination import encode_cursor
from govhub_common.problem_codes import ProblemCode
from govhub_common.problems import Problem
from govhub_common.security import KeyPair
from govhub_exchange.archive.blocks import compress_old_records
from govhub_exchange.archive.files import (
    FORMAT,
    ArchiveWriter,
    archive_name,
    file_sha256,
    manifest_path,
    read_lines,
    read_manifest,
    write_manifest,
)
from govhub_exchange.audit import service as audit
from govhub_exchange.audit.chain import canonical_time
from govhub_exchange.settings import ExchangeSettings

log = logging.getLogger("govhub.exchange.archive")

ACTOR = "govhub-exchange"  # the audit log's actor for what maintenance does
# A partition change waits this long for the log's readers and writers, then gives up
# until the next round rather than queue every other statement behind it.
LOCK_TIMEOUT = "10s"
FETCH = 10_000  # rows a round trip when writing an archive

# A record's archive line: its feed JSON with every data item, and its publisher.
_LINES = """
SELECT convert_to('{"seq":' || seq || ',' || exchange.record_envelope(record_id, version,
    topic_version, business_time, published_at) || data::text
    || ',"publisher":' || to_json(publisher)::text || '}', 'UTF8') AS line,
    published_at
FROM exchange.log_range($1, $2, $3)
"""


def archive_dir(settings: ExchangeSettings, database_url: str) -> Path:
    """GOVHUB_ARCHIVE_DIR, or a folder per database under GOVHUB_HOME (hubs sharing a home
    for several databases, as tests do, keep theirs apart)."""
    if settings.archive_dir is not None:
        return settings.archive_dir
    return Path(settings.home) / "archive" / (make_url(database_url).database or "govhub")


@dataclass(frozen=True)
class Maintenance:
    """What one round did: topics whose open segment it closed, records it compressed per
    topic, segments it archived."""

    closed: list[str]
    compressed: dict[str, int]
    archived: list[dict[str, Any]]


async def maintain(
    db: Database,
    settings: ExchangeSettings,
    *,
    directory: Path,
    keys: KeyPair,
    checkpoint_dir: Path | None,
    now: datetime,
) -> Maintenance:
    closed = await close_old_segments(
        db, now=now, max_age=timedelta(days=settings.log_segment_max_age_days)
    )
    compressed = await compress_old_records(
        db, before=now - timedelta(hours=settings.log_compress_after_hours)
    )
    archived = []
    # One segment at a time, oldest first: the next of a topic becomes due once the one
    # before it has gone.
    while segment := await _next_due(db, now=now):
        try:
            archived.append(
                await archive_segment(
                    db, segment, directory=directory, keys=keys, checkpoint_dir=checkpoint_dir
                )
            )
        except (asyncpg.LockNotAvailableError, OSError) as exc:
            log.warning(
                "segment %s of %s not archived (%s); the next round tries again",
                segment["id"],
                segment["topic_code"],
                exc,
            )
            break
    return Maintenance(closed, compressed, archived)


async def close_old_segments(db: Database, *, now: datetime, max_age: timedelta) -> list[str]:
    """Close the open segment of each topic with a retention whose first record is older
    than max_age (a topic that keeps every record gains nothing from more segments)."""
    async with db.autocommit() as raw:
        topics = await raw.fetch(
            "SELECT t.code FROM exchange.topics t "
            "CROSS JOIN LATERAL (SELECT first_seq, end_seq FROM exchange.log_segments s "
            "WHERE s.topic_code = t.code ORDER BY first_seq DESC LIMIT 1) s "
            "WHERE t.retention_days IS NOT NULL "
            "AND t.head_seq >= s.first_seq AND t.head_seq + 1 < s.end_seq "
            "AND (SELECT r.published_at "
            "FROM exchange.log_range(t.code, s.first_seq, s.first_seq + 1) r) < $1",
            now - max_age,
        )
    closed = []
    for topic in topics:
        try:
            async with db.autocommit() as raw, raw.transaction():
                await raw.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
                if await raw.fetchval("SELECT exchange.close_segment($1)", topic["code"]):
                    closed.append(topic["code"])
        except asyncpg.LockNotAvailableError:
            log.warning(
                "segment of %s not closed (busy); the next round tries again", topic["code"]
            )
    return closed


# The oldest live segment of a topic with a retention, when it is closed, its newest
# record older than the retention, not kept after an import, every webhook delivery of it
# finished and every publish into it audited (so the checkpoint covers them).
_DUE = """
SELECT s.id, s.topic_code, s.first_seq, s.end_seq, t.retention_days, t.retention_basis
FROM exchange.topics t
JOIN exchange.log_segments s ON s.topic_code = t.code AND s.first_seq = t.log_start_seq
WHERE t.retention_days IS NOT NULL AND s.archived_at IS NULL AND s.end_seq <= t.head_seq + 1
  AND (s.kept_until IS NULL OR s.kept_until <= $1)
  AND (SELECT r.published_at FROM exchange.log_range(t.code, s.end_seq - 1, s.end_seq) r)
      < $1 - make_interval(days => t.retention_days)
  AND NOT EXISTS (SELECT 1 FROM exchange.webhook_deliveries w
                  JOIN exchange.subscriptions sub ON sub.id = w.subscription_id
                  WHERE sub.topic_code = t.code AND w.status = 'pending'
                    AND w.seq >= s.first_seq AND w.seq < s.end_seq)
  AND NOT EXISTS (SELECT 1 FROM exchange.publish_batches b
                  WHERE b.topic_code = t.code AND NOT b.audited AND b.first_seq < s.end_seq)
ORDER BY s.id LIMIT 1
"""


async def _next_due(db: Database, *, now: datetime) -> asyncpg.Record | None:
    async with db.autocommit() as raw:
        row: asyncpg.Record | None = await raw.fetchrow(_DUE, now)
        return row


async def archive_segment(
    db: Database,
    segment: asyncpg.Record,
    *,
    directory: Path,
    keys: KeyPair,
    checkpoint_dir: Path | None,
) -> dict[str, Any]:
    """Write the segment's records to their file, sign the audit head that covers their
    publication, write the manifest, then drop the segment's partition."""
    topic, first, end = segment["topic_code"], segment["first_seq"], segment["end_seq"]
    name = archive_name(topic, first, end - 1)
    writer = ArchiveWriter(directory / name)
    first_published: datetime | None = None
    last_published: datetime | None = None
    try:
        async with db.autocommit() as raw, raw.transaction(readonly=True):
            async for rows in _chunks(raw, _LINES, topic, first, end):
                await asyncio.to_thread(writer.write, [r["line"] for r in rows])
                first_published = first_published or rows[0]["published_at"]
                last_published = rows[-1]["published_at"]
        sha256, size, records = await asyncio.to_thread(writer.finish)
    except BaseException:
        await asyncio.to_thread(writer.abandon)
        raise
    async with db.session() as session:
        raw = await raw_connection(session)
        entries = await raw.fetchrow(
            "SELECT min(id) AS first, max(id) AS last, count(*) AS count "
            "FROM exchange.audit_log WHERE action = 'records.published' AND topic = $1 "
            "AND (details->>'first_seq')::bigint >= $2 AND (details->>'first_seq')::bigint < $3",
            topic,
            first,
            end,
        )
        checkpoint = await audit.sign_head(session, keys=keys, checkpoint_dir=checkpoint_dir)
    manifest = {
        "format": FORMAT,
        "topic": topic,
        "segment": segment["id"],
        "first_seq": first,
        "last_seq": end - 1,
        "records": records,
        "first_published_at": canonical_time(first_published) if first_published else None,
        "last_published_at": canonical_time(last_published) if last_published else None,
        "file": Path(name).name,
        "bytes": size,
        "sha256": sha256,
        "line": "one record a line: its feed JSON with every data item, and its publisher",
        "retention": {
            "days": segment["retention_days"],
            "legal_basis": segment["retention_basis"],
        },
        "audit": {
            # The publish entries of these records, and the signed head that covers them:
            # verify with `govhub exchange audit verify` on an export reaching it.
            "publish_entries": {
                "first": entries["first"],
                "last": entries["last"],
                "count": entries["count"],
            },
            "checkpoint": checkpoint,
        },
    }
    await asyncio.to_thread(write_manifest, manifest_path(directory / name), manifest)
    async with db.session() as session:
        raw = await raw_connection(session)
        await raw.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
        await raw.execute(
            "SELECT exchange.drop_segment($1, $2, $3, $4, now())",
            segment["id"],
            name,
            sha256,
            records,
        )
        live = await raw.fetchrow(
            "SELECT log_start_seq, now() AS at FROM exchange.topics WHERE code = $1", topic
        )
        # In the drop's transaction: the registry and alerting forget what they derived
        # from these records once, and only once they have left the live log.
        await add_events(session, "exchange", [_archived_event(segment, name, records, live)])
        await audit.append(
            session,
            actor=ACTOR,
            action="log.archived",
            topic=topic,
            details={
                "segment": segment["id"],
                "first_seq": first,
                "last_seq": end - 1,
                "records": records,
                "file": name,
                "sha256": sha256,
            },
        )
    return {
        "topic": topic,
        "first_seq": first,
        "last_seq": end - 1,
        "records": records,
        "file": name,
    }


def _archived_event(
    segment: asyncpg.Record, file: str, records: int, live: asyncpg.Record
) -> CloudEvent:
    archived = ArchivedSegment(
        topic=segment["topic_code"],
        segment=segment["id"],
        first_seq=segment["first_seq"],
        last_seq=segment["end_seq"] - 1,
        records=records,
        live_from=live["log_start_seq"],
        file=file,
        retention=RetentionPeriod(
            days=segment["retention_days"], legal_basis=segment["retention_basis"]
        ),
        archived_at=live["at"],
    )
    return CloudEvent(
        source="govhub/exchange",
        type=LOG_ARCHIVED,
        subject=f"topic/{archived.topic}",
        data=LogArchived(segments=[archived]).model_dump(mode="json"),
    )


async def _chunks(raw: Any, query: str, *args: Any) -> Any:
    """The query's rows, FETCH at a time, through a server-side cursor."""
    cursor = await raw.cursor(query, *args)
    while rows := await cursor.fetch(FETCH):
        yield rows


async def import_segments(
    db: Database,
    *,
    topic: str,
    from_seq: int,
    directory: Path,
    keep: timedelta,
    actor: str,
) -> list[dict[str, Any]]:
    """Bring back, newest first, every archived segment from the one holding from_seq up to
    the live log, each checked against its recorded SHA-256 and record count, and kept
    live for `keep`. Each segment is one transaction."""
    async with db.autocommit() as raw:
        await _known_topic(raw, topic)
        segments = await raw.fetch(
            "SELECT s.id, s.first_seq, s.end_seq, s.records, s.archive_file, s.archive_sha256 "
            "FROM exchange.log_segments s JOIN exchange.topics t ON t.code = s.topic_code "
            "WHERE s.topic_code = $1 AND s.archived_at IS NOT NULL AND s.end_seq > $2 "
            "AND s.end_seq <= t.log_start_seq ORDER BY s.first_seq DESC",
            topic,
            from_seq,
        )
    imported = []
    for segment in segments:
        path = directory / segment["archive_file"]
        digest = await asyncio.to_thread(file_sha256, path)
        if digest != segment["archive_sha256"]:
            raise ValueError(
                f"{path}: SHA-256 {digest} is not the archived segment's "
                f"{segment['archive_sha256']}"
            )
        manifest = await asyncio.to_thread(read_manifest, manifest_path(path))
        if (manifest["topic"], manifest["first_seq"], manifest["records"]) != (
            topic,
            segment["first_seq"],
            segment["records"],
        ):
            raise ValueError(f"{manifest_path(path)} does not describe segment {segment['id']}")
        async with db.session() as session:
            raw = await raw_connection(session)
            kept_until = await raw.fetchval("SELECT now() + $1::interval", keep)
            await raw.execute("SELECT exchange.restore_segment($1, $2)", segment["id"], kept_until)
            await raw.execute("CREATE TEMP TABLE archive_lines (line jsonb) ON COMMIT DROP")
            lines = read_lines(path)
            while chunk := await asyncio.to_thread(_next_lines, lines):
                await raw.copy_records_to_table("archive_lines", records=chunk)
            # PostgreSQL reads the lines: numbers keep their digits, times their
            # microseconds, exactly as the feed wrote them.
            count = await raw.fetchval(
                "WITH restored AS (INSERT INTO exchange.records (topic_code, seq, record_id, "
                "version, topic_version, business_time, published_at, publisher, data) "
                "SELECT $1, (line->>'seq')::bigint, line->>'record_id', "
                "(line->>'version')::integer, (line->>'topic_version')::integer, "
                "(line->>'business_time')::timestamptz, (line->>'published_at')::timestamptz, "
                "line->>'publisher', line->'data' FROM archive_lines RETURNING seq) "
                "SELECT count(*) FROM restored",
                topic,
            )
            if count != segment["records"]:
                raise ValueError(
                    f"{path} holds {count} records, segment {segment['id']} had "
                    f"{segment['records']}"
                )
            await audit.append(
                session,
                actor=actor,
                action="log.imported",
                topic=topic,
                details={
                    "segment": segment["id"],
                    "first_seq": segment["first_seq"],
                    "last_seq": segment["end_seq"] - 1,
                    "records": count,
                    "file": segment["archive_file"],
                },
            )
        imported.append(
            {
                "first_seq": segment["first_seq"],
                "last_seq": segment["end_seq"] - 1,
                "records": count,
                "file": segment["archive_file"],
            }
        )
    return imported


async def _known_topic(raw: Any, topic: str) -> None:
    """An operator's command names a topic the catalog has, or is told it does not."""
    if not await raw.fetchval("SELECT 1 FROM exchange.topics WHERE code = $1", topic):
        raise ValueError(f"no topic {topic!r} in the catalog")


async def segments(db: Database, *, topic: str) -> list[dict[str, Any]]:
    """A topic's segments, oldest first: their seqs, and their archive when archived."""
    async with db.autocommit() as raw:
        await _known_topic(raw, topic)
        rows = await raw.fetch(
            "SELECT id, first_seq, end_seq - 1 AS last_seq, created_at, records, archived_at, "
            "archive_file, archive_sha256, kept_until FROM exchange.log_segments "
            "WHERE topic_code = $1 ORDER BY first_seq",
            topic,
        )
    return [
        {
            key: canonical_time(value) if isinstance(value, datetime) else value
            for key, value in dict(row).items()
        }
        for row in rows
    ]


def _next_lines(lines: Iterator[bytes]) -> list[tuple[str]]:
    """The next FETCH lines of an archive, as rows of archive_lines."""
    return [(line.decode(),) for line in itertools.islice(lines, FETCH)]


async def archived_problem(raw: Any, *, topic: str, after: int, log_start: int) -> Problem:
    """410 for a cursor before the live log: which archives hold the records after it,
    where the live log starts, and how to get them back."""
    archives = await raw.fetch(
        "SELECT first_seq, end_seq - 1 AS last_seq, records, archived_at, archive_file "
        "FROM exchange.log_segments WHERE topic_code = $1 AND archived_at IS NOT NULL "
        "AND end_seq > $2 ORDER BY first_seq LIMIT 20",
        topic,
        after + 1,
    )
    return Problem(
        ProblemCode.RECORDS_ARCHIVED,
        f"records {after + 1}-{log_start - 1} of topic {topic} have left the live log for "
        f"its archive ({', '.join(a['archive_file'] for a in archives) or 'none listed'}, in "
        "the exchange's archive folder); read on from `live_from`, or ask an operator to "
        f"bring them back: govhub exchange log import {topic} --from-seq {after + 1}",
        live_from=encode_cursor(log_start - 1),
        archives=[
            {
                "first_seq": a["first_seq"],
                "last_seq": a["last_seq"],
                "records": a["records"],
                "archived_at": canonical_time(a["archived_at"]),
                "file": a["archive_file"],
            }
            for a in archives
        ],
    )
