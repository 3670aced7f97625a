"""The log in segments (docs/exchange.md, "The log's layout"): exchange.records becomes a
table partitioned by range of (topic, seq), each partition a segment of one topic's log, so a
topic's records lie together however many other topics write beside them, a feed read
touches only the segments after its cursor, and old segments can leave the log whole.

A record's JSON is stored once: the envelope text written beside its data since 0007 is
rebuilt from the record's columns (exchange.record_envelope), and its content hash is kept
only for each record's newest version, in exchange.record_heads, which now decides
duplicates and keeps versions dense (no unique index can span the segments; the topic's row
lock, held by append_batch, orders appends).

Existing logs are moved: segments are made for every topic's seq range, the rows copied
set-based (about a minute per 3 million rows), the heads filled from the newest versions.

Revision ID: 0013
Revises: 0012
"""

import importlib.util
from pathlib import Path

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

STRUCTURE = """
CREATE TABLE exchange.record_heads (
    topic_code text NOT NULL,
    record_id text NOT NULL,
    version integer NOT NULL,
    content_hash bytea NOT NULL,
    first_seq bigint NOT NULL,
    seq bigint NOT NULL,
    PRIMARY KEY (topic_code, record_id)
);
ALTER TABLE exchange.topics
    ADD COLUMN segment_records bigint NOT NULL DEFAULT 1000000,
    ADD COLUMN segment_end bigint NOT NULL DEFAULT 1;
CREATE TABLE exchange.log_segments (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    topic_code text NOT NULL,
    first_seq bigint NOT NULL,
    end_seq bigint NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (topic_code, first_seq)
);
ALTER TABLE exchange.records RENAME TO records_unsegmented;
ALTER INDEX exchange.records_pkey RENAME TO records_unsegmented_pkey;
ALTER INDEX exchange.records_record_version RENAME TO records_unsegmented_record_version;
CREATE TABLE exchange.records (
    topic_code text NOT NULL,
    seq bigint NOT NULL,
    record_id text NOT NULL,
    version integer NOT NULL,
    topic_version integer NOT NULL,
    business_time timestamptz,
    published_at timestamptz NOT NULL,
    publisher text NOT NULL,
    data jsonb NOT NULL,
    PRIMARY KEY (topic_code, seq)
) PARTITION BY RANGE (topic_code, seq)
"""

# Where lz4 is built in (as migration 0003): the segments copy it with the columns.
LZ4 = """
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_settings
               WHERE name = 'default_toast_compression' AND 'lz4' = ANY(enumvals)) THEN
        ALTER TABLE exchange.records ALTER COLUMN data SET COMPRESSION lz4;
    END IF;
END
$$
"""

# A time as orjson writes a UTC one (the envelope's times were written by it): seconds,
# then microseconds only when there are some (one to_char: the cheaper way).
JSON_TIME = """
CREATE FUNCTION exchange.json_time(t timestamptz) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $$
SELECT CASE WHEN t IS NULL THEN 'null' ELSE
    '"' || replace(to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US'), '.000000', '')
    || '+00:00"' END
$$
"""

# A record's JSON as feeds, webhooks and events show it but for its seq and data, up to
# `"data":` (what records.envelope held until this migration).
RECORD_ENVELOPE = """
CREATE FUNCTION exchange.record_envelope(record_id text, version integer,
    topic_version integer, business_time timestamptz, published_at timestamptz)
RETURNS text LANGUAGE sql STABLE PARALLEL SAFE AS $$
SELECT '"record_id":' || to_json(record_id)::text || ',"version":' || version
    || ',"topic_version":' || topic_version
    || ',"business_time":' || exchange.json_time(business_time)
    || ',"published_at":' || exchange.json_time(published_at) || ',"data":'
$$
"""

# The segments a topic's log needs to hold seq p_upto: each the topic's segment_records
# long, made as a plain table and attached (which takes a lighter lock on exchange.records
# than CREATE TABLE ... PARTITION OF: reads and appends of other topics go on). It runs
# with its owner's rights (the migrating role's): the application's role owns no table
# and may not create one (govhub_common.roles), and gains only this.
ADD_SEGMENTS = """
CREATE FUNCTION exchange.add_segments(p_topic text, p_upto bigint) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
    v_start bigint;
    v_size bigint;
    v_id bigint;
    v_added integer := 0;
BEGIN
    SELECT segment_end, segment_records INTO v_start, v_size
    FROM exchange.topics WHERE code = p_topic;
    IF v_start IS NULL THEN
        RAISE EXCEPTION 'no topic %', p_topic;
    END IF;
    WHILE v_start <= p_upto LOOP
        INSERT INTO exchange.log_segments (topic_code, first_seq, end_seq)
        VALUES (p_topic, v_start, v_start + v_size) RETURNING id INTO v_id;
        EXECUTE format('CREATE TABLE exchange.records_%s (LIKE exchange.records '
                       'INCLUDING DEFAULTS INCLUDING COMPRESSION INCLUDING STORAGE)', v_id);
        EXECUTE format('ALTER TABLE exchange.records ATTACH PARTITION exchange.records_%s '
                       'FOR VALUES FROM (%L, %s) TO (%L, %s)',
                       v_id, p_topic, v_start, p_topic, v_start + v_size);
        v_start := v_start + v_size;
        v_added := v_added + 1;
    END LOOP;
    UPDATE exchange.topics SET segment_end = v_start WHERE code = p_topic;
    RETURN v_added;
END
$fn$
"""

MOVE = """
SELECT exchange.add_segments(t.code, t.head_seq) FROM exchange.topics t WHERE t.head_seq > 0;
INSERT INTO exchange.records (topic_code, seq, record_id, version, topic_version,
    business_time, published_at, publisher, data)
SELECT topic_code, seq, record_id, version, topic_version, business_time, published_at,
    publisher, data
FROM exchange.records_unsegmented;
INSERT INTO exchange.record_heads (topic_code, record_id, version, content_hash, first_seq, seq)
SELECT topic_code, record_id, max(version), (array_agg(content_hash ORDER BY version DESC))[1],
    min(seq), max(seq)
FROM exchange.records_unsegmented GROUP BY topic_code, record_id;
DROP TABLE exchange.records_unsegmented
"""

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
    v_day date := (p_arrived_at AT TIME ZONE 'Asia/Shanghai')::date;
    v_dups integer := coalesce(cardinality(p_dup_ids), 0);
    v_rejected integer := coalesce(cardinality(p_q_index), 0);
BEGIN
    IF n > 0 THEN
        SELECT head_seq, segment_end INTO head, v_segment_end FROM exchange.topics
        WHERE code = p_topic FOR NO KEY UPDATE;
        IF head <> p_seen_head AND EXISTS (
            SELECT 1 FROM exchange.record_heads h
            WHERE h.topic_code = p_topic AND h.seq > p_seen_head
              AND (h.record_id = ANY(p_record_ids) OR h.record_id = ANY(p_dup_ids))
        ) THEN
            RETURN NULL;
        END IF;
        first := head + 1;
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
        -- Each record's newest version (a batch may carry several versions of a record,
        -- in order), and where its first version lies for a new one.
        INSERT INTO exchange.record_heads AS h (topic_code, record_id, version, content_hash,
            first_seq, seq)
        SELECT p_topic, u.record_id, max(u.version), (array_agg(u.hash ORDER BY u.i DESC))[1],
            first + min(u.i) - 1, first + max(u.i) - 1
        FROM unnest(p_record_ids, p_versions, p_hashes) WITH ORDINALITY
            AS u(record_id, version, hash, i)
        GROUP BY u.record_id
        ON CONFLICT (topic_code, record_id) DO UPDATE SET version = excluded.version,
            content_hash = excluded.content_hash, seq = excluded.seq;
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


def _statements(text: str) -> list[str]:
    return [statement for statement in text.split(";\n") if statement.strip()]


def upgrade() -> None:
    for statement in _statements(STRUCTURE):
        op.execute(statement)
    op.execute(LZ4)
    op.execute(JSON_TIME)
    op.execute(RECORD_ENVELOPE)
    op.execute(ADD_SEGMENTS)
    for statement in _statements(MOVE):
        op.execute(statement)
    op.execute(APPEND_BATCH)


def downgrade() -> None:
    """Back to one table with the envelope and every version's hash: a version's hash is
    its head's where it is the newest, else its data's (only the newest is ever compared)."""
    op.execute(
        "CREATE TABLE exchange.records_unsegmented (topic_code text NOT NULL, seq bigint NOT NULL, "
        "record_id text NOT NULL, version integer NOT NULL, topic_version integer NOT NULL, "
        "content_hash bytea NOT NULL, business_time timestamptz, published_at timestamptz NOT NULL, "
        "publisher text NOT NULL, data jsonb NOT NULL, envelope text NOT NULL, "
        "PRIMARY KEY (topic_code, seq))"
    )
    op.execute(
        "INSERT INTO exchange.records_unsegmented SELECT r.topic_code, r.seq, r.record_id, "
        "r.version, r.topic_version, coalesce(h.content_hash, sha256(convert_to(r.data::text, 'UTF8'))), "
        "r.business_time, r.published_at, r.publisher, r.data, exchange.record_envelope(r.record_id, "
        "r.version, r.topic_version, r.business_time, r.published_at) "
        "FROM exchange.records r LEFT JOIN exchange.record_heads h "
        "ON h.topic_code = r.topic_code AND h.record_id = r.record_id AND h.seq = r.seq"
    )
    op.execute("DROP TABLE exchange.records")
    op.execute("ALTER TABLE exchange.records_unsegmented RENAME TO records")
    op.execute("ALTER INDEX exchange.records_unsegmented_pkey RENAME TO records_pkey")
    op.execute(
        "CREATE UNIQUE INDEX records_record_version ON exchange.records "
        "(topic_code, record_id, version)"
    )
    op.execute(LZ4)
    op.execute(
        "DROP FUNCTION exchange.append_batch(text, text, uuid, bigint, timestamptz, text[], "
        "integer[], integer[], bytea[], timestamptz[], text[], text[], uuid, text, text, text, "
        "text, text, text, text[], integer[], integer[], integer[], text[], text[], text[], "
        "timestamptz, integer[], integer[], integer, integer, text[], integer[], text[], text[], "
        "integer[])"
    )
    spec = importlib.util.spec_from_file_location(
        "quality_figures_0012", Path(__file__).with_name("0012_quality_figures.py")
    )
    assert spec is not None and spec.loader is not None
    previous = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(previous)
    op.execute(previous.APPEND_BATCH)
    op.execute("DROP FUNCTION exchange.add_segments(text, bigint)")
    op.execute(
        "DROP FUNCTION exchange.record_envelope(text, integer, integer, timestamptz, timestamptz)"
    )
    op.execute("DROP FUNCTION exchange.json_time(timestamptz)")
    op.execute("DROP TABLE exchange.log_segments")
    op.execute("ALTER TABLE exchange.topics DROP COLUMN segment_records, DROP COLUMN segment_end")
    op.execute("DROP TABLE exchange.record_heads")
