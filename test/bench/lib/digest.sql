-- A digest of everything the commits wrote, without ids, timestamps and the
-- hashes that cover a timestamp (they differ between variants: verist stamps
-- events and ledger entries with now(), the client pattern and the floor
-- with the fixed time their precomputed hashes cover): the events' hashes,
-- the chain heads, the ledger entries' hashes, the ledger heads, and the
-- entries' events_hash (an event hash).  Ledger entries are compared with
-- everything else: kind, version, step, block, change, input fingerprint,
-- roles, actor, the event seq they bind.  Followed by the number of runs
-- that verist_verify_all() reports broken (event chain, ledger, state and
-- blocks against the ledger).  Equal digests and 0 broken chains: the
-- variants stored the same rows, and every hash of theirs verifies.
SELECT md5(string_agg(x, E'\n' ORDER BY x)) || ' broken_chains=' ||
       (SELECT count(*) FROM verist_verify_all())
FROM (
    SELECT concat_ws('|', 's', workflow_id, run_id, version, computed, overlay, chain_seq,
                     ledger_seq) AS x
    FROM verist_state
    UNION ALL
    SELECT concat_ws('|', 'e', workflow_id, run_id, step_id, seq,
                     row_number() OVER (PARTITION BY workflow_id, run_id, step_id ORDER BY id),
                     type, coalesce(payload::text, 'NULL'), coalesce(llm_trace::text, 'NULL'))
    FROM verist_events
    UNION ALL
    SELECT concat_ws('|', 'o', workflow_id, run_id, step_id, command, dedupe_key, status,
                     failures, coalesce(lease_owner, 'NULL'))
    FROM verist_outbox
    UNION ALL
    SELECT concat_ws('|', 'l', workflow_id, run_id, seq, kind, version,
                     coalesce(step_id, 'NULL'), coalesce(block::text, 'NULL'),
                     coalesce(change::text, 'NULL'), coalesce(input, 'NULL'), role, session_role,
                     coalesce(actor, 'NULL'), events_seq)
    FROM verist_ledger
) AS rows;
