-- For comparison: the run's current state row (verist_load).
SELECT * FROM verist_load('sa-wf', 'sa-1');
