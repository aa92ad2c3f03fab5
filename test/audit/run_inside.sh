#!/usr/bin/env bash
# The audit suite's body, run by test/suites/audit.sh inside a throwaway
# cluster (pg_virtualenv sets the PG* variables).  Prints "ok - ..." and
# "not ok - ..." lines.
set -uo pipefail
cd "$(dirname "$0")/../.."
PY=$1
out=test/out/audit
rm -rf "$out"; mkdir -p "$out"
chmod 777 "$out"

ok() { echo "ok - $1"; }
notok() { echo "not ok - $1"; }
psql_() { psql -X -q -v ON_ERROR_STOP=1 "$@"; }

export_chain() {   # export_chain DIR: the two CSV files of README "Audit chain"
    mkdir -p "$1"
    psql_ -c "\\copy (SELECT workflow_id, run_id, seq, step_id, type, payload, llm_trace,
                            (extract(epoch FROM created_at) * 1000000)::bigint AS ts, hash
                     FROM verist_events ORDER BY workflow_id, run_id, seq, id)
              TO '$1/events.csv' CSV HEADER" &&
    psql_ -c "\\copy (SELECT workflow_id, run_id, chain_seq, chain_hash FROM verist_state)
              TO '$1/heads.csv' CSV HEADER"
}

verify() {   # verify DIR EXPECT_RC LABEL [GREP]: run the auditor's script on an export
    local dir=$1 want=$2 label=$3 pattern=${4:-}
    "$PY" test/audit/verify_chain.py "$dir/events.csv" "$dir/heads.csv" \
        ${EVENT_ANCHORS:+--event-anchors "$EVENT_ANCHORS"} > "$dir/verify.out" 2>&1
    local rc=$?
    sed 's/^/#   /' "$dir/verify.out"
    if [ "$rc" -eq "$want" ] && { [ -z "$pattern" ] || grep -qE "$pattern" "$dir/verify.out"; }; then
        ok "$label"
    else
        notok "$label (exit $rc)"
    fi
}

export_runs() {   # export_runs DIR: every run as one document per line, and the seals (0.4.0)
    mkdir -p "$1"
    psql_ -Atc "SELECT verist_export_run(workflow_id, run_id) FROM verist_state
                ORDER BY workflow_id, run_id" > "$1/runs.jsonl" &&
    psql_ -c "\\copy (SELECT seq, workflow_id, run_id, version, ledger_seq, ledger_hash,
                             events_seq, events_hash, document_hash, role, session_role, actor,
                             (extract(epoch FROM retired_at) * 1000000)::bigint AS retired_at, hash
                      FROM verist_retired ORDER BY seq) TO '$1/seals.csv' CSV HEADER"
}

verify_runs() {   # verify_runs DIR EXPECT_RC LABEL GREP [OPTIONS]: the document mode
    local dir=$1 want=$2 label=$3 pattern=$4
    shift 4
    "$PY" test/audit/verify_chain.py --runs "$dir/runs.jsonl" --seals "$dir/seals.csv" "$@" \
        > "$dir/verify_runs.out" 2>&1
    local rc=$?
    sed 's/^/#   /' "$dir/verify_runs.out"
    if [ "$rc" -eq "$want" ] && grep -qE "$pattern" "$dir/verify_runs.out"; then
        ok "$label"
    else
        notok "$label (exit $rc)"
    fi
}

# The canonicaliser of the script agrees with the JavaScript vectors.
"$PY" test/audit/verify_chain.py --vectors test/vectors/dedupe_keys.jsonl | sed 's/^/# /'
[ "${PIPESTATUS[0]}" -eq 0 ] && ok "verify_chain.py canonical JSON matches the dedupe-key vectors" \
                             || notok "verify_chain.py canonical JSON matches the dedupe-key vectors"

# Runs with everything the hash must cover: unicode, escapes, numbers at the
# edges of double precision, nested payloads, traces, many commits.
psql_ <<'EOF' > "$out/load.log" 2>&1
CREATE EXTENSION verist;
SELECT verist_commit('audit', 'r1', 'extract', 0, '{}',
  $$[{"type": "extracted", "payload": {"b": [1.0, 1e21, 1e-7, -0, 0.1, 123456789012345678901,
      9007199254740993, 5e-324, 1.7976931348623157e308], "a": {"10": 1, "9": 2, "x": null}}},
     {"type": "llm-call", "payload": null, "llmTrace": {"model": "m", "inputHash": "sha256:1",
      "outputHash": "sha256:2", "promptTokens": 12, "completionTokens": 3, "durationMs": 45.25,
      "input": "quote \" backslash \\ newline \n tab \t \u0001", "output": "Grüße 日本語 😀 \u2028"}}]$$);
SELECT verist_commit('audit', 'r1', 'verify', 1, '{}', '[{"type": "verified"}, {"type": "ü～😀"}]');
SELECT verist_commit('audit', 'r1', 'noop', 2, '{}');
SELECT verist_commit('audit', 'wf/é "q"', 'run\1', 0, '{}', '[{"type": "odd ids"}]');
SELECT verist_commit('audit', 'no-events', 's', 0, '{}');
-- 0.3.1: what the chain's form keeps that JavaScript's loses -- numbers
-- beyond the double range, "__proto__" members -- and 12,000 levels of nesting.
SELECT verist_commit('audit', 'edges', 's', 0, '{}',
  $$[{"type": "big", "payload": {"x": 1e400, "y": [-2.50e309, 1.5e-400], "z": 1234.5678e400}},
     {"type": "proto", "payload": {"__proto__": {"k": 1}, "a": {"__proto__": null}}}]$$);
SELECT verist_commit('audit', 'edges', 's2', 1, '{}', jsonb_build_array(jsonb_build_object(
  'type', 'deep', 'payload', (repeat('{"a":[', 6000) || '1' || repeat(']}', 6000))::jsonb)));
DO $$
BEGIN
  FOR i IN 0..199 LOOP
    PERFORM verist_commit('audit', 'bulk-' || (i % 20), 's' || i, i / 20,
      '{}', jsonb_build_array(jsonb_build_object('type', 'e', 'payload', jsonb_build_object('i', i, 'f', i / 7.0))));
  END LOOP;
END $$;
EOF
[ $? -eq 0 ] && ok "runs committed through verist_commit" || { notok "runs committed"; cat "$out/load.log"; }

broken=$(psql_ -Atc "SELECT count(*) FROM verist_verify_all()")
[ "$broken" = 0 ] && ok "verist_verify_all: every run intact in the database" \
                  || notok "verist_verify_all: $broken broken runs"

export_chain "$out/intact" && verify "$out/intact" 0 "verify_chain.py re-verifies every run of the export" "0 broken"

# Anchors: the digests an operator records outside the database -- the
# ledger heads verist_run_digest gives (0.4.0), and the event-chain heads
# the CSV mode of 0.2.0-0.3.x checks.
psql_ -c "\\copy (SELECT s.workflow_id, s.run_id, d.seq, d.hash FROM verist_state s,
                  verist_run_digest(s.workflow_id, s.run_id) d) TO '$out/anchors.csv' CSV HEADER"
psql_ -c "\\copy (SELECT workflow_id, run_id, chain_seq AS seq, chain_hash AS hash FROM verist_state)
          TO '$out/event_anchors.csv' CSV HEADER"

# Tampering, each undone before the next; the script must name run and seq.
tamper() {   # tamper LABEL SQL EXPECTED_PATTERN
    local dir="$out/$1"
    psql_ -c "BEGIN; ALTER TABLE verist_events DISABLE TRIGGER verist_events_append_only; $2;
              ALTER TABLE verist_events ENABLE TRIGGER verist_events_append_only;" \
          -c "\\copy (SELECT workflow_id, run_id, seq, step_id, type, payload, llm_trace,
                            (extract(epoch FROM created_at) * 1000000)::bigint AS ts, hash
                     FROM verist_events ORDER BY workflow_id, run_id, seq, id)
              TO '$dir.events.csv' CSV HEADER" \
          -c "\\copy (SELECT workflow_id, run_id, chain_seq, chain_hash FROM verist_state)
              TO '$dir.heads.csv' CSV HEADER" \
          -c "ROLLBACK" >/dev/null 2>&1 || { notok "tamper $1: SQL failed"; return; }
    mkdir -p "$dir"; mv "$dir.events.csv" "$dir/events.csv"; mv "$dir.heads.csv" "$dir/heads.csv"
    verify "$dir" 1 "tampering caught by the script: $1" "$3"
}
tamper edit-payload \
    "UPDATE verist_events SET payload = jsonb_set(payload, '{a,x}', '1') WHERE run_id = 'r1' AND seq = 1" \
    "BROKEN audit r1 at seq 1: hash mismatch"
tamper edit-number-in-trace \
    "UPDATE verist_events SET llm_trace = jsonb_set(llm_trace, '{promptTokens}', '13') WHERE run_id = 'r1' AND seq = 2" \
    "BROKEN audit r1 at seq 2: hash mismatch"
tamper delete-event \
    "DELETE FROM verist_events WHERE run_id = 'bulk-3' AND seq = 4" \
    "BROKEN audit bulk-3 at seq 4: missing event"
tamper reorder \
    "UPDATE verist_events SET seq = 7 - seq WHERE run_id = 'bulk-5' AND seq IN (3, 4)" \
    "BROKEN audit bulk-5 at seq 3: hash mismatch"
tamper rewind-head \
    "UPDATE verist_state s SET chain_seq = 8, chain_hash = e.hash FROM verist_events e
     WHERE s.run_id = 'bulk-7' AND e.run_id = 'bulk-7' AND e.seq = 8" \
    "BROKEN audit bulk-7 at seq 9: event beyond chain head"

# 0.4.0: whole runs.  A run with human actions and actors, then every run
# exported as documents and re-verified offline: events, ledger, replayed
# state, blocks.
psql_ -q <<'SQL' > "$out/load_ledger.log" 2>&1
SELECT verist_commit('audit', 'human', 'extract', 0, '{"amount": 120.50, "vendor": "Ünïcode GmbH"}',
  '[{"type": "extracted"}]', '[{"type": "review", "reason": "amount over 100", "payload": {"amount": 120.5}}]');
BEGIN; SET LOCAL verist.actor = 'alice@example.com';
SELECT verist_set_overlay('audit', 'human', '{"amount": 125}');
COMMIT;
BEGIN; SET LOCAL verist.actor = 'bob@example.com';
SELECT verist_resolve_block('audit', 'human', '{"approved": true, "note": "checked the invoice"}');
COMMIT;
SELECT verist_commit('audit', 'human', 'pay', 1, '{"paid": true}', '[{"type": "paid"}]',
  '[{"type": "suspend", "reason": "wait for bank", "resumeStep": "confirm"}]');
SELECT verist_resolve_block('audit', 'human', '{"resumeData": {"bank": "ok"}}');
SELECT verist_commit('audit', 'done', 's', 0, '{"x": 1}', '[{"type": "e"}]');
SQL
[ $? -eq 0 ] && ok "a run with overlays, reviews, resolutions and actors committed" ||
    { notok "ledger load"; cat "$out/load_ledger.log"; }
psql_ -c "\\copy (SELECT s.workflow_id, s.run_id, d.seq, d.hash FROM verist_state s,
                  verist_run_digest(s.workflow_id, s.run_id) d) TO '$out/anchors.csv' CSV HEADER"
export_runs "$out/runs-intact"
verify_runs "$out/runs-intact" 0 "verify_chain.py --runs re-verifies every run's events, ledger, state and blocks" \
    "^[0-9]+ runs, [0-9]+ events and [0-9]+ ledger entries verified, 0 broken" --anchors "$out/anchors.csv"

# Tampering with what 0.2.0's chain did not cover, each undone: the script
# names the run and the ledger entry.
tamper_doc() {   # tamper_doc LABEL SQL EXPECTED_PATTERN
    local dir="$out/doc-$1"
    mkdir -p "$dir"
    psql_ -Atq -c "BEGIN" \
          -c "ALTER TABLE verist_ledger DISABLE TRIGGER verist_ledger_append_only" -c "$2" \
          -c "SELECT verist_export_run(workflow_id, run_id) FROM verist_state ORDER BY 1" \
          -c "ROLLBACK" > "$dir/runs.jsonl" 2> "$dir/err" ||
        { notok "tamper $1: SQL failed"; cat "$dir/err"; return; }
    cp "$out/runs-intact/seals.csv" "$dir/seals.csv"
    verify_runs "$dir" 1 "tampering caught by the script: $1" "$3"
}
tamper_doc edit-output "UPDATE verist_state SET computed = computed || '{\"amount\": 1}' WHERE run_id = 'human'" \
    "BROKEN audit human at seq 5: ledger: computed differs"
tamper_doc edit-correction "UPDATE verist_state SET overlay = '{\"amount\": 99}' WHERE run_id = 'human'" \
    "BROKEN audit human at seq 5: ledger: overlay differs"
tamper_doc flip-approval "UPDATE verist_blocks SET resolution = '{\"approved\": false}' WHERE run_id = 'human' AND type = 'review'" \
    "BROKEN audit human at seq 3: ledger: block resolution differs"
tamper_doc edit-review-payload "UPDATE verist_blocks SET payload = '{\"amount\": 1}' WHERE run_id = 'human' AND type = 'review'" \
    "BROKEN audit human at seq 1: ledger: block differs"
tamper_doc rewrite-actor "UPDATE verist_ledger SET actor = 'mallory@example.com' WHERE run_id = 'human' AND seq = 3" \
    "BROKEN audit human at seq 3: ledger: hash mismatch"
tamper_doc drop-entry "DELETE FROM verist_ledger WHERE run_id = 'human' AND seq = 2" \
    "BROKEN audit human at seq 2: ledger: missing entry"
tamper_doc roll-back-version "UPDATE verist_state SET version = 1 WHERE run_id = 'human'" \
    "BROKEN audit human at seq 5: ledger: version differs"

# Retirement: the archived document and its seal verify; a run deleted
# without one is told apart; a seal or an archive altered shows.
if psql_ -Atc "SELECT verist_retire_run('audit', 'done')" > "$out/retired.jsonl" &&
   export_runs "$out/runs-retired"; then
    verify_runs "$out/runs-retired" 0 "a retired run: its archived document matches its seal, its anchor reads retired" \
        "RETIRED audit done: archived document matches seal 1" \
        --archived "$out/retired.jsonl" --anchors "$out/anchors.csv"
    grep -q " 0 broken" "$out/runs-retired/verify_runs.out" && ok "... and nothing else is reported broken" ||
        notok "... and nothing else is reported broken"
else
    notok "verist_retire_run('audit', 'done') and the export after it"
fi
mkdir -p "$out/runs-deleted"
psql_ -Atq -c "BEGIN" -c "ALTER TABLE verist_events DISABLE TRIGGER verist_events_append_only" \
      -c "ALTER TABLE verist_ledger DISABLE TRIGGER verist_ledger_append_only" \
      -c "DELETE FROM verist_events WHERE run_id = 'no-events'" \
      -c "DELETE FROM verist_ledger WHERE run_id = 'no-events'" \
      -c "DELETE FROM verist_state WHERE run_id = 'no-events'" \
      -c "SELECT verist_export_run(workflow_id, run_id) FROM verist_state" \
      -c "ROLLBACK" > "$out/runs-deleted/runs.jsonl"
cp "$out/runs-retired/seals.csv" "$out/runs-deleted/seals.csv"
verify_runs "$out/runs-deleted" 1 "a run deleted without a seal is told apart from a retired one" \
    "BROKEN audit no-events at seq 1: run deleted: anchored, not in the export, no seal" \
    --archived "$out/retired.jsonl" --anchors "$out/anchors.csv"
mkdir -p "$out/seal-edited"; cp "$out/runs-retired/runs.jsonl" "$out/seal-edited/"
"$PY" -c 'import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
rows[0]["actor"] = "mallory@example.com"
w = csv.DictWriter(open(sys.argv[2], "w", newline=""), fieldnames=list(rows[0]))
w.writeheader(); w.writerows(rows)' "$out/runs-retired/seals.csv" "$out/seal-edited/seals.csv"
verify_runs "$out/seal-edited" 1 "an altered seal is caught" \
    "BROKEN \(seals\) verist_retired at seq 1: seal: hash mismatch" --archived "$out/retired.jsonl"
sed 's/"x": 1/"x": 2/' "$out/retired.jsonl" > "$out/retired-edited.jsonl"
verify_runs "$out/runs-retired" 1 "an altered archive is caught" \
    "BROKEN audit done at seq 1: ledger: computed differs" --archived "$out/retired-edited.jsonl"

# A rewrite of a run's event chain, hashes and head recomputed: 0.2.0's
# chain alone could not tell inside the database; the ledger (0.4.0) names
# the event heads it saw, so verist_verify_run catches it.  The CSV mode
# catches it against the event anchors.
rewrite_events='
ALTER TABLE verist_events DISABLE TRIGGER verist_events_append_only;
UPDATE verist_events SET type = $$rewritten$$ WHERE run_id = $$bulk-9$$ AND seq = 2;
DO $$
DECLARE e record; prev text := verist_chain_genesis($q$audit$q$, $q$bulk-9$q$);
BEGIN
  FOR e IN SELECT * FROM verist_events WHERE run_id = $q$bulk-9$q$ ORDER BY seq LOOP
    prev := verist_event_hash(prev, e.workflow_id, e.run_id, e.step_id, e.type, e.payload,
                              e.llm_trace, e.seq, e.created_at);
    UPDATE verist_events SET hash = prev WHERE id = e.id;
  END LOOP;
  UPDATE verist_state SET chain_hash = prev WHERE run_id = $q$bulk-9$q$;
END $$;
ALTER TABLE verist_events ENABLE TRIGGER verist_events_append_only;'
# ... and the ledger rewritten too: every entry's events head and hash, and
# the run's ledger head.  Self-consistent inside the database; only an
# anchor recorded earlier shows it.
rewrite_ledger='
ALTER TABLE verist_ledger DISABLE TRIGGER verist_ledger_append_only;
DO $$
DECLARE l record; prev text := verist_ledger_genesis($q$audit$q$, $q$bulk-9$q$); ev text;
BEGIN
  FOR l IN SELECT * FROM verist_ledger WHERE run_id = $q$bulk-9$q$ ORDER BY seq LOOP
    SELECT hash INTO ev FROM verist_events WHERE run_id = $q$bulk-9$q$ AND seq = l.events_seq;
    prev := verist_ledger_entry_hash(prev, ev, jsonb_build_object(
        $q$actor$q$, l.actor, $q$at$q$, jsonb_build_object($q$seq$q$, l.seq, $q$version$q$, l.version),
        $q$block$q$, l.block, $q$change$q$, l.change, $q$input$q$, l.input, $q$kind$q$, l.kind,
        $q$role$q$, l.role, $q$runId$q$, l.run_id, $q$sessionRole$q$, l.session_role,
        $q$stepId$q$, l.step_id, $q$ts$q$, (extract(epoch FROM l.created_at) * 1000000)::bigint,
        $q$workflowId$q$, l.workflow_id));
    UPDATE verist_ledger SET events_hash = ev, hash = prev
     WHERE run_id = l.run_id AND workflow_id = l.workflow_id AND seq = l.seq;
  END LOOP;
  UPDATE verist_state SET ledger_hash = prev WHERE run_id = $q$bulk-9$q$;
END $$;
ALTER TABLE verist_ledger ENABLE TRIGGER verist_ledger_append_only;'
inside=$(psql_ -Atc "BEGIN" -c "$rewrite_events" \
    -c "SELECT first_broken_seq || ': ' || reason FROM verist_verify_run('audit', 'bulk-9')" -c "ROLLBACK" \
    2>&1 | grep -v '^ALTER\|^UPDATE\|^DO\|^BEGIN\|^ROLLBACK')
[ "$inside" = "2: ledger: events head mismatch" ] &&
    ok "an event chain rewritten with its head is caught inside the database, by the ledger" ||
    notok "an event chain rewritten with its head is caught inside the database ($inside)"
psql_ -q -c "BEGIN" -c "$rewrite_events" -c "$rewrite_ledger" -c "COMMIT" > /dev/null
inside=$(psql_ -Atc "SELECT valid FROM verist_verify_run('audit', 'bulk-9')")
[ "$inside" = t ] && ok "a full rewrite of a run's events and ledger is self-consistent inside the database (as documented)" \
                  || notok "full rewrite check setup (valid=$inside)"
export_chain "$out/rewritten"
EVENT_ANCHORS=$out/event_anchors.csv verify "$out/rewritten" 1 \
    "the CSV mode catches the rewritten events against the event anchors" \
    "BROKEN audit bulk-9 at seq 10: anchored digest not on the chain"
export_runs "$out/rewritten"
verify_runs "$out/rewritten" 1 "the document mode catches the rewrite against the ledger anchors" \
    "BROKEN audit bulk-9 at seq 10: anchored digest not on the ledger" --anchors "$out/anchors.csv"
verify_runs "$out/rewritten" 0 "... and, without anchors, finds the rewrite self-consistent (as documented)" \
    "0 broken"

# Backups keep every run: pg_dump (verist's tables are registered with
# pg_extension_config_dump), restore into a new database, and the restored
# chains verify, the rows are the same, and ids go on from where they were.
src_db=$(psql_ -Atc "SELECT current_database()")
fingerprint="SELECT md5(concat_ws('|',
    (SELECT string_agg(t::text, ',' ORDER BY t.workflow_id, t.run_id) FROM verist_state t),
    (SELECT string_agg(t::text, ',' ORDER BY t.id) FROM verist_events t),
    (SELECT string_agg(t::text, ',' ORDER BY t.id) FROM verist_outbox t),
    (SELECT string_agg(t::text, ',' ORDER BY t.id) FROM verist_blocks t),
    (SELECT string_agg(t::text, ',' ORDER BY t.workflow_id, t.run_id, t.seq) FROM verist_ledger t),
    (SELECT string_agg(t::text, ',' ORDER BY t.seq) FROM verist_retired t)))"
before=$(psql_ -Atc "$fingerprint")
pg_dump --no-owner "$src_db" > "$out/dump.sql" 2> "$out/dump.err" &&
    createdb verist_restored && psql_ -d verist_restored -f "$out/dump.sql" > "$out/restore.log" 2>&1
if [ $? -eq 0 ]; then
    after=$(psql_ -d verist_restored -Atc "$fingerprint")
    broken=$(psql_ -d verist_restored -Atc "SELECT count(*) FROM verist_verify_all()")
    old_max=$(psql_ -d verist_restored -Atc "SELECT max(id) FROM verist_events")
    psql_ -d verist_restored -Atc "SELECT verist_commit('audit', 'after-restore', 's', 0, '{}',
                                                        '[{\"type\": \"new\"}]')" > /dev/null
    next=$(psql_ -d verist_restored -Atc "SELECT min(id) > $old_max FROM verist_events
                                          WHERE run_id = 'after-restore'")
    [ "$before" = "$after" ] && [ "$broken" = 0 ] && [ "$next" = t ] &&
        ok "pg_dump and restore keep every row, the chains verify, ids continue" ||
        notok "pg_dump/restore: rows equal=$([ "$before" = "$after" ] && echo yes || echo no), broken=$broken, ids continue=$next"
else
    notok "pg_dump and restore ran"; cat "$out/dump.err" "$out/restore.log" | tail -20
fi

# verist_verify_all's memory does not grow with the number of runs.
"$PY" test/audit/verify_memory.py --runs "${MEMORY_RUNS:-10000}"

# Gap-free reading under concurrent writers.
"$PY" test/audit/tail_check.py --writers 4 --seconds "${TAIL_SECONDS:-8}"
