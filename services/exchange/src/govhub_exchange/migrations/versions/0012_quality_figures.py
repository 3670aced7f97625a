"""Data-quality figures (docs/quality.md): per day of arrival (Asia/Shanghai), topic and
publisher, what the publish path tallies (records received, accepted, new versions,
duplicates, rejected; delays from business time to arrival by bucket; records filling each
data item; faults by data item and rule), written by exchange.append_batch in the statement
that commits each batch; and the facts of other services the scorecards need, as their
events announce them (the registry's conflicts, alerting's warnings and rules), plus the
webhook attempts per day and the months whose scorecards were published.

A month's scorecard reads only that month's rows: its cost does not grow with the months
before it, and nothing passes over the exchange log again.

Revision ID: 0012
Revises: 0011
"""

import importlib.util
from pathlib import Path

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

TABLES = """
CREATE TABLE exchange.quality_days (
    day date NOT NULL,
    topic_code text NOT NULL,
    publisher text NOT NULL,
    received integer NOT NULL DEFAULT 0,
    accepted integer NOT NULL DEFAULT 0,
    new_versions integer NOT NULL DEFAULT 0,
    duplicates integer NOT NULL DEFAULT 0,
    rejected integer NOT NULL DEFAULT 0,
    undated integer NOT NULL DEFAULT 0,
    same_day integer NOT NULL DEFAULT 0,
    PRIMARY KEY (day, topic_code, publisher)
);
CREATE TABLE exchange.quality_delays (
    day date NOT NULL,
    topic_code text NOT NULL,
    publisher text NOT NULL,
    bucket integer NOT NULL,
    records integer NOT NULL,
    PRIMARY KEY (day, topic_code, publisher, bucket)
);
CREATE TABLE exchange.quality_filled (
    day date NOT NULL,
    topic_code text NOT NULL,
    publisher text NOT NULL,
    item text NOT NULL,
    records integer NOT NULL,
    PRIMARY KEY (day, topic_code, publisher, item)
);
CREATE TABLE exchange.quality_faults (
    day date NOT NULL,
    topic_code text NOT NULL,
    publisher text NOT NULL,
    item text NOT NULL,
    rule text NOT NULL,
    records integer NOT NULL,
    PRIMARY KEY (day, topic_code, publisher, item, rule)
);
CREATE TABLE exchange.quality_webhook_days (
    day date NOT NULL,
    subscriber text NOT NULL,
    topic_code text NOT NULL,
    attempts integer NOT NULL DEFAULT 0,
    failures integer NOT NULL DEFAULT 0,
    dead integer NOT NULL DEFAULT 0,
    PRIMARY KEY (day, subscriber, topic_code)
);
CREATE TABLE exchange.quality_conflicts (
    conflict_id bigint NOT NULL,
    agency text NOT NULL,
    topic_code text,
    attribute text NOT NULL,
    status text NOT NULL,
    detected_at timestamptz NOT NULL,
    closed_at timestamptz,
    PRIMARY KEY (conflict_id, agency)
);
CREATE INDEX quality_conflicts_detected ON exchange.quality_conflicts (detected_at);
CREATE TABLE exchange.quality_warnings (
    warning_id bigint PRIMARY KEY,
    agency text NOT NULL,
    rule_id text NOT NULL,
    status text NOT NULL,
    resolution text,
    raised_at timestamptz NOT NULL,
    resolved_at timestamptz
);
CREATE INDEX quality_warnings_raised ON exchange.quality_warnings (raised_at);
CREATE TABLE exchange.quality_rules (
    rule_id text PRIMARY KEY,
    version integer NOT NULL,
    enabled boolean NOT NULL,
    topics text[] NOT NULL,
    window_days integer
);
CREATE TABLE exchange.scorecard_months (
    month date PRIMARY KEY,
    published_at timestamptz NOT NULL DEFAULT now(),
    scorecards integer NOT NULL,
    first_seq bigint,
    last_seq bigint
);
"""

OLD_SIGNATURE = "text, text, uuid, bigint, timestamptz, text[], integer[], integer[], bytea[], timestamptz[], text[], text[], uuid, text, text, text, text, text, text, text[], integer[], integer[], integer[], text[], text[], text[]"

APPEND_BATCH = """
CREATE FUNCTION exchange.append_batch(
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
-- (it then judges again and retries):
-- * an accepted record's id and version were taken meanwhile: versions are dense, so any
--   newer version of a record the caller saw collides on records_record_version;
-- * a record judged a duplicate of version v has a version v + 1 now.
DECLARE
    n integer := coalesce(cardinality(p_record_ids), 0);
    head bigint;
    first bigint;
    v_day date := (p_arrived_at AT TIME ZONE 'Asia/Shanghai')::date;
    v_dups integer := coalesce(cardinality(p_dup_ids), 0);
    v_rejected integer := coalesce(cardinality(p_q_index), 0);
BEGIN
    IF n > 0 THEN
        SELECT head_seq INTO head FROM exchange.topics WHERE code = p_topic FOR NO KEY UPDATE;
        IF head <> p_seen_head AND EXISTS (
            SELECT 1 FROM unnest(p_dup_ids, p_dup_versions) AS d(record_id, version)
            CROSS JOIN LATERAL (
                SELECT 1 FROM exchange.records r
                WHERE r.topic_code = p_topic AND r.record_id = d.record_id
                  AND r.version = d.version + 1
                LIMIT 1
            ) AS newer
        ) THEN
            RETURN NULL;
        END IF;
        first := head + 1;
        BEGIN
            UPDATE exchange.topics SET head_seq = head + n WHERE code = p_topic;
            INSERT INTO exchange.records (topic_code, seq, record_id, version, topic_version,
                content_hash, business_time, published_at, publisher, data, envelope)
            SELECT p_topic, first + u.i - 1, u.record_id, u.version, u.topic_version, u.hash,
                u.business_time, p_published_at, p_publisher, u.data::jsonb, u.envelope
            FROM unnest(p_record_ids, p_versions, p_topic_versions, p_hashes, p_business_times,
                        p_data, p_envelopes) WITH ORDINALITY
                AS u(record_id, version, topic_version, hash, business_time, data, envelope, i);
        EXCEPTION WHEN unique_violation THEN
            RETURN NULL;
        END;
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
    for statement in TABLES.split(";"):
        if statement.strip():
            op.execute(statement)
    op.execute(f"DROP FUNCTION exchange.append_batch({OLD_SIGNATURE})")
    op.execute(APPEND_BATCH)


def downgrade() -> None:
    op.execute(
        "DROP FUNCTION exchange.append_batch({}, timestamptz, integer[], integer[], integer, "
        "integer, text[], integer[], text[], text[], integer[])".format(OLD_SIGNATURE)
    )
    spec = importlib.util.spec_from_file_location(
        "append_batch_0007", Path(__file__).with_name("0007_append_batch.py")
    )
    assert spec is not None and spec.loader is not None
    previous = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(previous)
    op.execute(previous.APPEND_BATCH)
    for table in (
        "scorecard_months", "quality_rules", "quality_warnings", "quality_conflicts",
        "quality_webhook_days", "quality_faults", "quality_filled", "quality_delays",
        "quality_days",
    ):
        op.execute(f"DROP TABLE exchange.{table}")
