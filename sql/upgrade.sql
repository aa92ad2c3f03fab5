--
-- upgrade: a populated 0.1.0 database updated in place to 0.2.0, then to
-- 0.3.0, then to 0.3.1, then to 0.4.0.  Existing events get their per-run sequence (in id order) and chain,
-- every run verifies, commits extend the chain, 0.3.0's dispatch functions
-- work on rows written by older versions, and the upgraded catalog is
-- identical to this database's fresh install of the latest version.
--
\set ECHO none
\i test/regress/helpers.sql
\set ECHO all

-- What a catalog of verist looks like: every object the extension owns, with
-- what matters of it (column order and defaults, constraints, indexes,
-- triggers, privileges, function definitions and comments, dump config).
-- Privileges are compared as what they grant: a NULL ACL is its default, so
-- GRANT-then-REVOKE in earlier tests does not count as a difference.
CREATE FUNCTION verist_catalog() RETURNS SETOF text LANGUAGE sql AS $$
    SELECT 'extension ' || e.extversion || ' dumps ' ||
           (SELECT string_agg(c::regclass::text, ',' ORDER BY c::regclass::text)
            FROM unnest(e.extconfig) AS c)
    FROM pg_extension e WHERE e.extname = 'verist'
  UNION ALL
    SELECT format('member %s', pg_describe_object(d.classid, d.objid, d.objsubid))
    FROM pg_depend d JOIN pg_extension e ON d.refobjid = e.oid
    WHERE e.extname = 'verist' AND d.deptype = 'e'
  UNION ALL
    SELECT format('column %s.%s %s notnull=%s default=%s generated=%s comment=%s', c.relname, a.attnum,
                  a.attname || ' ' || format_type(a.atttypid, a.atttypmod), a.attnotnull,
                  pg_get_expr(ad.adbin, ad.adrelid), a.attgenerated, col_description(c.oid, a.attnum))
    FROM pg_class c
    JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
    LEFT JOIN pg_attrdef ad ON ad.adrelid = c.oid AND ad.adnum = a.attnum
    WHERE c.relname LIKE 'verist\_%' AND c.relkind IN ('r', 'v')
  UNION ALL
    SELECT format('relation %s kind=%s options=%s acl=%s', c.relname, c.relkind, c.reloptions,
                  (SELECT array_agg(a::text ORDER BY a::text)
                   FROM unnest(coalesce(c.relacl, acldefault('r', c.relowner))) AS a))
    FROM pg_class c WHERE c.relname LIKE 'verist\_%' AND c.relkind IN ('r', 'S', 'v')
  UNION ALL
    SELECT format('view %s %s', c.relname, regexp_replace(pg_get_viewdef(c.oid), '\s+', ' ', 'g'))
    FROM pg_class c WHERE c.relname LIKE 'verist\_%' AND c.relkind = 'v'
  UNION ALL
    SELECT format('constraint %s %s %s', conrelid::regclass, conname, pg_get_constraintdef(oid))
    FROM pg_constraint WHERE conrelid::regclass::text LIKE 'verist\_%'
  UNION ALL
    SELECT format('index %s', pg_get_indexdef(indexrelid))
    FROM pg_index WHERE indrelid::regclass::text LIKE 'verist\_%'
  UNION ALL
    SELECT format('trigger %s enabled=%s', pg_get_triggerdef(oid), tgenabled)
    FROM pg_trigger WHERE tgrelid::regclass::text LIKE 'verist\_%' AND NOT tgisinternal
  UNION ALL
    SELECT format('function %s returns %s language=%s symbol=%s volatile=%s strict=%s '
                  'secdef=%s parallel=%s rows=%s config=%s acl=%s comment=%s',
                  p.oid::regprocedure, pg_get_function_result(p.oid), l.lanname,
                  regexp_replace(p.prosrc, '\s+', ' ', 'g'),
                  p.provolatile, p.proisstrict, p.prosecdef, p.proparallel, p.prorows,
                  p.proconfig,
                  (SELECT array_agg(a::text ORDER BY a::text)
                   FROM unnest(coalesce(p.proacl, acldefault('f', p.proowner))) AS a),
                  obj_description(p.oid, 'pg_proc'))
    FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
    WHERE p.proname LIKE 'verist\_%' AND p.proname <> 'verist_catalog'
      AND p.pronamespace = 'public'::regnamespace
      AND p.oid IN (SELECT objid FROM pg_depend WHERE deptype = 'e')
  ORDER BY 1
$$;
SELECT current_database() AS home,
       pg_get_functiondef('verist_catalog()'::regprocedure) AS catalog_function \gset

CREATE DATABASE verist_upgrade;
\c verist_upgrade
SET client_min_messages = warning;
CREATE EXTENSION verist VERSION '0.1.0';
SELECT :'catalog_function' \gexec
SELECT extversion FROM pg_extension WHERE extname = 'verist';

-- Data written by 0.1.0: runs with and without events, unicode and numbers in
-- payloads, traces, a review, a suspend and its resume, leased and dispatched
-- commands, an overlay.
SELECT version FROM verist_commit('up-wf', 'run-1', 'extract', 0, '{"a": 1}',
    $$[{"type": "extracted", "payload": {"z": 1, "a": [1.0, 1e21, "é😀", null]}},
       {"type": "llm-call", "llmTrace": {"model": "m", "inputHash": "h1", "outputHash": "h2",
        "promptTokens": 3, "completionTokens": 4, "durationMs": 5.5, "input": "p", "output": "o"}}]$$,
    '[{"type": "invoke", "step": "verify"}, {"type": "review", "reason": "check"}]');
SELECT version FROM verist_commit('up-wf', 'run-1', 'verify', 1, '{"b": 2}', '[{"type": "verified"}]');
SELECT version FROM verist_commit('up-wf', 'run-2', 'ask', 0, '{}', '[{"type": "asked"}]',
    '[{"type": "suspend", "reason": "input", "checkpoint": {"page": 1}}]');
SELECT version FROM verist_commit('up-wf', 'run-1', 'later', 2, '{}', '[{"type": "third"}, {"type": "fourth"}]');
SELECT version FROM verist_commit('other-wf', 'run-1', 'start', 0, '{}', '[{"type": "same run id, other workflow"}]');
SELECT version FROM verist_commit('up-wf', 'no-events', 'start', 0, '{"x": 1}');
SELECT count(*) FROM verist_resolve_block('up-wf', 'run-1', '{"approved": true}');
SELECT count(*) FROM verist_resolve_block('up-wf', 'run-2', '{"resumeData": {"answer": 1}}');
SELECT overlay FROM verist_set_overlay('up-wf', 'run-1', '{"a": 5}');
SELECT count(*) AS leased FROM verist_lease_outbox('d', 1);
SELECT verist_mark_dispatched(min(id), 'd') FROM verist_outbox WHERE status = 'leased';
SELECT count(*) AS events_0_1, count(DISTINCT (workflow_id, run_id)) AS runs_with_events FROM verist_events;
SELECT md5(string_agg(t::text, '|' ORDER BY t.id)) AS events_before FROM verist_events t \gset
SELECT md5(string_agg(t::text, '|' ORDER BY t.id)) AS outbox_before FROM verist_outbox t \gset

ALTER EXTENSION verist UPDATE TO '0.2.0';
SELECT extversion FROM pg_extension WHERE extname = 'verist';

-- Every event got its per-run sequence in id order, and every run verifies.
SELECT workflow_id, run_id, seq, type FROM verist_events ORDER BY workflow_id, run_id, seq;
SELECT bool_and(seq = n) AS seq_follows_id_order FROM (
    SELECT seq, row_number() OVER (PARTITION BY workflow_id, run_id ORDER BY id) AS n
    FROM verist_events) s;
SELECT s.workflow_id, s.run_id, s.chain_seq, v.valid, v.events_checked
FROM verist_state s, verist_verify_run(s.workflow_id, s.run_id) v ORDER BY 1, 2;
SELECT count(*) AS broken_runs FROM verist_verify_all();
-- The old columns of every row are unchanged; the outbox is untouched.
SELECT md5(string_agg((t.id, t.workflow_id, t.run_id, t.step_id, t.type, t.payload,
                       t.llm_trace, t.created_at)::text, '|' ORDER BY t.id)) = :'events_before'
       AS events_unchanged
FROM verist_events t;
SELECT md5(string_agg(t::text, '|' ORDER BY t.id)) = :'outbox_before' AS outbox_unchanged
FROM verist_outbox t;
-- The append-only guard is back on.
SELECT tgname, tgenabled FROM pg_trigger
WHERE tgrelid = 'verist_events'::regclass AND NOT tgisinternal ORDER BY 1;
DELETE FROM verist_events;

-- New commits extend the upgraded chains.
SELECT version, chain_seq FROM verist_commit('up-wf', 'run-1', 'after', 3, '{}', '[{"type": "fifth"}]');
SELECT version, chain_seq FROM verist_commit('up-wf', 'no-events', 'after', 1, '{}', '[{"type": "first"}]');
SELECT count(*) AS broken_runs FROM verist_verify_all();

-- The catalog at 0.2.0, to compare with a fresh 0.2.0 install below.
SELECT string_agg(line, E'\n') AS upgraded_020 FROM verist_catalog() AS line \gset

-- On to 0.3.0: dispatch functions and views work on the rows older
-- versions wrote; nothing of the chain changes.
ALTER EXTENSION verist UPDATE TO '0.3.0';
SELECT extversion FROM pg_extension WHERE extname = 'verist';
SELECT version FROM verist_commit('up-wf', 'run-3', 'start', 0, '{}', '[{"type": "e"}]',
    '[{"type": "invoke", "step": "flaky"}]');
SELECT id AS flaky_id FROM verist_lease_outbox('d', 10) WHERE command->>'step' = 'flaky' \gset
SELECT status, failures, last_error FROM verist_mark_retry(:flaky_id, 'd', 'timeout', 1);
SELECT status, failures FROM verist_requeue(:flaky_id);
SELECT pending, failed, dispatched FROM verist_outbox_stats;
SELECT workflow_id, run_id, version, pending_commands FROM verist_run_summary ORDER BY 1, 2;
SELECT count(*) AS broken_runs FROM verist_verify_all();
SELECT string_agg(line, E'\n') AS upgraded_030 FROM verist_catalog() AS line \gset

-- On to 0.3.1: the purge procedure becomes C, with the same signature and
-- privileges, and works on the data written so far.
ALTER EXTENSION verist UPDATE TO '0.3.1';
SELECT extversion FROM pg_extension WHERE extname = 'verist';
SELECT l.lanname FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
WHERE p.proname = 'verist_purge_outbox_all';
CALL verist_purge_outbox_all('0 seconds', 1);
SELECT count(*) AS broken_runs FROM verist_verify_all();
SELECT string_agg(line, E'\n') AS upgraded_031 FROM verist_catalog() AS line \gset
SELECT md5(string_agg(t::text, '|' ORDER BY t.workflow_id, t.run_id)) AS state_031
FROM verist_state t \gset

-- On to 0.5.0 (through 0.4.0): every run is adopted into a ledger of
-- its own, whose first entry is the run as found; every run verifies, its
-- history and its state at the adopted version read back, and commits,
-- overlays and resolutions go on as entries after it.
ALTER EXTENSION verist UPDATE TO '0.5.0';
SELECT extversion FROM pg_extension WHERE extname = 'verist';
SELECT md5(string_agg((t.workflow_id, t.run_id, t.version, t.computed, t.overlay, t.created_at,
                       t.updated_at, t.chain_seq, t.chain_hash)::text, '|'
                      ORDER BY t.workflow_id, t.run_id)) = :'state_031' AS state_kept
FROM verist_state t;
SELECT workflow_id, run_id, l.seq, l.kind, l.version, l.events_seq = s.chain_seq AS binds_events,
       jsonb_array_length(l.change->'blocks') AS blocks
FROM verist_ledger l JOIN verist_state s USING (workflow_id, run_id) ORDER BY 1, 2;
SELECT count(*) AS broken_runs FROM verist_verify_all();
SELECT version, computed = (SELECT computed FROM verist_state WHERE run_id = 'run-1' AND workflow_id = 'up-wf') AS computed_ok,
       effective FROM verist_state_at('up-wf', 'run-1', 4);
-- Before adoption, the ledger has nothing to replay: not_found, and why.
SELECT * FROM verist_state_at('up-wf', 'run-1', 2);
SELECT version, ledger_seq FROM verist_commit('up-wf', 'run-1', 'after-040', 4, '{"z": 1}', '[{"type": "sixth"}]');
SELECT ledger_seq FROM verist_set_overlay('up-wf', 'run-1', '{"z": 2}');
SELECT count(*) AS broken_runs FROM verist_verify_all();
SELECT seq, kind, version FROM verist_run_history('up-wf', 'run-1') ORDER BY seq;

-- A 0.5.0 database leased by this library, as between make install and
-- ALTER EXTENSION UPDATE: its outbox has no queued column, and the 0.5.0
-- binding of verist_lease_outbox still leases there, in every mode.
SELECT version FROM verist_commit('up-wf', 'run-050', 'plan', 0, '{}', '[]',
    '[{"type": "emit", "topic": "a"}, {"type": "emit", "topic": "b"},
      {"type": "emit", "topic": "c"}, {"type": "emit", "topic": "d"},
      {"type": "emit", "topic": "e"}]');
SELECT verist_mark_dispatched_batch(array_agg(id), 'up-c') FROM verist_lease_outbox('up-c', 1);
SELECT count(*) AS leased_oldest FROM verist_lease_outbox('up-d', 1, '1 hour');
SELECT count(*) AS leased_fair FROM verist_lease_outbox('up-d', 1, '1 hour', 'fair');
SELECT count(*) AS leased_per_run FROM verist_lease_outbox('up-d', 1, '1 hour', 'per_run');
SELECT status, count(*) FROM verist_outbox GROUP BY status ORDER BY status;
SELECT md5(string_agg((o.id, o.workflow_id, o.run_id, o.step_id, o.command, o.dedupe_key, o.status,
                       o.lease_owner, o.lease_expires_at, o.failures, o.last_error, o.created_at,
                       o.dispatched_at)::text, '|' ORDER BY o.id)) AS outbox_050
FROM verist_outbox o \gset

-- On to 0.6.0 (the default version): the outbox is rewritten with queued,
-- every row as it was; rows leased before stay leased to their owner (not
-- leasable again before their lease ends), the others lease HOT.
ALTER EXTENSION verist UPDATE;
SELECT extversion FROM pg_extension WHERE extname = 'verist';
SELECT md5(string_agg((o.id, o.workflow_id, o.run_id, o.step_id, o.command, o.dedupe_key, o.status,
                       o.lease_owner, o.lease_expires_at, o.failures, o.last_error, o.created_at,
                       o.dispatched_at)::text, '|' ORDER BY o.id)) = :'outbox_050' AS outbox_kept
FROM verist_outbox o;
SELECT status, queued, count(*) FROM verist_outbox GROUP BY status, queued ORDER BY status;
SELECT reloptions FROM pg_class WHERE relname = 'verist_outbox';
BEGIN;
SELECT pg_stat_get_xact_tuples_updated('verist_outbox'::regclass) AS upd0,
       pg_stat_get_xact_tuples_hot_updated('verist_outbox'::regclass) AS hot0 \gset
SELECT count(*) FILTER (WHERE lease_owner = 'up-d') AS taken_again_from_up_d, count(*) AS leased
FROM verist_lease_outbox('up-e', 100, '1 hour');
SELECT pg_stat_get_xact_tuples_updated('verist_outbox'::regclass) - :upd0 AS updated,
       pg_stat_get_xact_tuples_hot_updated('verist_outbox'::regclass) - :hot0 AS hot_updated;
COMMIT;
SELECT count(*) AS broken_runs FROM verist_verify_all();

-- The catalog of the upgraded database.
SELECT string_agg(line, E'\n') AS upgraded FROM verist_catalog() AS line \gset

-- A fresh 0.2.0 install, for the 0.2.0 comparison.
CREATE DATABASE verist_fresh_020;
\c verist_fresh_020
SET client_min_messages = warning;
CREATE EXTENSION verist VERSION '0.2.0';
SELECT :'catalog_function' \gexec
SELECT md5(string_agg(line, E'\n')) = md5(:'upgraded_020') AS upgraded_020_identical_to_fresh_020
FROM verist_catalog() AS line;
(SELECT 'only upgraded: ' || l FROM regexp_split_to_table(:'upgraded_020', E'\n') AS l
 EXCEPT SELECT 'only upgraded: ' || l FROM verist_catalog() AS l)
UNION ALL
(SELECT 'only fresh: ' || l FROM verist_catalog() AS l
 EXCEPT SELECT 'only fresh: ' || l FROM regexp_split_to_table(:'upgraded_020', E'\n') AS l);

-- A fresh 0.3.1 install, for the 0.3.1 comparison.
CREATE DATABASE verist_fresh_031;
\c verist_fresh_031
SET client_min_messages = warning;
CREATE EXTENSION verist VERSION '0.3.1';
SELECT :'catalog_function' \gexec
SELECT md5(string_agg(line, E'\n')) = md5(:'upgraded_031') AS upgraded_031_identical_to_fresh_031
FROM verist_catalog() AS line;
(SELECT 'only upgraded: ' || l FROM regexp_split_to_table(:'upgraded_031', E'\n') AS l
 EXCEPT SELECT 'only upgraded: ' || l FROM verist_catalog() AS l)
UNION ALL
(SELECT 'only fresh: ' || l FROM verist_catalog() AS l
 EXCEPT SELECT 'only fresh: ' || l FROM regexp_split_to_table(:'upgraded_031', E'\n') AS l);

-- A fresh 0.3.0 install, for the 0.3.0 comparison.
CREATE DATABASE verist_fresh_030;
\c verist_fresh_030
SET client_min_messages = warning;
CREATE EXTENSION verist VERSION '0.3.0';
SELECT :'catalog_function' \gexec
SELECT md5(string_agg(line, E'\n')) = md5(:'upgraded_030') AS upgraded_030_identical_to_fresh_030
FROM verist_catalog() AS line;
(SELECT 'only upgraded: ' || l FROM regexp_split_to_table(:'upgraded_030', E'\n') AS l
 EXCEPT SELECT 'only upgraded: ' || l FROM verist_catalog() AS l)
UNION ALL
(SELECT 'only fresh: ' || l FROM verist_catalog() AS l
 EXCEPT SELECT 'only fresh: ' || l FROM regexp_split_to_table(:'upgraded_030', E'\n') AS l);

\c :home
SET client_min_messages = warning;
DROP DATABASE verist_upgrade;
DROP DATABASE verist_fresh_020;
DROP DATABASE verist_fresh_030;
DROP DATABASE verist_fresh_031;
SELECT extversion FROM pg_extension WHERE extname = 'verist';
SELECT count(*) > 50 AS catalog_described,
       md5(string_agg(line, E'\n')) = md5(:'upgraded') AS identical_to_fresh_install
FROM verist_catalog() AS line;
-- Any difference, line by line (none expected).
(SELECT 'only upgraded: ' || l FROM regexp_split_to_table(:'upgraded', E'\n') AS l
 EXCEPT SELECT 'only upgraded: ' || l FROM verist_catalog() AS l)
UNION ALL
(SELECT 'only fresh: ' || l FROM verist_catalog() AS l
 EXCEPT SELECT 'only fresh: ' || l FROM regexp_split_to_table(:'upgraded', E'\n') AS l);
DROP FUNCTION verist_catalog();
