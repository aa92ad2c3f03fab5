#!/usr/bin/env python3
"""
Re-verify verist's event hash chains outside the database, from a psql export.

An auditor needs nothing of verist but this file and two CSV files (standard
library only, Python 3.8+):

  psql -c "\\copy (SELECT workflow_id, run_id, seq, step_id, type, payload, llm_trace,
                         (extract(epoch FROM created_at) * 1000000)::bigint AS ts, hash
                  FROM verist_events ORDER BY workflow_id, run_id, seq, id)
           TO 'events.csv' CSV HEADER"
  psql -c "\\copy (SELECT workflow_id, run_id, chain_seq, chain_hash FROM verist_state)
           TO 'heads.csv' CSV HEADER"
  python3 verify_chain.py events.csv heads.csv [--anchors anchors.csv]
  python3 verify_chain.py --vectors dedupe_keys.jsonl   (self-test of canonical())

The format (README "Audit chain"): for each run, starting from
  genesis = sha256(canonical({"chain": "verist/1", "runId": r, "workflowId": w}))
each event's hash is
  sha256(prev_hash_hex + canonical({"llmTrace", "payload", "runId", "seq",
                                    "stepId", "ts", "type", "workflowId"}))
with sequence numbers 1, 2, ... without gaps, and the run's state row holds the
last (seq, hash).  canonical() is JavaScript's JSON.stringify after sorting
every object's keys (Object.keys(o).sort(), array-index keys first), numbers
read and printed as JavaScript doubles -- with two differences where
JavaScript would lose data (0.3.1): every member is printed, "__proto__"
included, and a number beyond the double range is printed as its exact
decimal text (PostgreSQL's numeric output: plain notation, its scale kept).
Hashes are lowercase hex SHA-256 of the UTF-8 bytes.  Any depth of nesting
that jsonb stores is followed.

--anchors takes digests recorded earlier (workflow_id, run_id, seq, hash, as
verist_run_digest returned them): each must still be on the run's chain, so
history cannot have been rewritten or cut back behind them.

Prints one line per broken run ("BROKEN <workflow> <run> at seq N: reason")
and a summary; exits 1 if any run is broken.
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


def main(argv):
    if argv[:1] == ["--vectors"]:
        bad = check_vectors(argv[1])
        print(f"vectors: {'all match' if not bad else f'{bad} mismatched'}")
        return 1 if bad else 0
    args = [a for a in argv if not a.startswith("--")]
    anchors = []
    if "--anchors" in argv:
        anchors = read_csv(argv[argv.index("--anchors") + 1])
        args.remove(argv[argv.index("--anchors") + 1])
    if len(args) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    broken, checked, runs = verify(read_csv(args[0]), read_csv(args[1]), anchors)
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
