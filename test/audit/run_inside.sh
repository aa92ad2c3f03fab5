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
        ${ANCHORS:+--anchors "$ANCHORS"} > "$dir/verify.out" 2>&1
    local rc=$?
    sed 's/^/#   /' "$dir/verify.out"
    if [ "$rc" -eq "$want" ] && { [ -z "$pattern" ] || grep -qE "$pattern" "$dir/verify.out"; }; then
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

# Anchors: the digests an operator records outside the database.
psql_ -c "\\copy (SELECT s.workflow_id, s.run_id, d.seq, d.hash FROM verist_state s,
                  verist_run_digest(s.workflow_id, s.run_id) d) TO '$out/anchors.csv' CSV HEADER"

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

# A rewrite that recomputes the whole chain and head of a run passes every
# check inside the database -- but not against an anchor recorded earlier.
psql_ -q <<'EOF' >/dev/null
BEGIN;
ALTER TABLE verist_events DISABLE TRIGGER verist_events_append_only;
UPDATE verist_events SET type = 'rewritten' WHERE run_id = 'bulk-9' AND seq = 2;
DO $$
DECLARE e record; prev text := verist_chain_genesis('audit', 'bulk-9');
BEGIN
  FOR e IN SELECT * FROM verist_events WHERE run_id = 'bulk-9' ORDER BY seq LOOP
    prev := verist_event_hash(prev, e.workflow_id, e.run_id, e.step_id, e.type, e.payload,
                              e.llm_trace, e.seq, e.created_at);
    UPDATE verist_events SET hash = prev WHERE id = e.id;
  END LOOP;
  UPDATE verist_state SET chain_hash = prev WHERE run_id = 'bulk-9';
END $$;
ALTER TABLE verist_events ENABLE TRIGGER verist_events_append_only;
COMMIT;
EOF
inside=$(psql_ -Atc "SELECT valid FROM verist_verify_run('audit', 'bulk-9')")
[ "$inside" = t ] && ok "a full rewrite of a run's chain is self-consistent inside the database (as documented)" \
                  || notok "full rewrite check setup (valid=$inside)"
export_chain "$out/rewritten"
ANCHORS=$out/anchors.csv verify "$out/rewritten" 1 "the rewrite is caught against the recorded anchors" \
    "BROKEN audit bulk-9 at seq 10: anchored digest not on the chain"

# Backups keep every run: pg_dump (verist's tables are registered with
# pg_extension_config_dump), restore into a new database, and the restored
# chains verify, the rows are the same, and ids go on from where they were.
src_db=$(psql_ -Atc "SELECT current_database()")
fingerprint="SELECT md5(concat_ws('|',
    (SELECT string_agg(t::text, ',' ORDER BY t.workflow_id, t.run_id) FROM verist_state t),
    (SELECT string_agg(t::text, ',' ORDER BY t.id) FROM verist_events t),
    (SELECT string_agg(t::text, ',' ORDER BY t.id) FROM verist_outbox t),
    (SELECT string_agg(t::text, ',' ORDER BY t.id) FROM verist_blocks t)))"
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

# Gap-free reading under concurrent writers.
"$PY" test/audit/tail_check.py --writers 4 --seconds "${TAIL_SECONDS:-8}"
