-- The reference queue of test/bench/queue.sh: a queue with pgmq's published
-- design, written for this benchmark (pgmq itself is not packaged for
-- Debian 12).  A message is one row with a visibility time; reading a batch
-- claims the oldest visible rows with FOR UPDATE SKIP LOCKED and pushes their
-- visibility into the future; archiving deletes them and keeps them in an
-- archive table.  Differences from pgmq 1.5: one fixed queue (no queue
-- catalog, no partitioning), no headers column, plain tables in a schema of
-- their own; the message is the same command JSON verist's outbox holds.
CREATE SCHEMA refq;
CREATE TABLE refq.q (
    msg_id      bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    read_ct     integer     NOT NULL DEFAULT 0,
    enqueued_at timestamptz NOT NULL DEFAULT now(),
    vt          timestamptz NOT NULL DEFAULT now(),
    message     jsonb
);
CREATE INDEX q_vt_idx ON refq.q (vt);
CREATE TABLE refq.a (
    msg_id      bigint      PRIMARY KEY,
    read_ct     integer     NOT NULL,
    enqueued_at timestamptz NOT NULL,
    archived_at timestamptz NOT NULL DEFAULT now(),
    vt          timestamptz NOT NULL,
    message     jsonb
);
CREATE INDEX a_archived_at_idx ON refq.a (archived_at);

-- read(n, vt seconds): claim up to n visible messages, oldest first.
CREATE FUNCTION refq.read(n integer, vt_seconds integer)
RETURNS SETOF refq.q LANGUAGE sql AS $$
    WITH claimed AS (
        SELECT msg_id FROM refq.q
        WHERE vt <= clock_timestamp()
        ORDER BY msg_id
        LIMIT n
        FOR UPDATE SKIP LOCKED
    )
    UPDATE refq.q AS m
    SET vt = clock_timestamp() + make_interval(secs => vt_seconds),
        read_ct = m.read_ct + 1
    FROM claimed
    WHERE m.msg_id = claimed.msg_id
    RETURNING m.*
$$;

-- archive(ids): move the messages into the archive; returns the ids moved.
CREATE FUNCTION refq.archive(ids bigint[])
RETURNS SETOF bigint LANGUAGE sql AS $$
    WITH gone AS (
        DELETE FROM refq.q WHERE msg_id = ANY (ids)
        RETURNING msg_id, read_ct, enqueued_at, vt, message
    )
    INSERT INTO refq.a (msg_id, read_ct, enqueued_at, vt, message)
    SELECT msg_id, read_ct, enqueued_at, vt, message FROM gone
    RETURNING msg_id
$$;
