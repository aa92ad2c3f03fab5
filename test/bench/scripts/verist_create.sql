-- verist, create path: a new run with 3 events (one with an llmTrace) and
-- 2 invoke commands, one call.  Commit g = client_id + nclients * (n - 1).
\set n :n + 1
\set g :client_id + :nclients * (:n - 1)
\set rid 1000000000 + :g
SELECT * FROM verist_commit('bench-wf', :rid, 'extract', 0, :output, :events, :commands);
