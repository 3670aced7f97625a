"""A feed page reads its page's rows only, and a publish probes its records' heads once
(docs/exchange.md, "The log's layout").

exchange.log_page (migration 0015) bounded the rows it reads by `seq - p_limit <= p_after`,
written so to keep the sum from overflowing at the greatest cursor. PostgreSQL cannot use
that bound in the index scan: it read every row after the cursor and dropped the ones past
the page, so a page cost as much as the reader's whole backlog still in rows (a reader
40,000 records behind read 40,000 rows for a page of 1,000: 12 ms where 0.6 ms does).
The bound is now `seq <= least(p_after, 2^62 - 1) + p_limit`, as the blocks' side already
was: it stays in bigint (p_limit is an integer) and bounds the index scan.

exchange.append_batch checked, under the topic's lock, that no record of the batch had had a
version appended since the caller judged it, by a filter over every head of the topic: its
cost grew with the topic (5 to 16 ms a 1,000-record batch at 50,000 heads, 350 ms at 2
million, held under the lock that orders the topic's appends). The heads' upsert is now the check: it leaves a head
that moved since alone, and the batch is judged again when one was; duplicates are probed
by their ids.

Revision ID: 0017
Revises: 0016
"""

import importlib.util
from pathlib import Path
from types import ModuleType

from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def _migration(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name(f"{name}.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_BLOCKS = _migration("0015_record_blocks")

# A feed page: the records after p_after, at most p_limit, in seq order. A topic's live
# log holds every seq from its start to its head, so these are the seqs up to
# p_after + p_limit; least() keeps that sum in bigint at the greatest cursor (2^62 - 1:
# no log gets near it), and both sides' index scans are bounded above and below.
LOG_PAGE = f"""
CREATE OR REPLACE FUNCTION exchange.log_page(p_topic text, p_after bigint, p_limit integer)
RETURNS SETOF exchange.records LANGUAGE sql STABLE PARALLEL SAFE AS $$
SELECT * FROM (
    {_BLOCKS._UNNESTED.format(blocks="exchange.record_blocks")}
    WHERE b.topic_code = p_topic AND b.last_seq > p_after
      AND b.last_seq <= least(p_after, 4611686018427387903) + p_limit + {_BLOCKS.BLOCK_RECORDS}
      AND b.first_seq <= least(p_after, 4611686018427387903) + p_limit
      AND b.first_seq + u.i - 1 > p_after
      AND b.first_seq + u.i - 1 <= least(p_after, 4611686018427387903) + p_limit
    UNION ALL
    SELECT * FROM exchange.records r
    WHERE r.topic_code = p_topic AND r.seq > p_after
      AND r.seq <= least(p_after, 4611686018427387903) + p_limit
) x ORDER BY seq
$$
"""


# Frozen copy of publishing/append_batch.sql as of this revision.
APPEND_BATCH = """
CREATE OR REPLACE FUNCTION exchange.append_batch(
    p_topic text,
    p_publisher text,
    p_batch_id uuid,
    p_seen_head bigint,
    p_published_at timestamptz,
    -- accepted records, in order
    p_record_ids text[],
    p_versions integer[],
    p_topic_versions integer[],
    p_hashes bytea[],
    p_business_times timestamptz[],
    p_data text[],
    p_envelopes text[],
    -- the batch event: its JSON around the records array
    p_event_id uuid,
    p_event_type text,
    p_routing_key text,
    p_event_head text,
    p_event_tail text,
    p_outbox_channel text,
    p_records_channel text,
    -- records judged duplicates: their ids and the version each repeats
    p_dup_ids text[],
    p_dup_versions integer[],
    -- rejected records
    p_q_index integer[],
    p_q_line integer[],
    p_q_record_id text[],
    p_q_payload text[],
    p_q_errors text[],
    -- data-quality tallies (quality/tally.py): the business clock's time of arrival, the
    -- accepted records' delays by bucket (seconds), those without a business time and those
    -- arrived on their business date, records filling each data item, records faulty by
    -- data item and rule
    p_arrived_at timestamptz,
    p_delay_buckets integer[],
    p_delay_records integer[],
    p_undated integer,
    p_same_day integer,
    p_filled_items text[],
    p_filled_records integer[],
    p_fault_items text[],
    p_fault_rules text[],
    p_fault_records integer[]
) RETURNS bigint
LANGUAGE plpgsql AS $fn$
-- Returns the first sequence number taken (0 when nothing was accepted), or NULL, having
-- written nothing, when what was appended since p_seen_head changes the caller's judgement
-- (it then judges again and retries): a record it judged, accepted or a duplicate, has had
-- a version appended since. The topic's row lock orders appends, so record_heads, read
-- under it, is exact: its seq is that of each record's newest version.
DECLARE
    n integer := coalesce(cardinality(p_record_ids), 0);
    head bigint;
    first bigint;
    v_segment_end bigint;
    v_number integer;
    v_day date := (p_arrived_at AT TIME ZONE 'Asia/Shanghai')::date;
    v_dups integer := coalesce(cardinality(p_dup_ids), 0);
    v_rejected integer := coalesce(cardinality(p_q_index), 0);
    v_ids bigint;
    v_heads bigint;
BEGIN
    IF n > 0 THEN
        SELECT head_seq, segment_end, number INTO head, v_segment_end, v_number
        FROM exchange.topics WHERE code = p_topic FOR NO KEY UPDATE;
        -- A duplicate judged against a head that has moved since (probed record by record:
        -- a filter over the topic's heads cost as much as the topic held).
        IF head <> p_seen_head AND v_dups > 0 AND EXISTS (
            SELECT 1 FROM unnest(p_dup_ids) AS d(record_id)
            JOIN exchange.record_heads h
                ON h.topic_number = v_number AND h.record_id = d.record_id
            WHERE h.seq > p_seen_head
        ) THEN
            RETURN NULL;
        END IF;
        first := head + 1;
        -- Each record's newest version (a batch may carry several versions of a record,
        -- in order), and where its first version lies: NULL while that is the newest
        -- (migration 0016: most records have one version, and the 8 bytes are saved).
        -- A head whose seq passed p_seen_head is left as it is: a version of that record
        -- was appended since the caller judged the batch, which is then judged again
        -- (migration 0017: the upsert is the check; before it, a filter over every head of
        -- the topic, which cost as much as the topic held). The block's subtransaction
        -- undoes the heads written.
        BEGIN
            WITH latest AS MATERIALIZED (
                SELECT u.record_id, max(u.version) AS version,
                    (array_agg(u.hash ORDER BY u.i DESC))[1] AS content_hash,
                    nullif(first + min(u.i) - 1, first + max(u.i) - 1) AS first_seq,
                    first + max(u.i) - 1 AS seq
                FROM unnest(p_record_ids, p_versions, p_hashes) WITH ORDINALITY
                    AS u(record_id, version, hash, i)
                GROUP BY u.record_id
            ), written AS (
                INSERT INTO exchange.record_heads AS h (topic_number, record_id, version,
                    content_hash, first_seq, seq)
                SELECT v_number, l.record_id, l.version, l.content_hash, l.first_seq, l.seq
                FROM latest l
                ON CONFLICT (topic_number, record_id) DO UPDATE SET
                    version = excluded.version, content_hash = excluded.content_hash,
                    first_seq = coalesce(h.first_seq, h.seq), seq = excluded.seq
                WHERE h.seq <= p_seen_head
                RETURNING 1
            )
            SELECT (SELECT count(*) FROM latest), (SELECT count(*) FROM written)
            INTO v_ids, v_heads;
            IF v_heads < v_ids THEN
                RAISE EXCEPTION USING ERRCODE = 'GHJ01';  -- caught below: judged again
            END IF;
        EXCEPTION WHEN SQLSTATE 'GHJ01' THEN
            RETURN NULL;
        END;
        IF first + n > v_segment_end THEN
            PERFORM exchange.add_segments(p_topic, first + n - 1);
        END IF;
        UPDATE exchange.topics SET head_seq = head + n WHERE code = p_topic;
        INSERT INTO exchange.records (topic_code, seq, record_id, version, topic_version,
            business_time, published_at, publisher, data)
        SELECT p_topic, first + u.i - 1, u.record_id, u.version, u.topic_version,
            u.business_time, p_published_at, p_publisher, u.data::jsonb
        FROM unnest(p_record_ids, p_versions, p_topic_versions, p_business_times, p_data)
            WITH ORDINALITY AS u(record_id, version, topic_version, business_time, data, i);
        -- A delivery row per record for each webhook subscriber.
        INSERT INTO exchange.webhook_deliveries (subscription_id, seq, webhook_id)
        SELECT s.id, q.seq, 'msg_' || s.id || '_' || q.seq
        FROM exchange.subscriptions s
        CROSS JOIN generate_series(first, first + n - 1) AS q(seq)
        WHERE s.topic_code = p_topic AND s.status = 'approved' AND s.webhook_url IS NOT NULL;
        INSERT INTO exchange.outbox (event_id, type, routing_key, payload)
        SELECT p_event_id, p_event_type, p_routing_key,
            (p_event_head
             || string_agg('{"seq":' || (first + e.i - 1) || ',' || e.envelope || e.data || '}',
                           ',' ORDER BY e.i)
             || p_event_tail)::json
        FROM unnest(p_envelopes, p_data) WITH ORDINALITY AS e(envelope, data, i);
        PERFORM pg_notify(p_outbox_channel, '');
        PERFORM pg_notify(p_records_channel, p_topic);
    END IF;
    INSERT INTO exchange.quarantine (topic_code, publisher, batch_id, index, line, record_id,
        payload, errors)
    SELECT p_topic, p_publisher, p_batch_id, q.index, q.line, q.record_id, q.payload,
        q.errors::jsonb
    FROM unnest(p_q_index, p_q_line, p_q_record_id, p_q_payload, p_q_errors)
        AS q(index, line, record_id, payload, errors);
    INSERT INTO exchange.publish_batches (batch_id, topic_code, publisher, accepted,
        duplicates, rejected, first_seq, last_seq)
    VALUES (p_batch_id, p_topic, p_publisher, n, v_dups, v_rejected, first, first + n - 1);
    -- The day's figures. Rows are taken in key order, so two batches of one topic that
    -- both add to several rows (rejections only: no topic lock) cannot deadlock.
    INSERT INTO exchange.quality_days AS d (day, topic_code, publisher, received, accepted,
        new_versions, duplicates, rejected, undated, same_day)
    VALUES (v_day, p_topic, p_publisher, n + v_dups + v_rejected, n,
        (SELECT count(*) FROM unnest(p_versions) AS v(version) WHERE v.version > 1),
        v_dups, v_rejected, p_undated, p_same_day)
    ON CONFLICT (day, topic_code, publisher) DO UPDATE SET
        received = d.received + excluded.received, accepted = d.accepted + excluded.accepted,
        new_versions = d.new_versions + excluded.new_versions,
        duplicates = d.duplicates + excluded.duplicates,
        rejected = d.rejected + excluded.rejected, undated = d.undated + excluded.undated,
        same_day = d.same_day + excluded.same_day;
    INSERT INTO exchange.quality_delays AS d (day, topic_code, publisher, bucket, records)
    SELECT v_day, p_topic, p_publisher, u.bucket, u.records
    FROM unnest(p_delay_buckets, p_delay_records) AS u(bucket, records) ORDER BY u.bucket
    ON CONFLICT (day, topic_code, publisher, bucket) DO UPDATE
        SET records = d.records + excluded.records;
    INSERT INTO exchange.quality_filled AS d (day, topic_code, publisher, item, records)
    SELECT v_day, p_topic, p_publisher, u.item, u.records
    FROM unnest(p_filled_items, p_filled_records) AS u(item, records) ORDER BY u.item
    ON CONFLICT (day, topic_code, publisher, item) DO UPDATE
        SET records = d.records + excluded.records;
    INSERT INTO exchange.quality_faults AS d (day, topic_code, publisher, item, rule, records)
    SELECT v_day, p_topic, p_publisher, u.item, u.rule, u.records
    FROM unnest(p_fault_items, p_fault_rules, p_fault_records) AS u(item, rule, records)
    ORDER BY u.item, u.rule
    ON CONFLICT (day, topic_code, publisher, item, rule) DO UPDATE
        SET records = d.records + excluded.records;
    RETURN coalesce(first, 0);
END
$fn$;
"""


def upgrade() -> None:
    op.execute(LOG_PAGE)
    op.execute(APPEND_BATCH)


def downgrade() -> None:
    op.execute(_BLOCKS.LOG_PAGE.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1))
    op.execute(_migration("0016_heads_by_topic_number").APPEND_BATCH)
