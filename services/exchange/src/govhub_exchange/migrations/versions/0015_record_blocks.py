"""Old records in compressed blocks (docs/exchange.md, "Blocks: the log's old records
compressed"): a record's row holds about 350 bytes of JSON, too little for PostgreSQL to
compress (it tries only rows over about 2 kB), and a log of similar records repeats most of
its bytes from record to record. Log maintenance therefore moves the records published more
than GOVHUB_LOG_COMPRESS_AFTER_HOURS ago into exchange.record_blocks: one row per (up to)
1,000 consecutive records of one segment, each column an array that PostgreSQL compresses
(lz4 where it is built in), as TimescaleDB compresses old chunks and Kafka stores batches.

Every read of the log goes through exchange.log_range and exchange.log_page, which read the
blocks and the rows alike, so where a record is stored changes nothing a reader sees. A
segment leaving the log takes its blocks with it (exchange.drop_segment, replaced here).

Revision ID: 0015
Revises: 0014
"""

import importlib.util
from pathlib import Path

from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

# A block never spans more than BLOCK_RECORDS seqs (the reads below rely on it to bound
# their index scans) nor two segments, and holds every seq from first_seq to last_seq (a
# topic's live log has no gaps), record i at first_seq + i - 1.
BLOCK_RECORDS = 1000

STRUCTURE = f"""
CREATE TABLE exchange.record_blocks (
    topic_code text NOT NULL,
    last_seq bigint NOT NULL,
    first_seq bigint NOT NULL,
    record_ids text[] NOT NULL,
    versions integer[] NOT NULL,
    topic_versions integer[] NOT NULL,
    business_times timestamptz[] NOT NULL,
    published_ats timestamptz[] NOT NULL,
    publishers text[] NOT NULL,
    data jsonb[] NOT NULL,
    PRIMARY KEY (topic_code, last_seq),
    CONSTRAINT record_blocks_dense CHECK (
        last_seq - first_seq < {BLOCK_RECORDS}
        AND cardinality(record_ids) = last_seq - first_seq + 1
        AND cardinality(data) = last_seq - first_seq + 1)
)
"""

LZ4 = """
DO $$
DECLARE
    c text;
BEGIN
    IF EXISTS (SELECT 1 FROM pg_settings
               WHERE name = 'default_toast_compression' AND 'lz4' = ANY(enumvals)) THEN
        FOREACH c IN ARRAY ARRAY['record_ids', 'business_times', 'published_ats', 'publishers',
                                 'data'] LOOP
            EXECUTE format('ALTER TABLE exchange.record_blocks ALTER COLUMN %I '
                           'SET COMPRESSION lz4', c);
        END LOOP;
    END IF;
END
$$
"""

# A block's records as rows of exchange.records.
_UNNESTED = """
    SELECT b.topic_code, b.first_seq + u.i - 1 AS seq, u.record_id, u.version,
        u.topic_version, u.business_time, u.published_at, u.publisher, u.data
    FROM {blocks} b
    CROSS JOIN LATERAL unnest(b.record_ids, b.versions, b.topic_versions, b.business_times,
        b.published_ats, b.publishers, b.data)
        WITH ORDINALITY AS u(record_id, version, topic_version, business_time, published_at,
                             publisher, data, i)
"""

# The records of a topic with p_from <= seq < p_to, in seq order, from the blocks and the
# rows. The blocks' index scan is bounded on both sides (a block is at most BLOCK_RECORDS
# long); least() keeps the bound from overflowing at the greatest seqs (2^62 - 1: no log
# gets near it, and a page's limit added stays in bigint).
LOG_RANGE = f"""
CREATE FUNCTION exchange.log_range(p_topic text, p_from bigint, p_to bigint)
RETURNS SETOF exchange.records LANGUAGE sql STABLE PARALLEL SAFE AS $$
SELECT * FROM (
    {_UNNESTED.format(blocks="exchange.record_blocks")}
    WHERE b.topic_code = p_topic AND b.last_seq >= p_from
      AND b.last_seq < least(p_to, 4611686018427387903) + {BLOCK_RECORDS}
      AND b.first_seq < p_to
      AND b.first_seq + u.i - 1 >= p_from AND b.first_seq + u.i - 1 < p_to
    UNION ALL
    SELECT * FROM exchange.records r
    WHERE r.topic_code = p_topic AND r.seq >= p_from AND r.seq < p_to
) x ORDER BY seq
$$
"""

# A feed page: the records after p_after, at most p_limit, in seq order. A topic's live
# log holds every seq from its start to its head, so these are the seqs up to
# p_after + p_limit (written `seq - p_limit <= p_after`: the sum overflows at the greatest
# cursor).
LOG_PAGE = f"""
CREATE FUNCTION exchange.log_page(p_topic text, p_after bigint, p_limit integer)
RETURNS SETOF exchange.records LANGUAGE sql STABLE PARALLEL SAFE AS $$
SELECT * FROM (
    {_UNNESTED.format(blocks="exchange.record_blocks")}
    WHERE b.topic_code = p_topic AND b.last_seq > p_after
      AND b.last_seq <= least(p_after, 4611686018427387903) + p_limit + {BLOCK_RECORDS}
      AND b.first_seq - p_limit <= p_after
      AND b.first_seq + u.i - 1 > p_after AND b.first_seq + u.i - 1 - p_limit <= p_after
    UNION ALL
    SELECT * FROM exchange.records r
    WHERE r.topic_code = p_topic AND r.seq > p_after AND r.seq - p_limit <= p_after
) x ORDER BY seq
$$
"""

# Every record of the log, wherever stored: for an operator's ad-hoc queries and the
# benches (it unpacks every block a query touches; the hub reads through the functions).
LOG_VIEW = f"""
CREATE VIEW exchange.log AS
SELECT * FROM exchange.records
UNION ALL
{_UNNESTED.format(blocks="exchange.record_blocks")}
"""

# Moves a topic's oldest records into blocks and returns how many it moved: 0 when none is
# ready. One call takes one segment's run of rows from its oldest, at most p_max_records
# (the caller commits between calls), cut into blocks of BLOCK_RECORDS from there. Of the
# records published before p_before, whole blocks go, and so does the run's end when it
# reaches its segment's end (a closed segment) or its first record was published before
# p_partial_before (a topic that publishes little does not wait for a thousand). Appends
# never touch the seqs moved (they write after the head), so only the topic's other
# compressions are kept out (an advisory lock: a replica busy with it is skipped).
COMPRESS = f"""
CREATE FUNCTION exchange.compress_records(p_topic text, p_before timestamptz,
    p_partial_before timestamptz, p_max_records integer) RETURNS integer
LANGUAGE plpgsql AS $fn$
DECLARE
    v_share bigint := greatest(p_max_records / {BLOCK_RECORDS}, 1) * {BLOCK_RECORDS};
    v_from bigint;
    v_first_at timestamptz;
    v_segment_end bigint;
    v_upto bigint;
    v_last bigint;
    v_moved integer;
BEGIN
    IF NOT pg_try_advisory_xact_lock(hashtext('govhub-compress-records'), hashtext(p_topic)) THEN
        RETURN 0;
    END IF;
    -- The oldest row first: while it is too young (the usual case), that is one probe.
    SELECT seq, published_at INTO v_from, v_first_at FROM exchange.records
    WHERE topic_code = p_topic ORDER BY seq LIMIT 1;
    IF v_from IS NULL OR v_first_at >= p_before THEN
        RETURN 0;
    END IF;
    SELECT end_seq INTO v_segment_end FROM exchange.log_segments
    WHERE topic_code = p_topic AND first_seq <= v_from AND end_seq > v_from;
    -- The newest record old enough, in this segment and share (publish times grow with
    -- seqs: appends are ordered by the topic's lock).
    SELECT max(seq) INTO v_upto FROM exchange.records
    WHERE topic_code = p_topic AND seq >= v_from AND seq < least(v_segment_end, v_from + v_share)
      AND published_at < p_before;
    v_last := v_from + (v_upto - v_from + 1) / {BLOCK_RECORDS} * {BLOCK_RECORDS} - 1;
    IF v_last < v_upto AND (v_upto = v_segment_end - 1
            OR (SELECT published_at FROM exchange.records
                WHERE topic_code = p_topic AND seq = v_last + 1) < p_partial_before) THEN
        v_last := v_upto;
    END IF;
    IF v_last < v_from THEN
        RETURN 0;
    END IF;
    WITH moved AS (
        DELETE FROM exchange.records
        WHERE topic_code = p_topic AND seq >= v_from AND seq <= v_last
        RETURNING *
    ), blocks AS (
        INSERT INTO exchange.record_blocks (topic_code, last_seq, first_seq, record_ids,
            versions, topic_versions, business_times, published_ats, publishers, data)
        SELECT p_topic, max(seq), min(seq), array_agg(record_id ORDER BY seq),
            array_agg(version ORDER BY seq), array_agg(topic_version ORDER BY seq),
            array_agg(business_time ORDER BY seq), array_agg(published_at ORDER BY seq),
            array_agg(publisher ORDER BY seq), array_agg(data ORDER BY seq)
        FROM moved GROUP BY (seq - v_from) / {BLOCK_RECORDS}
        RETURNING cardinality(record_ids) AS n
    )
    SELECT coalesce(sum(n), 0) INTO v_moved FROM blocks;
    RETURN v_moved;
END
$fn$
"""

# As 0014's, but counting, timing and removing the segment's blocks with its rows.
DROP_SEGMENT = """
CREATE OR REPLACE FUNCTION exchange.drop_segment(p_id bigint, p_file text, p_sha256 text,
    p_records bigint, p_archived_at timestamptz) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
-- The segment's records are in its archive file (p_records of them): its partition is
-- dropped whole (no row is deleted), its blocks (one row per thousand records) deleted,
-- and the topic's live log starts after it. Only the oldest live segment of a topic,
-- closed and complete, can go, so the live log stays one unbroken range of seqs.
DECLARE
    v record;
    v_times record;
BEGIN
    SELECT s.topic_code, s.first_seq, s.end_seq, s.archived_at, t.head_seq, t.log_start_seq
    INTO v FROM exchange.log_segments s JOIN exchange.topics t ON t.code = s.topic_code
    WHERE s.id = p_id FOR NO KEY UPDATE OF t;
    IF NOT FOUND OR v.archived_at IS NOT NULL OR v.first_seq <> v.log_start_seq
       OR v.end_seq > v.head_seq + 1 THEN
        RAISE EXCEPTION 'segment % is not the oldest closed segment of its live log', p_id;
    END IF;
    SELECT count(*) AS count, min(published_at) AS min, max(published_at) AS max
    INTO v_times FROM exchange.log_range(v.topic_code, v.first_seq, v.end_seq);
    IF v_times.count <> p_records THEN
        RAISE EXCEPTION 'segment % holds % records, its archive %', p_id, v_times.count,
            p_records;
    END IF;
    EXECUTE format('DROP TABLE exchange.records_%s', p_id);
    DELETE FROM exchange.record_blocks
    WHERE topic_code = v.topic_code AND last_seq >= v.first_seq AND last_seq < v.end_seq;
    UPDATE exchange.log_segments SET records = p_records, archived_at = p_archived_at,
        archive_file = p_file, archive_sha256 = p_sha256, kept_until = NULL,
        first_published_at = v_times.min, last_published_at = v_times.max
    WHERE id = p_id;
    UPDATE exchange.topics SET log_start_seq = v.end_seq WHERE code = v.topic_code;
END
$fn$
"""

# Blocks back into rows, for the downgrade.
UNCOMPRESS = f"""
INSERT INTO exchange.records
{_UNNESTED.format(blocks="exchange.record_blocks")}
"""


def upgrade() -> None:
    for statement in (STRUCTURE, LZ4, LOG_RANGE, LOG_PAGE, LOG_VIEW, COMPRESS, DROP_SEGMENT):
        op.execute(statement)


def downgrade() -> None:
    spec = importlib.util.spec_from_file_location(
        "retention_archive_0014", Path(__file__).with_name("0014_retention_archive.py")
    )
    assert spec is not None and spec.loader is not None
    previous = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(previous)
    for statement in (
        previous.DROP_SEGMENT.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1),
        UNCOMPRESS,
        "DROP FUNCTION exchange.compress_records(text, timestamptz, timestamptz, integer)",
        "DROP VIEW exchange.log",
        "DROP FUNCTION exchange.log_page(text, bigint, integer)",
        "DROP FUNCTION exchange.log_range(text, bigint, bigint)",
        "DROP TABLE exchange.record_blocks",
    ):
        op.execute(statement)
