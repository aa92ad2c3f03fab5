-- ledger bench, create path: a new run, one call (output ~1 KB, 2 events,
-- 1 emit command).  Commit g = client_id + nclients * (n - 1); run base + g
-- (base: -D base=..., distinct for every load that shares a database).
\set n :n + 1
\set g :client_id + :nclients * (:n - 1)
\set rid :base + :g
SELECT * FROM verist_commit('bench-wf', :rid, 'extract', 0, :output, :events, :commands);
