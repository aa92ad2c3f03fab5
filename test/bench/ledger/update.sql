-- ledger bench, update path: the next step of an existing run at its known
-- version (as test/bench/scripts/verist_update.sql).  Commit g = client_id +
-- nclients * (n - 1) goes to run g mod 240, which only this client touches
-- (240 is a multiple of every client count), at version g / 240 + 1.
\set n :n + 1
\set g :client_id + :nclients * (:n - 1)
\set rid 2000000000 + :g % 240
\set v :g / 240 + 1
\set sid :v + 1
SELECT * FROM verist_commit('bench-wf', :rid, :sid, :v, :output, :events, :commands);
