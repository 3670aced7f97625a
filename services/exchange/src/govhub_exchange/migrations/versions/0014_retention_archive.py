"""Retention and archive (docs/exchange.md, "Retention and archive"): each topic may say how
long its records stay in the live log and the law that says so; a segment whose newest
record is older than that is written to a compressed file with a manifest, and its
partition dropped. The topic's log then starts later (log_start_seq), and each segment
remembers its archive, so a cursor before the start is told where the records went and an
operator can bring them back (`govhub exchange log import`).

Revision ID: 0014
Revises: 0013
"""

from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

UPGRADE = """
ALTER TABLE exchange.topics
    ADD COLUMN retention_days integer,
    ADD COLUMN retention_basis text,
    ADD COLUMN log_start_seq bigint NOT NULL DEFAULT 1,
    ADD CONSTRAINT topics_retention_check
        CHECK ((retention_days IS NULL) = (retention_basis IS NULL) AND retention_days > 0);
ALTER TABLE exchange.log_segments
    ADD COLUMN records bigint,
    ADD COLUMN first_published_at timestamptz,
    ADD COLUMN last_published_at timestamptz,
    ADD COLUMN archived_at timestamptz,
    ADD COLUMN archive_file text,
    ADD COLUMN archive_sha256 text,
    ADD COLUMN kept_until timestamptz
"""

# The partition changes run with their owner's rights (the migrating role's), as
# add_segments does: the application's role owns no table. Each takes the topic's row lock
# first, as an append does, so none runs beside an append of the same topic.
CLOSE_SEGMENT = """
CREATE FUNCTION exchange.close_segment(p_topic text) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
-- Ends the topic's open segment at the topic's head (re-attached with the narrower bounds),
-- so that it can leave the log once its records pass the topic's retention; the next
-- append starts a new segment. Returns the segment's new end (exclusive), or NULL when
-- there is nothing to close (no segment, or an empty or full one).
DECLARE
    v_head bigint;
    v_id bigint;
    v_first bigint;
    v_end bigint;
BEGIN
    SELECT head_seq INTO v_head FROM exchange.topics WHERE code = p_topic FOR NO KEY UPDATE;
    SELECT id, first_seq, end_seq INTO v_id, v_first, v_end FROM exchange.log_segments
    WHERE topic_code = p_topic ORDER BY first_seq DESC LIMIT 1;
    IF v_id IS NULL OR v_head < v_first OR v_head + 1 >= v_end THEN
        RETURN NULL;
    END IF;
    EXECUTE format('ALTER TABLE exchange.records DETACH PARTITION exchange.records_%s', v_id);
    EXECUTE format('ALTER TABLE exchange.records ATTACH PARTITION exchange.records_%s '
                   'FOR VALUES FROM (%L, %s) TO (%L, %s)',
                   v_id, p_topic, v_first, p_topic, v_head + 1);
    UPDATE exchange.log_segments SET end_seq = v_head + 1 WHERE id = v_id;
    UPDATE exchange.topics SET segment_end = v_head + 1 WHERE code = p_topic;
    RETURN v_head + 1;
END
$fn$
"""

DROP_SEGMENT = """
CREATE FUNCTION exchange.drop_segment(p_id bigint, p_file text, p_sha256 text,
    p_records bigint, p_archived_at timestamptz) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
-- The segment's records are in its archive file (p_records of them): its partition is
-- dropped whole (no row is deleted) and the topic's live log starts after it. Only the
-- oldest live segment of a topic, closed and complete, can go, so the live log stays one
-- unbroken range of seqs.
DECLARE
    v record;
    v_count bigint;
    v_times record;
BEGIN
    SELECT s.topic_code, s.first_seq, s.end_seq, s.archived_at, t.head_seq, t.log_start_seq
    INTO v FROM exchange.log_segments s JOIN exchange.topics t ON t.code = s.topic_code
    WHERE s.id = p_id FOR NO KEY UPDATE OF t;
    IF NOT FOUND OR v.archived_at IS NOT NULL OR v.first_seq <> v.log_start_seq
       OR v.end_seq > v.head_seq + 1 THEN
        RAISE EXCEPTION 'segment % is not the oldest closed segment of its live log', p_id;
    END IF;
    EXECUTE format('SELECT count(*), min(published_at), max(published_at) '
                   'FROM exchange.records_%s', p_id) INTO v_times;
    IF v_times.count <> p_records THEN
        RAISE EXCEPTION 'segment % holds % records, its archive %', p_id, v_times.count,
            p_records;
    END IF;
    EXECUTE format('DROP TABLE exchange.records_%s', p_id);
    UPDATE exchange.log_segments SET records = p_records, archived_at = p_archived_at,
        archive_file = p_file, archive_sha256 = p_sha256, kept_until = NULL,
        first_published_at = v_times.min, last_published_at = v_times.max
    WHERE id = p_id;
    UPDATE exchange.topics SET log_start_seq = v.end_seq WHERE code = v.topic_code;
END
$fn$
"""

RESTORE_SEGMENT = """
CREATE FUNCTION exchange.restore_segment(p_id bigint, p_kept_until timestamptz) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
-- An archived segment back in the log, empty, with its bounds; the caller copies its
-- records in through exchange.records in the same transaction. Only the newest archived
-- segment before the live log can come back, so the live log stays unbroken; it stays
-- until p_kept_until whatever the topic's retention.
DECLARE
    v record;
BEGIN
    SELECT s.topic_code, s.first_seq, s.end_seq, s.archived_at, t.log_start_seq
    INTO v FROM exchange.log_segments s JOIN exchange.topics t ON t.code = s.topic_code
    WHERE s.id = p_id FOR NO KEY UPDATE OF t;
    IF NOT FOUND OR v.archived_at IS NULL OR v.end_seq <> v.log_start_seq THEN
        RAISE EXCEPTION 'segment % is not the archived segment just before its live log', p_id;
    END IF;
    EXECUTE format('CREATE TABLE exchange.records_%s (LIKE exchange.records '
                   'INCLUDING DEFAULTS INCLUDING COMPRESSION INCLUDING STORAGE)', p_id);
    EXECUTE format('ALTER TABLE exchange.records ATTACH PARTITION exchange.records_%s '
                   'FOR VALUES FROM (%L, %s) TO (%L, %s)',
                   p_id, v.topic_code, v.first_seq, v.topic_code, v.end_seq);
    UPDATE exchange.log_segments SET archived_at = NULL, kept_until = p_kept_until
    WHERE id = p_id;
    UPDATE exchange.topics SET log_start_seq = v.first_seq WHERE code = v.topic_code;
END
$fn$
"""

DOWNGRADE = """
DROP FUNCTION exchange.restore_segment(bigint, timestamptz);
DROP FUNCTION exchange.drop_segment(bigint, text, text, bigint, timestamptz);
DROP FUNCTION exchange.close_segment(text);
ALTER TABLE exchange.log_segments
    DROP COLUMN records, DROP COLUMN first_published_at, DROP COLUMN last_published_at,
    DROP COLUMN archived_at, DROP COLUMN archive_file, DROP COLUMN archive_sha256,
    DROP COLUMN kept_until;
ALTER TABLE exchange.topics DROP CONSTRAINT topics_retention_check,
    DROP COLUMN retention_days, DROP COLUMN retention_basis, DROP COLUMN log_start_seq
"""


def upgrade() -> None:
    for statement in UPGRADE.split(";\n"):
        op.execute(statement)
    for function in (CLOSE_SEGMENT, DROP_SEGMENT, RESTORE_SEGMENT):
        op.execute(function)


def downgrade() -> None:
    for statement in DOWNGRADE.split(";\n"):
        op.execute(statement)
