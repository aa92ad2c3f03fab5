-- For comparison: verifying the whole run (events, ledger, state).
SELECT * FROM verist_verify_run('sa-wf', 'sa-1');
