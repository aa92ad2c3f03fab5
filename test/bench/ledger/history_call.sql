-- Every ledger entry of run sa-1 (1,010 rows), every column, to the client.
SELECT * FROM verist_run_history('sa-wf', 'sa-1');
