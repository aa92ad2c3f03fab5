-- The 240 runs of the update path at version 1, as verist_commit('bench-wf',
-- run, '1', 0, output) would write them but at the fixed time
-- 2025-01-01 00:00:00+00 and role 'postgres' (lib/reset.sql says why): the
-- state row with an empty event chain and ledger head 1, and ledger entry 1.
-- psql variables: output, init_input (the entry's input fingerprint).
-- Included by reset.sql (\ir); profile_gen.py reads it and puts the two
-- variables in as literals, so both write exactly these rows.
INSERT INTO verist_state (workflow_id, run_id, version, computed, overlay, chain_seq, chain_hash,
                          ledger_seq, ledger_hash)
SELECT 'bench-wf', r.run_id, 1, :'output'::jsonb, '{}'::jsonb,
       0, verist_chain_genesis('bench-wf', r.run_id),
       1, verist_ledger_entry_hash(
              verist_ledger_genesis('bench-wf', r.run_id), verist_chain_genesis('bench-wf', r.run_id),
              jsonb_build_object(
                  'actor', NULL, 'at', jsonb_build_object('seq', 1, 'version', 1),
                  'block', NULL, 'change', :'output'::jsonb, 'input', :'init_input',
                  'kind', 'commit', 'role', 'postgres', 'runId', r.run_id,
                  'sessionRole', 'postgres', 'stepId', '1',
                  'ts', (extract(epoch FROM '2025-01-01 00:00:00+00'::timestamptz) * 1000000)::bigint,
                  'workflowId', 'bench-wf'))
FROM (SELECT (2000000000 + i)::text AS run_id FROM generate_series(0, 239) AS i) AS r;
INSERT INTO verist_ledger (workflow_id, run_id, seq, kind, version, step_id, block, change, input,
                           role, session_role, actor, events_seq, events_hash, created_at, hash)
SELECT workflow_id, run_id, 1, 'commit', 1, '1', NULL, computed, :'init_input',
       'postgres', 'postgres', NULL, chain_seq, chain_hash, '2025-01-01 00:00:00+00', ledger_hash
FROM verist_state;
