-- One run of 1,000 versions (pgbench, 1 client, -t 1000): commit n moves it
-- from version n - 1 to n with the ~1 KB output (one key changing with every
-- step), 2 events and 1 emit command; every 100th commit (50, 150, ...) is
-- followed by a human correction (verist_set_overlay), so the ledger holds
-- 1,000 commits and 10 overlays.  Extended protocol (-M extended).
\set n :n + 1
\set prev :n - 1
SELECT version FROM verist_commit('sa-wf', 'sa-1', :n, :prev,
    :output::jsonb || jsonb_build_object('step', :n::int, 'checkedAt', clock_timestamp()),
    :events, :commands);
\if :n % 100 = 50
SELECT version FROM verist_set_overlay('sa-wf', 'sa-1',
    jsonb_build_object('reviewedBy', 'clerk-' || :n::text, 'needsReview', false,
                       'note', 'checked by hand after step ' || :n::text));
\endif
