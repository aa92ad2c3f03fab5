-- The state of run sa-1 right after version :v (-D v=...), every column.
SELECT * FROM verist_state_at('sa-wf', 'sa-1', :v);
