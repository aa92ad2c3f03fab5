--
-- audit: the per-run hash chain of events (0.2.0) -- sequence numbers, hashes
-- and chain heads as commits write them, verification, digests, tampering
-- caught at the right sequence, hash-only mode, gap-free reading.
--
\set ECHO none
\i test/regress/helpers.sql
CALL verist_test_reset();
\set ECHO all

-- Three commits of one run, one commit of another; events carry a gapless
-- per-run sequence and the state row carries the chain head.
SELECT version, chain_seq, chain_hash = verist_chain_genesis('au-wf', 'run-1') AS head_is_genesis
FROM verist_commit('au-wf', 'run-1', 'start', 0, '{}');
SELECT version, chain_seq FROM verist_commit('au-wf', 'run-1', 'extract', 1, '{"a": 1}',
    $$[{"type": "extracted", "payload": {"b": 2, "a": [1.0, "é😀", null]}},
       {"type": "llm-call", "llmTrace": {"model": "m", "inputHash": "h1", "outputHash": "h2",
        "promptTokens": 3, "completionTokens": 4, "durationMs": 5.5, "input": "prompt", "output": "answer"}}]$$);
SELECT version, chain_seq FROM verist_commit('au-wf', 'run-1', 'overlay-free', 2, '{}');
SELECT version, chain_seq FROM verist_commit('au-wf', 'run-1', 'verify', 3, '{}',
    '[{"type": "verified"}, {"type": "scored", "payload": {"score": 0.25}}]');
SELECT version, chain_seq FROM verist_commit('au-wf', 'run-2', 'start', 0, '{}', '[{"type": "other-run"}]');

SELECT run_id, seq, step_id, type, length(hash) AS hash_len
FROM verist_events WHERE workflow_id = 'au-wf' ORDER BY run_id, seq;

-- Each stored hash is verist_event_hash of the previous one and the stored
-- row; the chain head is the last event's hash.
WITH RECURSIVE chain AS (
    SELECT 0 AS seq, verist_chain_genesis('au-wf', 'run-1') AS hash
  UNION ALL
    SELECT e.seq, verist_event_hash(c.hash, e.workflow_id, e.run_id, e.step_id, e.type,
                                    e.payload, e.llm_trace, e.seq, e.created_at)
    FROM chain c JOIN verist_events e
      ON e.workflow_id = 'au-wf' AND e.run_id = 'run-1' AND e.seq = c.seq + 1)
SELECT bool_and(c.hash = e.hash) AS every_hash_recomputed, count(*) AS events,
       max(c.hash) FILTER (WHERE c.seq = 4) = (SELECT chain_hash FROM verist_state
           WHERE workflow_id = 'au-wf' AND run_id = 'run-1') AS head_is_last_hash
FROM chain c JOIN verist_events e ON e.workflow_id = 'au-wf' AND e.run_id = 'run-1' AND e.seq = c.seq;

-- The hash is SHA-256 of the previous hash and the canonical JSON of the
-- event's content, as README documents it (here for event 1 of run-2).
SELECT e.hash = encode(sha256(convert_to(verist_chain_genesis('au-wf', 'run-2') ||
           verist_canonical_json(jsonb_build_object(
               'workflowId', e.workflow_id, 'runId', e.run_id, 'stepId', e.step_id,
               'type', e.type, 'payload', e.payload, 'llmTrace', e.llm_trace, 'seq', e.seq,
               'ts', (extract(epoch FROM e.created_at) * 1000000)::bigint)), 'UTF8')), 'hex')
       AS documented_format,
       verist_chain_genesis('au-wf', 'run-2') = encode(sha256(convert_to(verist_canonical_json(
           '{"chain": "verist/1", "workflowId": "au-wf", "runId": "run-2"}'), 'UTF8')), 'hex')
       AS documented_genesis
FROM verist_events e WHERE e.workflow_id = 'au-wf' AND e.run_id = 'run-2';

-- Verification and digests of intact runs.
SELECT * FROM verist_verify_run('au-wf', 'run-1');
SELECT * FROM verist_verify_run('au-wf', 'run-2');
-- (0.4.0: the digest is the head of the run's ledger, which covers the events.)
SELECT seq, hash = (SELECT ledger_hash FROM verist_state WHERE run_id = 'run-1' AND workflow_id = 'au-wf') AS is_head
FROM verist_run_digest('au-wf', 'run-1');
SELECT count(*) AS broken_runs FROM verist_verify_all();

-- A run without events verifies too (head = genesis, 0 events).
SELECT version FROM verist_commit('au-wf', 'empty', 'start', 0, '{}');
SELECT * FROM verist_verify_run('au-wf', 'empty');
SELECT chain_seq, chain_hash = verist_chain_genesis('au-wf', 'empty') AS is_genesis
FROM verist_state WHERE workflow_id = 'au-wf' AND run_id = 'empty';

--
-- Tampering by a superuser who lifts the append-only trigger: each edit is
-- caught at the sequence it touched.  Each case runs on a fresh copy of
-- run-1's chain (run t-<case>) inside a transaction that is rolled back.
--
CREATE FUNCTION copy_run(target text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    e record;
    v integer := 0;
BEGIN
    FOR e IN SELECT step_id, type, payload, llm_trace FROM verist_events
             WHERE workflow_id = 'au-wf' AND run_id = 'run-1' ORDER BY seq LOOP
        PERFORM verist_commit('au-wf', target, e.step_id, v, '{}',
            jsonb_build_array(jsonb_strip_nulls(jsonb_build_object(
                'type', e.type, 'payload', e.payload, 'llmTrace', e.llm_trace))));
        v := v + 1;
    END LOOP;
END
$$;
SELECT copy_run('t');
SELECT * FROM verist_verify_run('au-wf', 't');
ALTER TABLE verist_events DISABLE TRIGGER verist_events_append_only;

BEGIN;  -- edit the payload of the first event
UPDATE verist_events SET payload = '{"b": 2, "a": [1, "e", null]}' WHERE run_id = 't' AND seq = 1;
SELECT * FROM verist_verify_run('au-wf', 't');
ROLLBACK;

BEGIN;  -- change the type of the last event only
UPDATE verist_events SET type = 'forged' WHERE run_id = 't' AND seq = 4;
SELECT * FROM verist_verify_run('au-wf', 't');
ROLLBACK;

BEGIN;  -- edit an event and recompute its own hash: the next one breaks
UPDATE verist_events SET type = 'forged',
    hash = verist_event_hash((SELECT hash FROM verist_events WHERE run_id = 't' AND seq = 1),
                             workflow_id, run_id, step_id, 'forged', payload, llm_trace, seq, created_at)
WHERE run_id = 't' AND seq = 2;
SELECT * FROM verist_verify_run('au-wf', 't');
ROLLBACK;

BEGIN;  -- delete an event in the middle
DELETE FROM verist_events WHERE run_id = 't' AND seq = 2;
SELECT * FROM verist_verify_run('au-wf', 't');
ROLLBACK;

BEGIN;  -- reorder: swap the sequence numbers of events 2 and 3
UPDATE verist_events SET seq = 5 - seq WHERE run_id = 't' AND seq IN (2, 3);
SELECT * FROM verist_verify_run('au-wf', 't');
ROLLBACK;

BEGIN;  -- a duplicated event
INSERT INTO verist_events (workflow_id, run_id, step_id, type, payload, llm_trace, created_at, seq, hash)
SELECT workflow_id, run_id, step_id, type, payload, llm_trace, created_at, seq, hash
FROM verist_events WHERE run_id = 't' AND seq = 3;
SELECT * FROM verist_verify_run('au-wf', 't');
ROLLBACK;

BEGIN;  -- delete the last event: the head still names it
DELETE FROM verist_events WHERE run_id = 't' AND seq = 4;
SELECT * FROM verist_verify_run('au-wf', 't');
ROLLBACK;

BEGIN;  -- rewind the chain head to event 2: events 3 and 4 lie beyond it
UPDATE verist_state SET chain_seq = 2,
    chain_hash = (SELECT hash FROM verist_events WHERE run_id = 't' AND seq = 2)
WHERE run_id = 't';
SELECT * FROM verist_verify_run('au-wf', 't');
ROLLBACK;

BEGIN;  -- forge the head's hash only
UPDATE verist_state SET chain_hash = repeat('0', 64) WHERE run_id = 't';
SELECT * FROM verist_verify_run('au-wf', 't');
ROLLBACK;

BEGIN;  -- delete the run's state row: its events remain, unanchored
DELETE FROM verist_state WHERE run_id = 't';
SELECT * FROM verist_verify_run('au-wf', 't');
-- verify_all streams every run and reports just the broken one
SELECT * FROM verist_verify_all();
ROLLBACK;

ALTER TABLE verist_events ENABLE TRIGGER verist_events_append_only;
SELECT count(*) AS broken_runs FROM verist_verify_all();

--
-- Hash-only mode: with verist.hash_only on, llmTrace input and output are
-- dropped before anything is stored (and hashed); hashes stay mandatory.
--
SHOW verist.hash_only;
SET verist.hash_only = on;
SELECT version FROM verist_commit('au-wf', 'hash-only', 's', 0, '{}',
    $$[{"type": "llm-call", "llmTrace": {"model": "m", "inputHash": "h1", "outputHash": "h2",
        "promptTokens": 1, "completionTokens": 2, "durationMs": 3,
        "input": "secret prompt", "output": "secret answer", "temperature": 0}},
       {"type": "no-raw", "llmTrace": {"model": "m", "inputHash": "h3", "outputHash": "h4",
        "promptTokens": 1, "completionTokens": 2, "durationMs": 3}},
       {"type": "plain", "payload": {"input": "payload keys are not touched"}}]$$);
SELECT seq, llm_trace, payload FROM verist_events WHERE run_id = 'hash-only' ORDER BY seq;
SELECT valid FROM verist_verify_run('au-wf', 'hash-only');
SELECT count(*) AS raw_prompts_stored FROM verist_events
WHERE run_id = 'hash-only' AND (llm_trace ? 'input' OR llm_trace ? 'output');
-- hashes are still required
SELECT verist_try($$SELECT verist_commit('au-wf', 'hash-only-2', 's', 0, '{}',
    '[{"type": "t", "llmTrace": {"model": "m", "input": "x", "promptTokens": 1,
       "completionTokens": 1, "durationMs": 1}}]')$$) AS hashes_required;
RESET verist.hash_only;
SELECT version FROM verist_commit('au-wf', 'hash-kept', 's', 0, '{}',
    $$[{"type": "llm-call", "llmTrace": {"model": "m", "inputHash": "h1", "outputHash": "h2",
        "promptTokens": 1, "completionTokens": 2, "durationMs": 3,
        "input": "kept prompt", "output": "kept answer"}}]$$);
SELECT llm_trace->>'input' AS input, llm_trace->>'output' AS output
FROM verist_events WHERE run_id = 'hash-kept';
-- Only a superuser sets it (per database or role: ALTER DATABASE/ROLE ... SET).
CREATE ROLE regress_verist_app NOLOGIN;
SET ROLE regress_verist_app;
SELECT verist_try($$SET verist.hash_only = off$$) AS app_cannot_unset;
RESET ROLE;
ALTER ROLE regress_verist_app SET verist.hash_only = on;
SELECT rolname, rolconfig FROM pg_roles WHERE rolname = 'regress_verist_app';
DROP ROLE regress_verist_app;

--
-- Gap-free reading: in id order, after the given id, at most max_entries.
--
SELECT min(id) AS first_id FROM verist_events \gset
SELECT id - :first_id AS n, run_id, seq FROM verist_read_events(:first_id, 3);
SELECT count(*) = (SELECT count(*) FROM verist_events WHERE id > :first_id) AS all_after
FROM verist_read_events(:first_id, 1000000);
SELECT count(*) AS none_after_last FROM verist_read_events((SELECT max(id) FROM verist_events), 10);
-- Own uncommitted events are held back until they commit.
BEGIN;
SELECT max(id) AS last_id FROM verist_events \gset
SELECT version FROM verist_commit('au-wf', 'tx', 's', 0, '{}', '[{"type": "mine"}]');
SELECT count(*) AS visible_to_naive_reader FROM verist_events WHERE id > :last_id;
SELECT count(*) AS returned_while_uncommitted FROM verist_read_events(:last_id, 10);
COMMIT;
SELECT type FROM verist_read_events(:last_id, 10);
-- A snapshot held for the whole transaction cannot be read gap-free.
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT verist_try($$SELECT verist_read_events(0, 1)$$) AS repeatable_read;
COMMIT;

--
-- Bad arguments of the 0.2.0 functions.
--
SELECT verist_fingerprint() AS before \gset
CREATE TEMP TABLE bad_audit(label text, statement text);
INSERT INTO bad_audit VALUES
  ('verify_run: null workflow_id',  $$SELECT verist_verify_run(NULL, 'r')$$),
  ('verify_run: empty run_id',      $$SELECT verist_verify_run('au-wf', '')$$),
  ('verify_run: unknown run',       $$SELECT verist_verify_run('au-wf', 'nope')$$),
  ('digest: null run_id',           $$SELECT verist_run_digest('au-wf', NULL)$$),
  ('digest: unknown run',           $$SELECT verist_run_digest('nope', 'run-1')$$),
  ('genesis: null run_id',          $$SELECT verist_chain_genesis('w', NULL)$$),
  ('event_hash: null prev',         $$SELECT verist_event_hash(NULL, 'w', 'r', 's', 't', NULL, NULL, 1, now())$$),
  ('event_hash: short prev',        $$SELECT verist_event_hash('abc', 'w', 'r', 's', 't', NULL, NULL, 1, now())$$),
  ('event_hash: null seq',          $$SELECT verist_event_hash(repeat('a', 64), 'w', 'r', 's', 't', NULL, NULL, NULL, now())$$),
  ('event_hash: null created_at',   $$SELECT verist_event_hash(repeat('a', 64), 'w', 'r', 's', 't', NULL, NULL, 1, NULL)$$),
  ('event_hash: empty type',        $$SELECT verist_event_hash(repeat('a', 64), 'w', 'r', 's', '', NULL, NULL, 1, now())$$),
  ('event_hash: prev not hex',      $$SELECT verist_event_hash(repeat('g', 64), 'w', 'r', 's', 't', NULL, NULL, 1, now())$$),
  ('event_hash: prev upper case',   $$SELECT verist_event_hash(repeat('A', 64), 'w', 'r', 's', 't', NULL, NULL, 1, now())$$),
  ('event_hash: prev multibyte',    $$SELECT verist_event_hash(repeat('é', 32), 'w', 'r', 's', 't', NULL, NULL, 1, now())$$),
  ('event_hash: infinite time',     $$SELECT verist_event_hash(repeat('a', 64), 'w', 'r', 's', 't', NULL, NULL, 1, 'infinity')$$),
  ('advance: null events hash',     $$SELECT verist_commit_advance(NULL, 0, '{a}', '{b}', repeat('a', 64), 0, 1, 'h', 't')$$),
  ('advance: events hash not hex',  $$SELECT verist_commit_advance(repeat('g', 64), 0, '{a}', '{b}', repeat('a', 64), 0, 1, 'h', 't')$$),
  ('advance: null events seq',      $$SELECT verist_commit_advance(repeat('a', 64), NULL, '{a}', '{b}', repeat('a', 64), 0, 1, 'h', 't')$$),
  ('advance: negative events seq',  $$SELECT verist_commit_advance(repeat('a', 64), -1, '{a}', '{b}', repeat('a', 64), 0, 1, 'h', 't')$$),
  ('advance: no room for events',   $$SELECT verist_commit_advance(repeat('a', 64), 2147483647, '{a}', '{b}', repeat('a', 64), 0, 1, 'h', 't')$$),
  ('advance: null heads',           $$SELECT verist_commit_advance(repeat('a', 64), 0, NULL, '{b}', repeat('a', 64), 0, 1, 'h', 't')$$),
  ('advance: lengths differ',       $$SELECT verist_commit_advance(repeat('a', 64), 0, '{a,c}', '{b}', repeat('a', 64), 0, 1, 'h', 't')$$),
  ('advance: null element',         $$SELECT verist_commit_advance(repeat('a', 64), 0, '{a,NULL}', '{b,d}', repeat('a', 64), 0, 1, 'h', 't')$$),
  ('advance: ledger hash not hex',  $$SELECT verist_commit_advance(repeat('a', 64), 0, '{}', '{}', 'x', 0, 1, 'h', 't')$$),
  ('advance: negative ledger seq',  $$SELECT verist_commit_advance(repeat('a', 64), 0, '{}', '{}', repeat('a', 64), -1, 1, 'h', 't')$$),
  ('advance: no room for entries',  $$SELECT verist_commit_advance(repeat('a', 64), 0, '{}', '{}', repeat('a', 64), 2147483647, 1, 'h', 't')$$),
  ('advance: null tail',            $$SELECT verist_commit_advance(repeat('a', 64), 0, '{}', '{}', repeat('a', 64), 0, 1, 'h', NULL)$$),
  ('ledger_extend: null version',   $$SELECT verist_ledger_extend(repeat('a', 64), 0, NULL, repeat('a', 64), 'h', 't')$$),
  ('ledger_extend: events not hex', $$SELECT verist_ledger_extend(repeat('a', 64), 0, 1, 'x', 'h', 't')$$),
  ('entry_hash: entry not object',  $$SELECT verist_ledger_entry_hash(repeat('a', 64), repeat('a', 64), '[]')$$),
  ('entry_hash: prev not hex',      $$SELECT verist_ledger_entry_hash('x', repeat('a', 64), '{}')$$),
  ('ledger_genesis: empty run_id',  $$SELECT verist_ledger_genesis('w', '')$$),
  ('read_events: null after_id',    $$SELECT verist_read_events(NULL, 1)$$),
  ('read_events: null max_entries', $$SELECT verist_read_events(0, NULL)$$),
  ('read_events: zero max_entries', $$SELECT verist_read_events(0, 0)$$);
SELECT label, verist_try(statement) AS result FROM bad_audit ORDER BY label;
SELECT verist_fingerprint() = :'before' AS nothing_written;
-- ts is a JSON number like any other: beyond 2^53 microseconds (after 2255)
-- it is the double JavaScript would read, as the documented formula gives.
SELECT verist_event_hash(repeat('0', 64), 'w', 'r', 's', 't', NULL, NULL, 1, t) =
       encode(sha256(convert_to(repeat('0', 64) || verist_canonical_json(jsonb_build_object(
           'workflowId', 'w', 'runId', 'r', 'stepId', 's', 'type', 't', 'payload', NULL,
           'llmTrace', NULL, 'seq', 1, 'ts', (extract(epoch FROM t) * 1000000)::bigint)),
           'UTF8')), 'hex') AS documented_ts
FROM (VALUES ('2300-01-01 00:00:00.000001+00'::timestamptz), ('1600-06-01 12:00:00.5+00'),
             ('2026-11-24 22:36:25.926925+00')) AS v(t);
-- Event types may be long (they are not index keys).
SELECT length(verist_event_hash(repeat('a', 64), 'w', 'r', 's', repeat('t', 5000), NULL, NULL, 1, now())) AS long_type;
-- NULL payload and llm_trace are JSON null, not an error.
SELECT length(verist_event_hash(repeat('a', 64), 'w', 'r', 's', 't', NULL, NULL, 1, now())) AS hash_len;
-- verist_commit_advance (internal: the commit's state UPDATE computes both
-- new heads with it) extends the event chain by the documented formula, given
-- each event's canonical content split around its sequence number, and the
-- ledger by one entry given around "at".
SELECT verist_commit('au-ext', 'x', 's1', 0, '{}',
    '[{"type": "a", "payload": {"n": 1}}, {"type": "b", "payload": {"s": "é\u0001"}}]') IS NOT NULL AS c1,
       verist_commit('au-ext', 'x', 's2', 1, '{}',
    '[{"type": "c", "payload": null, "llmTrace": {"model": "m", "inputHash": "i", "outputHash": "o", "promptTokens": 1, "completionTokens": 2, "durationMs": 0.5}}]') IS NOT NULL AS c2;
CREATE TEMP TABLE ext_parts AS
SELECT seq, hash, left(c, strpos(c, m) + 5) AS head, substr(c, strpos(c, m) + length(m)) AS tail
FROM (SELECT seq, hash, '"seq":' || seq AS m,
             verist_canonical_json(jsonb_build_object('workflowId', workflow_id, 'runId', run_id,
                 'stepId', step_id, 'type', type, 'payload', payload, 'llmTrace', llm_trace,
                 'seq', seq, 'ts', (extract(epoch FROM created_at) * 1000000)::bigint)) AS c
      FROM verist_events WHERE workflow_id = 'au-ext' AND run_id = 'x') AS e;
SELECT p.seq, (verist_commit_advance(coalesce(b.hash, verist_chain_genesis('au-ext', 'x')),
                                     p.seq - 1, ARRAY[p.head], ARRAY[p.tail],
                                     repeat('0', 64), 0, 1, '{"actor":null,"at":', '}')).events_hash
              = p.hash AS one_event
FROM ext_parts p LEFT JOIN ext_parts b ON b.seq = p.seq - 1 ORDER BY p.seq;
SELECT (verist_commit_advance(verist_chain_genesis('au-ext', 'x'), 0,
            array_agg(head ORDER BY seq), array_agg(tail ORDER BY seq),
            repeat('0', 64), 0, 1, 'h', 't')).events_hash = s.chain_hash AS whole_chain,
       (verist_commit_advance(s.chain_hash, 3, '{}', '{}', repeat('0', 64), 0, 1, 'h', 't')).events_hash
           = s.chain_hash AS no_events_keeps_head
FROM ext_parts, verist_state s WHERE s.workflow_id = 'au-ext' AND s.run_id = 'x'
GROUP BY s.chain_hash;
DROP TABLE ext_parts;
DROP FUNCTION copy_run(text);
