-- A digest of everything the commits wrote, without ids, timestamps and the
-- chain hashes (they cover the timestamp, which differs between variants),
-- followed by the number of runs whose hash chain does not verify.  Equal
-- digests and 0 broken chains: the variants stored the same rows.
SELECT md5(string_agg(x, E'\n' ORDER BY x)) || ' broken_chains=' ||
       (SELECT count(*) FROM verist_verify_all())
FROM (
    SELECT concat_ws('|', 's', workflow_id, run_id, version, computed, overlay, chain_seq) AS x
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
) AS rows;
