-- The retirer: retire every run of workflow done-wf with verist_retire_run,
-- one run after another in one session, COMMIT after every `batch` runs,
-- until none is left or cap_s seconds have passed (checked after every run).
-- The documents verist_retire_run returns are dropped here (an archiver
-- would store them).  Progress goes to bench.retire_log, one row per batch.
CREATE SCHEMA IF NOT EXISTS bench;
CREATE TABLE IF NOT EXISTS bench.retire_log (
    phase text, batch integer, runs integer, doc_bytes bigint, at timestamptz);
CREATE OR REPLACE PROCEDURE bench.retire(phase text, batch integer, cap_s float8)
LANGUAGE plpgsql AS $$
DECLARE
    deadline timestamptz := clock_timestamp() + make_interval(secs => cap_s);
    r record;
    n integer := 0;
    b integer := 0;
    bytes bigint := 0;
BEGIN
    INSERT INTO bench.retire_log VALUES (phase, 0, 0, 0, clock_timestamp());
    COMMIT;
    FOR r IN SELECT s.workflow_id, s.run_id FROM verist_state AS s
             WHERE s.workflow_id = 'done-wf' ORDER BY s.run_id LOOP
        bytes := bytes + length(verist_retire_run(r.workflow_id, r.run_id)::text);
        n := n + 1;
        IF n % batch = 0 THEN
            b := b + 1;
            INSERT INTO bench.retire_log VALUES (phase, b, n, bytes, clock_timestamp());
            COMMIT;
        END IF;
        EXIT WHEN clock_timestamp() > deadline;
    END LOOP;
    IF n % batch <> 0 THEN
        INSERT INTO bench.retire_log VALUES (phase, b + 1, n, bytes, clock_timestamp());
        COMMIT;
    END IF;
END
$$;
