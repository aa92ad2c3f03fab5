#!/usr/bin/env python3
"""
Re-verify verist's records outside the database: the event chains, and
(0.4.0) each run's ledger, its state and blocks, and the seals of retired
runs.  Standard library only, Python 3.8+; nothing of verist is needed.

Whole runs (0.4.0), one document per line as verist_export_run gives them:

  psql -Atc "SELECT verist_export_run(workflow_id, run_id) FROM verist_state" > runs.jsonl
  psql -c "\\copy (SELECT seq, workflow_id, run_id, version, ledger_seq, ledger_hash,
                         events_seq, events_hash, document_hash, role, session_role, actor,
                         (extract(epoch FROM retired_at) * 1000000)::bigint AS retired_at, hash
                  FROM verist_retired ORDER BY seq) TO 'seals.csv' CSV HEADER"
  python3 verify_chain.py --runs runs.jsonl [--archived retired.jsonl ...]
                          [--seals seals.csv] [--anchors anchors.csv]

  Each document: its events chain from the genesis to state.eventsSeq/Hash;
  its ledger chain, every entry bound to the event-chain head it names, to
  state.ledgerSeq/Hash; the state replayed from the ledger equals
  state.computed/overlay/version; the blocks equal the ones the ledger
  created and resolved.  --seals: the seal chain.  --archived: documents
  verist_retire_run returned (one per line), each checked as above and
  against its seal: same document hash, same heads.  --anchors (workflow_id,
  run_id, seq, hash as verist_run_digest returned them, the ledger's head):
  each must still be on its run's ledger; an anchored run missing from the
  export is "retired" if a seal names it, and BROKEN ("deleted") if not.

Event chains only (0.2.0 and later), from two CSV files:

  psql -c "\\copy (SELECT workflow_id, run_id, seq, step_id, type, payload, llm_trace,
                         (extract(epoch FROM created_at) * 1000000)::bigint AS ts, hash
                  FROM verist_events ORDER BY workflow_id, run_id, seq, id)
           TO 'events.csv' CSV HEADER"
  psql -c "\\copy (SELECT workflow_id, run_id, chain_seq, chain_hash FROM verist_state)
           TO 'heads.csv' CSV HEADER"
  python3 verify_chain.py events.csv heads.csv [--event-anchors anchors.csv]
  python3 verify_chain.py --vectors dedupe_keys.jsonl   (self-test of canonical())

  (--event-anchors: digests of verist 0.2.0-0.3.x, whose verist_run_digest
  was the event chain's head.)

The formats (README "Audit chain", "The ledger"): for each run, starting from
  genesis = sha256(canonical({"chain": "verist/1", "runId": r, "workflowId": w}))
each event's hash is
  sha256(prev_hash_hex + canonical({"llmTrace", "payload", "runId", "seq",
                                    "stepId", "ts", "type", "workflowId"}))
with sequence numbers 1, 2, ... without gaps, and the run's state row holds the
last (seq, hash).  A ledger entry's hash is
  sha256(prev_hex + events_head_hex + canonical({"actor", "at": {"seq", "version"},
         "block", "change", "input", "kind", "role", "runId", "sessionRole",
         "stepId", "ts", "workflowId"}))
from sha256(canonical({"chain": "verist-ledger/1", "runId", "workflowId"})).
A seal's is sha256(prev_hex + canonical({"actor", "documentHash", "events":
{"hash", "seq"}, "ledger": {"hash", "seq"}, "retiredAt", "role", "runId",
"seq", "sessionRole", "version", "workflowId"})) from
sha256(canonical({"chain": "verist-retired/1"})), and a document's hash is
sha256(canonical(document)).  Times are integer microseconds since 1970.
canonical() is JavaScript's JSON.stringify after sorting
every object's keys (Object.keys(o).sort(), array-index keys first), numbers
read and printed as JavaScript doubles -- with two differences where
JavaScript would lose data (0.3.1): every member is printed, "__proto__"
included, and a number beyond the double range is printed as its exact
decimal text (PostgreSQL's numeric output: plain notation, its scale kept).
Hashes are lowercase hex SHA-256 of the UTF-8 bytes.  Any depth of nesting
that jsonb stores is followed.

Prints one line per broken run ("BROKEN <workflow> <run> at seq N: reason";
for the ledger, N is the entry) and a summary; exits 1 if any is broken.
"""
import csv
import hashlib
import json
import math
import sys
import threading
from decimal import Decimal

csv.field_size_limit(sys.maxsize)


# -- canonical JSON, as JavaScript prints it --------------------------------

def js_number(x):
    """ECMAScript Number::toString of a finite double."""
    if x == 0:
        return "0"
    if not math.isfinite(x):
        raise ValueError("JSON number beyond the double range")
    # repr gives the shortest round-trip digits, as JavaScript does:
    # rewrite them as x = 0.<digits> * 10^n
    mantissa, _, exp = repr(abs(x)).partition("e")
    whole, _, frac = mantissa.partition(".")
    digits = whole + frac
    n = len(whole) + int(exp or 0)
    stripped = digits.lstrip("0")
    n -= len(digits) - len(stripped)
    digits = stripped.rstrip("0")
    k = len(digits)
    if k <= n <= 21:
        s = digits + "0" * (n - k)
    elif 0 < n <= 21:
        s = digits[:n] + "." + digits[n:]
    elif -6 < n <= 0:
        s = "0." + "0" * (-n) + digits
    else:
        e = n - 1
        s = digits[0] + ("." + digits[1:] if k > 1 else "") + "e" + ("+" if e >= 0 else "-") + str(abs(e))
    return ("-" if x < 0 else "") + s


class BigNum:
    """A JSON number beyond the double range, kept as its text."""
    __slots__ = ("text",)

    def __init__(self, text):
        self.text = text


def number(text):
    """A JSON number: the double JavaScript reads, or a BigNum beyond that range."""
    x = float(text)
    return BigNum(text) if math.isinf(x) else x


def is_array_index(key):
    return key.isdigit() and key.isascii() and (key == "0" or not key.startswith("0")) \
        and int(key) <= 4294967294


def key_order(key):
    """JavaScript's enumeration of a sorted object: indices numerically, then UTF-16 order."""
    if is_array_index(key):
        return (0, int(key), b"")
    return (1, 0, key.encode("utf-16-be"))


def canonical(value):
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, float):
        return js_number(value)
    if isinstance(value, BigNum):
        return format(Decimal(value.text), "f")
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ",".join(canonical(v) for v in value) + "]"
    if isinstance(value, dict):
        keys = sorted(value, key=key_order)
        return "{" + ",".join(json.dumps(k, ensure_ascii=False) + ":" + canonical(value[k])
                              for k in keys) + "}"
    raise TypeError(f"unexpected JSON value {value!r}")


def parse_json(text):
    """A jsonb column as exported: empty means SQL NULL (JSON null in the hash)."""
    if text == "":
        return None
    # every JSON number is a JavaScript double, unless beyond the double range
    return json.loads(text, parse_int=number, parse_float=number)


def sha256_hex(text):
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def genesis(workflow_id, run_id):
    return sha256_hex(canonical({"chain": "verist/1", "runId": run_id, "workflowId": workflow_id}))


def event_hash(prev, row):
    content = {
        "llmTrace": parse_json(row["llm_trace"]),
        "payload": parse_json(row["payload"]),
        "runId": row["run_id"],
        "seq": float(row["seq"]),
        "stepId": row["step_id"],
        "ts": float(row["ts"]),
        "type": row["type"],
        "workflowId": row["workflow_id"],
    }
    return sha256_hex(prev + canonical(content))


# -- verification ---------------------------------------------------------------

def read_csv(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def verify(events, heads, anchors=()):
    """Return {(workflow, run): (seq, reason)} for broken runs, and counts."""
    by_run = {}
    for row in events:
        by_run.setdefault((row["workflow_id"], row["run_id"]), []).append(row)
    head_of = {(h["workflow_id"], h["run_id"]): (int(h["chain_seq"]), h["chain_hash"]) for h in heads}
    anchors_of = {}
    for a in anchors:
        anchors_of.setdefault((a["workflow_id"], a["run_id"]), []).append((int(a["seq"]), a["hash"]))

    broken = {}
    checked = 0
    for run in sorted(set(by_run) | set(head_of)):
        rows = sorted(by_run.get(run, []), key=lambda r: int(r["seq"]))
        prev = genesis(*run)
        hashes = {0: prev}
        expected = 1
        problem = None
        for row in rows:
            seq = int(row["seq"])
            if seq > expected:
                problem = (expected, "missing event")
                break
            if seq < expected:
                problem = (seq, "duplicate sequence")
                break
            h = event_hash(prev, row)
            if h != row["hash"]:
                problem = (seq, "hash mismatch")
                break
            prev = hashes[seq] = h
            expected += 1
            checked += 1
        if problem is None:
            n = expected - 1
            if run not in head_of:
                problem = (1, "state row missing")
            else:
                head_seq, head_hash = head_of[run]
                if head_seq < n:
                    problem = (head_seq + 1, "event beyond chain head")
                elif head_seq > n:
                    problem = (n + 1, "missing event")
                elif head_hash != prev:
                    problem = (head_seq, "chain head mismatch")
        if problem is None:
            for seq, h in anchors_of.get(run, []):
                if hashes.get(seq) != h:
                    problem = (seq, "anchored digest not on the chain")
                    break
        if problem is not None:
            broken[run] = problem
    return broken, checked, len(set(by_run) | set(head_of))


# -- whole runs (0.4.0) -----------------------------------------------------------

def ledger_genesis(workflow_id, run_id):
    return sha256_hex(canonical({"chain": "verist-ledger/1", "runId": run_id,
                                 "workflowId": workflow_id}))


def entry_hash(prev, wf, run, e):
    """An entry of a document's ledger, hashed as README "The ledger" says."""
    content = {
        "actor": e["actor"], "at": {"seq": e["seq"], "version": e["version"]},
        "block": e["block"], "change": e["change"], "input": e["input"], "kind": e["kind"],
        "role": e["role"], "runId": run, "sessionRole": e["sessionRole"],
        "stepId": e["stepId"], "ts": e["ts"], "workflowId": wf,
    }
    return sha256_hex(prev + e["eventsHash"] + canonical(content))


def same(a, b):
    """Equal JSON values, as jsonb compares them (numbers by value)."""
    return canonical(a) == canonical(b)


def merge(base, patch):
    """The shallow merge of a commit's output or an overlay's patch (jsonb ||)."""
    merged = dict(base)
    merged.update(patch if isinstance(patch, dict) else {})
    return merged


def as_int(x):
    return None if x is None else int(x)


def check_events(doc):
    """The event chain of a document: (problem or None, {seq: hash})."""
    wf, run, state = doc["workflowId"], doc["runId"], doc["state"]
    prev = genesis(wf, run)
    hashes = {0: prev}
    for i, e in enumerate(doc["events"], start=1):
        seq = as_int(e["seq"])
        if seq != i:
            return (i, "missing event" if seq > i else "duplicate sequence"), hashes
        row = {"workflow_id": wf, "run_id": run, "step_id": e["stepId"], "type": e["type"],
               "seq": e["seq"], "ts": e["ts"]}
        content = {"llmTrace": e["llmTrace"], "payload": e["payload"], "runId": run,
                   "seq": float(seq), "stepId": row["step_id"], "ts": float(e["ts"]),
                   "type": row["type"], "workflowId": wf}
        h = sha256_hex(prev + canonical(content))
        if h != e["hash"]:
            return (seq, "hash mismatch"), hashes
        prev = hashes[seq] = h
    n = len(doc["events"])
    head_seq = as_int(state["eventsSeq"])
    if head_seq != n:
        return ((n + 1, "missing event") if head_seq > n else
                (head_seq + 1, "event beyond chain head")), hashes
    if state["eventsHash"] != prev:
        return (head_seq, "chain head mismatch"), hashes
    return None, hashes


def check_ledger(doc, event_hashes):
    """The ledger of a document, the state it replays to and the blocks it
    made: (problem or None, {seq: hash}, entries checked)."""
    wf, run, state = doc["workflowId"], doc["runId"], doc["state"]
    prev = ledger_genesis(wf, run)
    hashes = {0: prev}
    computed = overlay = None
    version = 0
    blocks = {}
    for i, e in enumerate(doc["ledger"], start=1):
        seq = as_int(e["seq"])
        if seq != i:
            return (i, "ledger: missing entry" if seq > i else "ledger: duplicate entry"), hashes, i - 1
        h = entry_hash(prev, wf, run, e)
        if h != e["hash"]:
            return (seq, "ledger: hash mismatch"), hashes, i - 1
        if event_hashes.get(as_int(e["eventsSeq"])) != e["eventsHash"]:
            return (seq, "ledger: events head mismatch"), hashes, i - 1
        prev = hashes[seq] = h
        kind, change, block = e["kind"], e["change"], e["block"]
        if kind == "adopt":
            computed, overlay = change.get("computed") or {}, change.get("overlay") or {}
            for b in change.get("blocks") or []:
                blocks[as_int(b["id"])] = dict(b, createdSeq=seq, resolvedSeq=seq)
        elif kind == "commit":
            computed = change if computed is None or as_int(e["version"]) == 1 else merge(computed, change)
            overlay = {} if overlay is None else overlay
            if block is not None:
                blocks[as_int(block["id"])] = {
                    "id": block["id"], "stepId": e["stepId"], "type": block["type"],
                    "reason": block["reason"], "payload": block["payload"],
                    "resumeStep": block["resumeStep"], "createdAt": e["ts"],
                    "resolution": None, "resolvedAt": None, "createdSeq": seq}
        elif kind == "overlay" and overlay is not None:
            overlay = merge(overlay, change)
        elif kind == "resolve":
            b = blocks.get(as_int((block or {}).get("id")))
            if b is None:
                return (seq, "ledger: resolution of an unknown block"), hashes, i
            b.update(resolution=change, resolvedAt=e["ts"], resolvedSeq=seq)
        version = as_int(e["version"])
    n = len(doc["ledger"])
    head_seq = as_int(state["ledgerSeq"])
    if head_seq != n or state["ledgerHash"] != prev:
        return ((n + 1, "ledger: missing entry") if head_seq > n else
                (head_seq + 1, "ledger: entry beyond the head") if head_seq < n else
                (head_seq, "ledger: head mismatch")), hashes, n
    if as_int(state["version"]) != version:
        return (n, "ledger: version differs"), hashes, n
    if not same(state["computed"], computed if computed is not None else {}):
        return (n, "ledger: computed differs"), hashes, n
    if not same(state["overlay"], overlay if overlay is not None else {}):
        return (n, "ledger: overlay differs"), hashes, n
    rows = {as_int(b["id"]): b for b in doc["blocks"]}
    for bid, want in sorted(blocks.items()):
        got = rows.pop(bid, None)
        if got is None:
            return (want["createdSeq"], "ledger: block missing"), hashes, n
        if any(not same(got.get(k), want.get(k))
               for k in ("stepId", "type", "reason", "payload", "resumeStep", "createdAt")):
            return (want["createdSeq"], "ledger: block differs"), hashes, n
        if not same(got.get("resolution"), want.get("resolution")) or \
                not same(got.get("resolvedAt"), want.get("resolvedAt")):
            return (want.get("resolvedSeq") or want["createdSeq"],
                    "ledger: block resolution differs"), hashes, n
    if rows:
        return (n, "ledger: block not in the ledger"), hashes, n
    return None, hashes, n


def seal_hash(prev, s):
    content = {
        "actor": s["actor"] or None, "documentHash": s["document_hash"],
        "events": {"hash": s["events_hash"], "seq": float(s["events_seq"])},
        "ledger": {"hash": s["ledger_hash"], "seq": float(s["ledger_seq"])},
        "retiredAt": float(s["retired_at"]), "role": s["role"], "runId": s["run_id"],
        "seq": float(s["seq"]), "sessionRole": s["session_role"],
        "version": float(s["version"]), "workflowId": s["workflow_id"],
    }
    return sha256_hex(prev + canonical(content))


def check_seals(seals):
    """The seal chain: (seq, reason) of its first break, or None."""
    prev = sha256_hex(canonical({"chain": "verist-retired/1"}))
    for i, s in enumerate(sorted(seals, key=lambda r: int(r["seq"])), start=1):
        if int(s["seq"]) != i:
            return (i, "seal: missing seal" if int(s["seq"]) > i else "seal: duplicate seal")
        h = seal_hash(prev, s)
        if h != s["hash"]:
            return (i, "seal: hash mismatch")
        prev = h
    return None


def read_documents(paths):
    docs = []
    for path in paths:
        with open(path, encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    docs.append(json.loads(line, parse_int=number, parse_float=number))
    return docs


def verify_runs(docs, archived=(), seals=(), anchors=()):
    """Whole-run verification of live documents and archived ones (returned
    by verist_retire_run): ({(workflow, run): (seq, reason)}, counts, notes)."""
    broken, notes = {}, []
    events = entries = 0
    sealed = {(s["workflow_id"], s["run_id"]): s for s in seals}
    if seals:
        problem = check_seals(seals)
        if problem:
            broken[("(seals)", "verist_retired")] = problem
    ledger_of = {}
    for doc, is_archived in [(d, False) for d in docs] + [(d, True) for d in archived]:
        run = (doc.get("workflowId"), doc.get("runId"))
        if doc.get("format") != "verist-run/1":
            broken[run] = (0, "not a verist-run/1 document")
            continue
        problem, event_hashes = check_events(doc)
        events += len(event_hashes) - 1
        if problem is None:
            problem, hashes, n = check_ledger(doc, event_hashes)
            entries += n
            ledger_of.setdefault(run, hashes)
        seal = sealed.get(run)
        if problem is None and is_archived:
            st = doc["state"]
            if seal is None:
                problem = (0, "archived document without a seal")
            elif sha256_hex(canonical(doc)) != seal["document_hash"]:
                problem = (as_int(st["ledgerSeq"]), "seal: document hash differs")
            elif (int(seal["ledger_seq"]), seal["ledger_hash"], int(seal["events_seq"]),
                  seal["events_hash"]) != (as_int(st["ledgerSeq"]), st["ledgerHash"],
                                           as_int(st["eventsSeq"]), st["eventsHash"]):
                problem = (as_int(st["ledgerSeq"]), "seal: heads differ from the document")
            else:
                notes.append(f"RETIRED {run[0]} {run[1]}: archived document matches seal {seal['seq']}")
        if problem:
            broken[run] = problem
    for a in anchors:
        run = (a["workflow_id"], a["run_id"])
        if run in broken:
            continue
        if run in ledger_of:
            if ledger_of[run].get(int(a["seq"])) != a["hash"]:
                broken[run] = (int(a["seq"]), "anchored digest not on the ledger")
        elif run in sealed:
            notes.append(f"RETIRED {run[0]} {run[1]}: sealed (seal {sealed[run]['seq']}), not archived here")
        else:
            broken[run] = (int(a["seq"]), "run deleted: anchored, not in the export, no seal")
    return broken, events, entries, len(docs) + len(archived), notes


def check_vectors(path):
    """Check canonical() against the JavaScript test vectors of README "Dedupe keys"."""
    bad = 0
    with open(path, encoding="utf-8") as f:
        for line in f:
            v = json.loads(line)
            obj = {"workflowId": v["workflowId"], "runId": v["runId"], "stepId": v["stepId"],
                   "command": json.loads(v["command_json"], parse_int=float, parse_float=float)}
            text = canonical(obj)
            if text != v["canonical"] or sha256_hex(text) != v["dedupe_key"]:
                bad += 1
                print(f"VECTOR MISMATCH {v['name']}: {text}")
    return bad


def option(argv, name, many=False):
    """Remove --name and its value(s) from argv; return them."""
    if name not in argv:
        return [] if many else None
    i = argv.index(name)
    j = i + 1
    while j < len(argv) and not argv[j].startswith("--") and (many or j == i + 1):
        j += 1
    values = argv[i + 1:j]
    del argv[i:j]
    return values if many else (values[0] if values else None)


def main(argv):
    argv = list(argv)
    if argv[:1] == ["--vectors"]:
        bad = check_vectors(argv[1])
        print(f"vectors: {'all match' if not bad else f'{bad} mismatched'}")
        return 1 if bad else 0
    runs = option(argv, "--runs", many=True)
    archived = option(argv, "--archived", many=True)
    seals = option(argv, "--seals")
    anchors = option(argv, "--anchors")
    event_anchors = option(argv, "--event-anchors")
    if runs or archived:
        if argv:
            print(__doc__, file=sys.stderr)
            return 2
        broken, events, entries, n, notes = verify_runs(
            read_documents(runs), read_documents(archived), read_csv(seals) if seals else (),
            read_csv(anchors) if anchors else ())
        for note in notes:
            print(note)
        for (wf, run), (seq, reason) in sorted(broken.items()):
            print(f"BROKEN {wf} {run} at seq {seq}: {reason}")
        print(f"{n} runs, {events} events and {entries} ledger entries verified, "
              f"{len(broken)} broken")
        return 1 if broken else 0
    if len(argv) != 2 or anchors or seals:
        print(__doc__, file=sys.stderr)
        return 2
    broken, checked, runs = verify(read_csv(argv[0]), read_csv(argv[1]),
                                   read_csv(event_anchors) if event_anchors else ())
    for (wf, run), (seq, reason) in sorted(broken.items()):
        print(f"BROKEN {wf} {run} at seq {seq}: {reason}")
    print(f"{runs} runs, {checked} events verified, {len(broken)} broken")
    return 1 if broken else 0


def main_deep(argv):
    """main() on a thread with a large stack: json and canonical() recurse once
    per level of nesting, and jsonb stores more than 10,000 levels."""
    result = []
    sys.setrecursionlimit(200000)
    threading.stack_size(1 << 30)
    t = threading.Thread(target=lambda: result.append(main(argv)))
    t.start()
    t.join()
    return result[0] if result else 1


if __name__ == "__main__":
    sys.exit(main_deep(sys.argv[1:]))
