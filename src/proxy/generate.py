#!/usr/bin/env python3
"""Generate the verist_proxy install script from functions.list and a shard.

    python3 generate.py [--check FILE | --output FILE] [psql options...]

Reads the catalog of a database that has verist installed (found with psql:
the PG* environment, or psql options after the known ones), classifies every
object of the extension with src/proxy/functions.list, and prints
verist_proxy--<verist version>.sql: static.sql (configuration, routing,
administration), then one forwarding object per listed object, with the
shard's exact signature, defaults, result type, columns, comment and
PUBLIC privilege (to FILE with --output).

It fails, naming the line to add, when the extension has an object that the
list does not classify, and when a listed function lacks the argument its
kind routes by.  --check FILE compares the output with FILE instead of
printing it (exit 1 and a diff if they differ): the scaleout suite runs it
against a live shard, so a verist that changed under a committed router
script is caught.
"""
import difflib
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

CATALOG_SQL = r"""
SET search_path = pg_catalog;
WITH ext AS (SELECT oid, extnamespace, extversion FROM pg_extension WHERE extname = 'verist'),
members AS (
    SELECT d.classid, d.objid FROM pg_depend d, ext
    WHERE d.refclassid = 'pg_extension'::regclass AND d.refobjid = ext.oid AND d.deptype = 'e')
SELECT json_build_object(
  'version', (SELECT extversion FROM ext),
  'schema', (SELECT extnamespace::regnamespace::text FROM ext),
  'routines', (SELECT coalesce(json_agg(json_build_object(
        'name', p.proname, 'prokind', p.prokind, 'volatile', p.provolatile,
        'secdef', p.prosecdef, 'retset', p.proretset,
        'args', pg_get_function_arguments(p.oid),
        'identity', pg_get_function_identity_arguments(p.oid),
        'result', pg_get_function_result(p.oid),
        'argnames', coalesce(p.proargnames, '{}'),
        'argnames_q', (SELECT coalesce(array_agg(quote_ident(n) ORDER BY i), '{}')
                       FROM unnest(p.proargnames) WITH ORDINALITY AS u(n, i)),
        'argmodes', coalesce(p.proargmodes::text[], '{}'),
        'argtypes', (SELECT coalesce(array_agg(format_type(t, NULL) ORDER BY i), '{}')
                     FROM unnest(coalesce(p.proallargtypes, p.proargtypes::oid[])) WITH ORDINALITY AS u(t, i)),
        'comment', obj_description(p.oid, 'pg_proc'),
        'public', EXISTS (SELECT FROM aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
                          WHERE a.grantee = 0 AND a.privilege_type = 'EXECUTE'))
        ORDER BY p.proname, pg_get_function_identity_arguments(p.oid)), '[]')
      FROM members m JOIN pg_proc p ON m.classid = 'pg_proc'::regclass AND p.oid = m.objid),
  'relations', (SELECT coalesce(json_agg(json_build_object(
        'name', c.relname, 'relkind', c.relkind,
        'comment', obj_description(c.oid, 'pg_class'),
        'public', EXISTS (SELECT FROM aclexplode(coalesce(c.relacl, acldefault('r', c.relowner))) a
                          WHERE a.grantee = 0 AND a.privilege_type = 'SELECT'),
        'columns', (SELECT json_agg(json_build_array(a.attname, format_type(a.atttypid, a.atttypmod))
                                    ORDER BY a.attnum)
                    FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped))
        ORDER BY c.relname), '[]')
      FROM members m JOIN pg_class c ON m.classid = 'pg_class'::regclass AND c.oid = m.objid
      WHERE c.relkind IN ('r', 'v'))
);
"""

KINDS = {"type", "run", "write", "id", "ids", "all", "sum", "lease", "loop", "any", "union", "agg", "internal"}


class GenError(Exception):
    pass


def read_list(path):
    entries = {}
    for lineno, line in enumerate(open(path), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        words = line.split()
        kind, name, rest = words[0], words[1], words[2:]
        if kind not in KINDS:
            raise GenError("%s:%d: unknown kind %r" % (path, lineno, kind))
        if name in entries:
            raise GenError("%s:%d: %s listed twice" % (path, lineno, name))
        key = None
        overrides = {}
        for w in rest:
            if "=" in w:
                col, expr = w.split("=", 1)
                overrides[col] = expr
            else:
                key = w
        entries[name] = dict(kind=kind, key=key, overrides=overrides, line=lineno)
    return entries


def catalog(psql_args):
    # search_path = the extension's schema so that types print unqualified
    out = subprocess.run(["psql", "-XAtq", "-v", "ON_ERROR_STOP=1", *psql_args, "-c", CATALOG_SQL],
                         check=True, capture_output=True, text=True).stdout
    cat = json.loads(out.strip().splitlines()[-1])
    if cat["version"] is None:
        raise GenError("the database has no verist extension")
    return cat


def unqualify(typ, schema):
    """format_type under search_path = pg_catalog qualifies verist's types."""
    return typ.replace(schema + ".", "")


def q(s):
    return "'" + s.replace("'", "''") + "'"


def plproxy(name, args, result, body):
    return ("CREATE FUNCTION %s(%s)\nRETURNS %s\nLANGUAGE plproxy\nAS $$\n%s\n$$;\n"
            % (name, args, result, "\n".join("    " + l for l in body)))


def args_of(r, quoted=False):
    """Input arguments: [(name, type)] (names quoted for SQL with quoted)."""
    out = []
    modes = r["argmodes"] or ["i"] * len(r["argtypes"])
    names = r["argnames_q" if quoted else "argnames"] or [""] * len(modes)
    for name, mode, typ in zip(names, modes, r["argtypes"]):
        if mode in ("i", "b", "v"):
            out.append((name, typ))
    return out


def need_args(r, entry, wanted):
    have = dict(args_of(r))
    for name, typ in wanted:
        if have.get(name) != typ:
            raise GenError("functions.list:%d: %s(%s) is listed as %r but has no argument %s %s"
                           % (entry["line"], r["name"], r["identity"], entry["kind"], name, typ))


def header_comment(r, how):
    c = r["comment"] or ""
    return "router (%s)%s" % (how, ": " + c if c else "")


def generate(cat, entries):
    schema = cat["schema"]
    for r in cat["routines"]:
        for k in ("args", "identity", "result"):
            if r[k] is not None:
                r[k] = unqualify(r[k], schema)
        r["argtypes"] = [unqualify(t, schema) for t in r["argtypes"]]
    for rel in cat["relations"]:
        rel["columns"] = [(n, unqualify(t, schema)) for n, t in rel["columns"]]

    # Every object of the extension is classified, and every listed one exists.
    names = {r["name"] for r in cat["routines"]} | {rel["name"] for rel in cat["relations"]}
    missing = []
    for r in cat["routines"]:
        if r["name"] not in entries:
            missing.append("%s %s(%s)" % (suggest(r), r["name"], r["identity"]))
    for rel in cat["relations"]:
        if rel["name"] not in entries:
            missing.append("%s %s" % ("type" if rel["relkind"] == "r" else "union", rel["name"]))
    if missing:
        raise GenError("verist %s has objects that src/proxy/functions.list does not classify; add:\n  %s"
                       % (cat["version"], "\n  ".join(missing)))
    # The list may cover a later verist than this shard's: what the shard
    # does not have is left out (and said, in case it is a typo).
    gone = sorted(set(entries) - names)
    if gone:
        print("generate.py: verist %s has no %s (left out)" % (cat["version"], ", ".join(gone)), file=sys.stderr)
        entries = {n: e for n, e in entries.items() if n in names}

    out = []
    emit = out.append
    rels = {rel["name"]: rel for rel in cat["relations"]}
    routines = {}
    for r in cat["routines"]:
        routines.setdefault(r["name"], []).append(r)

    emit("--\n-- Part 2 (generated by src/proxy/generate.py from functions.list and the catalog of\n"
         "-- verist %s): the router's copy of verist's API.  Each function has verist's name,\n"
         "-- arguments, defaults and result type, and forwards the call through PL/Proxy.\n--\n"
         % cat["version"])

    for name, e in sorted(entries.items(), key=lambda kv: kv[1]["line"]):
        if e["kind"] != "type":
            continue
        rel = rels[name]
        if rel["relkind"] != "r":
            raise GenError("functions.list:%d: %s is not a table" % (e["line"], name))
        emit("-- The columns of the shards' table %s, in order (PL/Proxy selects them by name).\n"
             "CREATE TYPE %s AS (\n%s\n);\n" % (name, name, ",\n".join(
                 "    %s %s" % (c, t) for c, t in rel["columns"])))

    slot_run = "@extschema@.verist_proxy_run_slot(workflow_id, run_id)"
    for name, e in sorted(entries.items(), key=lambda kv: kv[1]["line"]):
        kind = e["kind"]
        if kind in ("type", "internal", "union", "agg"):
            continue
        for r in routines.get(name, []):
            emit(routine(r, e, slot_run))
    for name, e in sorted(entries.items(), key=lambda kv: kv[1]["line"]):
        if e["kind"] in ("union", "agg"):
            emit(view(rels[name], e))

    # Privileges as on the shard: what verist revokes from PUBLIC, the router
    # revokes too (the shard checks the same role again when the call arrives).
    revokes = []
    for name, e in sorted(entries.items(), key=lambda kv: kv[1]["line"]):
        if e["kind"] in ("type", "internal"):
            continue
        if e["kind"] in ("union", "agg"):
            if not rels[name]["public"]:
                revokes.append("REVOKE ALL ON %s FROM PUBLIC;" % name)
            continue
        for r in routines[name]:
            if not r["public"]:
                what = "PROCEDURE" if r["prokind"] == "p" else "FUNCTION"
                revokes.append("REVOKE ALL ON %s %s(%s) FROM PUBLIC;" % (what, name, r["identity"]))
    emit("-- Privileges: as verist's on the shards.\n" + "\n".join(revokes) + "\n")

    unproxied = sorted(n for n, e in entries.items() if e["kind"] == "internal")
    emit("-- What the router does not forward (verist_proxy_check() skips them on the shards).\n"
         "CREATE FUNCTION verist_proxy_unproxied()\nRETURNS text[]\nLANGUAGE sql IMMUTABLE PARALLEL SAFE\n"
         "AS $$ SELECT %s::text[] $$;\n"
         "COMMENT ON FUNCTION verist_proxy_unproxied() IS 'objects of verist that the router does not forward';\n"
         % q("{" + ",".join(unproxied) + "}"))
    return "\n".join(out)


def suggest(r):
    """The kind a new function most likely has, from its arguments."""
    names = [n for n, _ in args_of(r)]
    if r["prokind"] == "p":
        return "loop"
    if names[:2] == ["workflow_id", "run_id"] and r["secdef"]:
        # a function that changes a run records who acted (verist.actor)
        return "write" if r["volatile"] == "v" else "run"
    if "outbox_ids" in names:
        return "ids"
    if "outbox_id" in names:
        return "id  "
    if not r["secdef"] and r["volatile"] == "i":
        return "any"
    return "all" if r["retset"] else "sum"


def routine(r, e, slot_run):
    kind, name = e["kind"], r["name"]
    args, result = r["args"], r["result"]
    cluster = "CLUSTER 'verist_cluster';"
    if kind in ("run", "write"):
        need_args(r, e, [("workflow_id", "text"), ("run_id", "text")])
        names = [n for n, _ in args_of(r)]
        if names[:2] != ["workflow_id", "run_id"]:
            raise GenError("functions.list:%d: %s: workflow_id, run_id must come first" % (e["line"], name))
    if kind == "run":
        sql = plproxy(name, args, result, [cluster, "RUN ON %s;" % slot_run])
        how = "to the shard of the run"
    elif kind == "write":
        # PL/Proxy calls the shard on a connection of its own, which has none
        # of the caller's settings: the router's verist.actor is passed as the
        # helper's first argument and set on the shard for the call's own
        # transaction (set_config(..., true)), inside the one statement
        # PL/Proxy sends -- while the first argument of verist's function is
        # evaluated, so before the function runs.  Nothing is installed on the
        # shards for it.
        n = len(args_of(r))
        helper = "verist_proxy_actor__" + name
        hargs = ", ".join(["actor text"] + ["%s %s" % a for a in args_of(r, quoted=True)])
        first = ("CASE WHEN pg_catalog.set_config('verist.actor', $1, true) IS NULL THEN $2 ELSE $2 END")
        call = ", ".join([first] + ["$%d" % (i + 1) for i in range(2, n + 1)])
        sql = plproxy(helper, hargs, result, [cluster, "RUN ON %s;" % slot_run,
                                              "SELECT r.* FROM @extschema@.%s(%s) AS r;" % (name, call)])
        sql += ("COMMENT ON FUNCTION %s(%s) IS %s;\n"
                % (helper, ", ".join(["text"] + [t for _, t in args_of(r)]),
                   q("internal: %s on the shard of the run, with verist.actor set to the first argument for the call"
                     % name)))
        params = ", ".join(["pg_catalog.current_setting('verist.actor', true)"] + ["$%d" % i for i in range(1, n + 1)])
        sql += ("CREATE FUNCTION %s(%s)\nRETURNS %s\nLANGUAGE sql\n"
                "AS $$ SELECT * FROM @extschema@.%s(%s) $$;\n" % (name, args, result, helper, params))
        how = "to the shard of the run, with the caller's verist.actor"
    elif kind == "id":
        key = e["key"] or "outbox_id"
        need_args(r, e, [(key, "bigint")])
        sql = plproxy(name, args, result, [cluster, "RUN ON @extschema@.verist_proxy_id_slot(%s);" % key])
        how = "to the shard %s names" % key
    elif kind == "any":
        sql = plproxy(name, args, result, [cluster, "RUN ON ANY;"])
        how = "pure: computed by any shard"
    elif kind == "all":
        if not r["retset"]:
            raise GenError("functions.list:%d: %s: 'all' needs a set-returning function" % (e["line"], name))
        sql = plproxy(name, args, result, [cluster, "RUN ON ALL;"])
        how = "every shard, rows concatenated"
    elif kind == "ids":
        key = e["key"] or "outbox_ids"
        need_args(r, e, [(key, "bigint[]")])
        if not r["retset"]:
            raise GenError("functions.list:%d: %s: 'ids' needs a set-returning function" % (e["line"], name))
        split = "verist_proxy_split__" + name
        whole = "verist_proxy_whole__" + name
        target = "TARGET @extschema@.%s;" % name
        sql = plproxy(split, args, result, [cluster, "SPLIT %s;" % key,
                                            "RUN ON @extschema@.verist_proxy_id_slot(%s);" % key, target])
        sql += plproxy(whole, args, result, [cluster, "RUN ON ANY;", target])
        params = ", ".join("$%d" % (i + 1) for i in range(len(args_of(r))))
        nulls = " OR ".join("$%d IS NULL" % (i + 1) for i in range(len(args_of(r))))
        keypos = [n for n, _ in args_of(r)].index(key) + 1
        sql += ("CREATE FUNCTION %s(%s)\nRETURNS %s\nLANGUAGE plpgsql\nAS $$\nBEGIN\n"
                "    -- a NULL argument or an empty batch goes whole to one shard, which answers\n"
                "    -- as verist does (VRS01, or no rows); otherwise one call per shard\n"
                "    IF %s OR pg_catalog.cardinality($%d) = 0 THEN\n"
                "        RETURN QUERY SELECT * FROM @extschema@.%s(%s);\n"
                "    ELSE\n"
                "        RETURN QUERY SELECT * FROM @extschema@.%s(%s);\n"
                "    END IF;\nEND\n$$;\n" % (name, args, result, nulls, keypos, whole, params, split, params))
        how = "ids split per shard, one call per shard in parallel"
    elif kind == "sum":
        if r["retset"] or r["result"] != "bigint":
            raise GenError("functions.list:%d: %s: 'sum' needs a function returning bigint" % (e["line"], name))
        each = "verist_proxy_each__" + name
        sql = plproxy(each, args, "SETOF bigint", [cluster, "RUN ON ALL;", "TARGET @extschema@.%s;" % name])
        params = ", ".join("$%d" % (i + 1) for i in range(len(args_of(r))))
        sql += ("CREATE FUNCTION %s(%s)\nRETURNS bigint\nLANGUAGE sql\n"
                "AS $$ SELECT pg_catalog.sum(n)::bigint FROM @extschema@.%s(%s) AS n $$;\n"
                % (name, args, each, params))
        how = "every shard, results added"
    elif kind == "lease":
        need_args(r, e, [("lease_owner", "text"), ("max_entries", "integer"), ("lease_duration", "interval")])
        # verist 0.5.0: an overload with lease_mode, passed on to every shard
        extra = [a for a in args_of(r) if a[0] not in ("lease_owner", "max_entries", "lease_duration")]
        if ([n for n, _ in args_of(r)][:3] != ["lease_owner", "max_entries", "lease_duration"]
                or extra not in ([], [("lease_mode", "text")])):
            raise GenError("functions.list:%d: %s: unexpected arguments for 'lease'" % (e["line"], name))
        xargs = "".join(", %s %s" % a for a in extra)
        xpass = "".join(", %s" % n for n, _ in extra)
        xnull = "".join(" OR %s IS NULL" % n for n, _ in extra)
        split = "verist_proxy_split__" + name
        sql = plproxy(split, "slots integer[], quotas integer[], lease_owner text, lease_duration interval" + xargs,
                      result, [cluster, "SPLIT slots, quotas;", "RUN ON slots;",
                               "SELECT l.* FROM @extschema@.%s(lease_owner, (quotas)[1], lease_duration%s) AS l;"
                               % (name, xpass)])
        sql += ("CREATE FUNCTION %s(%s)\nRETURNS %s\nLANGUAGE plpgsql\nAS $$\n"
                "-- max_entries is shared out between the shards, each called once per round\n"
                "-- with its share (max_entries / n, the remainder one each from a random\n"
                "-- starting shard; a share of 0 is not called).  A shard that returns less\n"
                "-- than its share has no more ready rows and drops out; what is still\n"
                "-- missing goes round again to the others.  So: up to max_entries rows in\n"
                "-- all, fewer only when the shards have no more.\n"
                "DECLARE\n"
                "    candidates integer[];\n    keep integer[];\n    called integer[];\n"
                "    slots integer[];\n    quotas integer[];\n    got integer[];\n"
                "    remaining integer := max_entries;\n"
                "    n integer;\n    first integer;\n    share integer;\n    k integer;\n"
                "    r %s;\n"
                "BEGIN\n"
                "    SELECT pg_catalog.array_agg(s.shard ORDER BY s.shard) INTO candidates\n"
                "    FROM @extschema@.verist_proxy_shards s;\n"
                "    IF candidates IS NULL THEN\n"
                "        RAISE EXCEPTION 'verist_proxy is not configured' USING ERRCODE = 'VRP02';\n"
                "    END IF;\n"
                "    IF lease_owner IS NULL OR max_entries IS NULL OR max_entries < 1 OR lease_duration IS NULL%s THEN\n"
                "        -- one shard refuses it as verist does (VRS01)\n"
                "        RETURN QUERY SELECT * FROM @extschema@.%s(ARRAY[@extschema@.verist_proxy_shard_slot(1)],\n"
                "            ARRAY[max_entries], lease_owner, lease_duration%s);\n"
                "        RETURN;\n"
                "    END IF;\n"
                "    WHILE remaining > 0 AND pg_catalog.cardinality(candidates) > 0 LOOP\n"
                "        n := pg_catalog.cardinality(candidates);\n"
                "        first := pg_catalog.floor(pg_catalog.random() * n)::integer;\n"
                "        slots := '{}'; quotas := '{}'; called := '{}'; keep := '{}';\n"
                "        FOR i IN 0 .. n - 1 LOOP\n"
                "            k := candidates[(first + i) %% n + 1];\n"
                "            share := remaining / n + CASE WHEN i < remaining %% n THEN 1 ELSE 0 END;\n"
                "            IF share > 0 THEN\n"
                "                slots := slots || @extschema@.verist_proxy_shard_slot(k);\n"
                "                quotas := quotas || share;\n"
                "                called := called || k;\n"
                "            ELSE\n"
                "                keep := keep || k;\n"
                "            END IF;\n"
                "        END LOOP;\n"
                "        got := pg_catalog.array_fill(0, ARRAY[pg_catalog.cardinality(called)]);\n"
                "        FOR r IN SELECT * FROM @extschema@.%s(slots, quotas, lease_owner, lease_duration%s) LOOP\n"
                "            k := pg_catalog.array_position(called, @extschema@.verist_proxy_shard_of_id(r.id));\n"
                "            IF k IS NOT NULL THEN\n"
                "                got[k] := got[k] + 1;\n"
                "            END IF;\n"
                "            remaining := remaining - 1;\n"
                "            RETURN NEXT r;\n"
                "        END LOOP;\n"
                "        FOR i IN 1 .. pg_catalog.cardinality(called) LOOP\n"
                "            IF got[i] >= quotas[i] THEN\n"
                "                keep := keep || called[i];\n"
                "            END IF;\n"
                "        END LOOP;\n"
                "        candidates := keep;\n"
                "    END LOOP;\n"
                "END\n$$;\n" % (name, args, result, result.replace("SETOF ", ""), xnull, split, xpass, split, xpass))
        how = "max_entries shared out between the shards"
    elif kind == "loop":
        if r["prokind"] != "p" or [n for n, _ in args_of(r)] != ["older_than", "batch_rows", "purged"]:
            raise GenError("functions.list:%d: %s: 'loop' expects a procedure (older_than, batch_rows, INOUT purged)"
                           % (e["line"], name))
        target = e["key"]
        sql = ("CREATE PROCEDURE %s(%s)\nLANGUAGE plpgsql\nAS $$\nDECLARE\n    n bigint;\nBEGIN\n"
               "    purged := 0;\n    LOOP\n"
               "        n := @extschema@.%s(older_than, batch_rows);   -- every shard, one batch each\n"
               "        purged := purged + n;\n"
               "        COMMIT;                    -- 2D000 inside a transaction block, as verist's\n"
               "        EXIT WHEN n = 0;\n    END LOOP;\nEND\n$$;\n" % (name, args, target))
        how = "calls %s on every shard until nothing is left" % target
    else:
        raise GenError("functions.list:%d: kind %r does not apply to function %s" % (e["line"], kind, name))
    what = "PROCEDURE" if r["prokind"] == "p" else "FUNCTION"
    return sql + "COMMENT ON %s %s(%s) IS %s;\n" % (what, name, r["identity"], q(header_comment(r, how)))


def view(rel, e):
    name = rel["name"]
    cols = rel["columns"]
    each = "verist_proxy_all__" + name
    table = ", ".join("%s %s" % (c, t) for c, t in cols)
    sql = plproxy(each, "", "TABLE (%s)" % table,
                  ["CLUSTER 'verist_cluster';", "RUN ON ALL;",
                   "SELECT %s FROM @extschema@.%s;" % (", ".join(c for c, _ in cols), name)])
    if e["kind"] == "union":
        sql += "CREATE VIEW %s AS\nSELECT %s FROM @extschema@.%s();\n" % (
            name, ", ".join(c for c, _ in cols), each)
        how = "every shard's rows"
    else:
        exprs = []
        for c, t in cols:
            if c in e["overrides"]:
                exprs.append("%s AS %s" % (e["overrides"][c], c))
            elif t in ("bigint", "integer", "numeric"):
                exprs.append("pg_catalog.sum(%s)::%s AS %s" % (c, t, c))
            elif t.startswith("timestamp"):
                exprs.append("pg_catalog.min(%s) AS %s" % (c, c))
            else:
                raise GenError("functions.list:%d: %s: say how to combine column %s (%s): %s=EXPRESSION"
                               % (e["line"], name, c, t, c))
        sql += "CREATE VIEW %s AS\nSELECT %s\nFROM @extschema@.%s();\n" % (
            name, ",\n       ".join(exprs), each)
        how = "every shard's row combined"
    c = rel["comment"] or ""
    sql += "COMMENT ON VIEW %s IS %s;\n" % (name, q("router (%s)%s" % (how, ": " + c if c else "")))
    return sql


def main(argv):
    check = output = None
    psql_args = []
    it = iter(argv)
    for a in it:
        if a == "--check":
            check = next(it)
        elif a == "--output":
            output = next(it)
        else:
            psql_args.append(a)
    try:
        entries = read_list(os.path.join(HERE, "functions.list"))
        cat = catalog(psql_args)
        generated = generate(cat, entries)
    except (GenError, subprocess.CalledProcessError) as e:
        msg = e.stderr if isinstance(e, subprocess.CalledProcessError) else str(e)
        print("generate.py: %s" % msg.strip(), file=sys.stderr)
        return 2
    version = cat["version"]
    static = open(os.path.join(HERE, "static.sql")).read()
    script = ("/* src/proxy/verist_proxy--%s.sql: generated by src/proxy/generate.py from static.sql,\n"
              "   functions.list and the catalog of verist %s; do not edit (regenerate) */\n\n"
              "\\echo Use \"CREATE EXTENSION verist_proxy\" to load this file. \\quit\n\n"
              % (version, version) + static + "\n" + generated)
    if check:
        have = open(check).read() if os.path.exists(check) else ""
        if have != script:
            sys.stdout.writelines(difflib.unified_diff(
                have.splitlines(True), script.splitlines(True), check, "generated from the shard"))
            return 1
        return 0
    if output:
        with open(output + ".new", "w") as f:
            f.write(script)
        os.replace(output + ".new", output)
    else:
        sys.stdout.write(script)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
