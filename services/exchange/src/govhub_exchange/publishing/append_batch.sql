-- exchange.append_batch: what one publish writes, in one statement (docs/developing.md,
-- "How a record flows"). The canonical definition: publishing/append_batch.py calls it by
-- its parameters' names, read from this file. A change here goes into a new migration as a
-- frozen copy (CREATE OR REPLACE FUNCTION); tests/exchange/publishing/test_append_batch.py
-- fails while the migrated database's function differs from this file.
--
-- Why a function: the topic's row lock orders publishers (sequence numbers become visible
-- in commit order). Taken by a statement of the client's transaction, it was held across
-- five round trips and the commit: about 60 ms per 1,000-record batch, which capped one
-- topic near 16,000 records/s (migration 0007). Here PostgreSQL takes the lock, checks that
-- nothing appended since the client judged the batch changes that judgement, and writes the
-- records, the webhook deliveries, the outbox event, the quarantine and the batch, and adds
-- the batch's tallies to the day's data-quality figures (migration 0012, docs/quality.md):
-- counted here, in the statement that commits the batch, they are exact whatever fails.
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
