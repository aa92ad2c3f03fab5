#!/usr/bin/env python3
"""
Static checks of every SQL statement the C code runs (src/*.c).

verist runs SQL only through VeristQuery constants: constant text, prepared
once with SPI_prepare_cursor (in plans.c, after putting in the quoted schema
name; the cursor options only say whether to plan once for any arguments)
and executed with parameters $1..$n.  This script proves it stays that way:

  spi        no SPI call that takes SQL text other than SPI_prepare and
             SPI_prepare_cursor, and those only in plans.c (no SPI_execute,
             SPI_exec, *_with_args ...);
  constant   every VeristQuery's text is string literals only (string-literal
             macros of the same file, like MICROS("col"), are expanded
             first, nested ones and those of several parameters too): no
             format directive, nothing spliced in at run time,
             and no VeristQuery this script cannot read;
  tables     every relation named after FROM, JOIN, INTO, UPDATE or USING is
             @extschema@.verist_* or a name the statement defines (CTE);
  functions  every function call is pg_catalog-qualified (SQL constructs such
             as COALESCE, LEAST, ANY, VALUES, ROWS FROM are not calls);
  operators  every operator is written OPERATOR(pg_catalog.op); casts name
             their type as pg_catalog.type.

  check_sql.py [--self-test] src/*.c
Prints "ok - ..." / "not ok - ..." and exits 1 on any finding.
"""
import os
import re
import sys

SQL_TAKING_SPI = ["SPI_execute", "SPI_exec", "SPI_execute_with_args", "SPI_execute_extended",
                  "SPI_cursor_open_with_args", "SPI_cursor_parse_open",
                  "SPI_prepare_params", "SPI_prepare_extended"]

# Words followed by "(" that are SQL syntax, not function calls.
CONSTRUCTS = {"COALESCE", "LEAST", "GREATEST", "ANY", "ALL", "IN", "EXISTS", "VALUES", "FROM",
              "AS", "WHERE", "AND", "OR", "NOT", "ON", "CONFLICT", "SELECT", "RETURNING", "SET",
              "THEN", "ELSE", "WHEN", "CASE", "OVER", "FILTER", "USING", "ROWS", "WITH", "GROUP", "LATERAL", "ARRAY",
              "OP", "LIT"}

QUERY_RE = re.compile(r"static\s+VeristQuery\s+(\w+)\s*=\s*\{\s*((?:\"(?:[^\"\\]|\\.)*\"\s*)+),", re.S)
LITERAL_RE = re.compile(r"\"((?:[^\"\\]|\\.)*)\"")


DECLARED_RE = re.compile(r"static\s+VeristQuery\s+(\w+)\s*=\s*\{")


LIT = r'"(?:[^"\\]|\\.)*"'
# A macro argument: string literals and names (a name is the parameter of
# the macro being expanded, or is left over and fails the constant check).
ARG = r'((?:%s|\w+)(?:\s*(?:%s|\w+))*)' % (LIT, LIT)


def expand_macros(text):
    """
    Expand the file's string-literal macros: NAME -> its literals, and
    NAME("lit", ...) -> its literals with each parameter replaced by its
    argument.  A macro is expanded once its body, after the macros it uses
    are expanded in it, is string literals and its parameters only; anything
    else stays and fails the constant check.
    """
    defs = {}
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("#define"):
            full = line
            while full.endswith("\\") and i + 1 < len(lines):
                i += 1
                full = full[:-1] + " " + lines[i]
            m = re.match(r"#define\s+(\w+)(?:\(([\w\s,]*)\))?\s+(.*)$", full)
            if m:
                params = [p.strip() for p in m.group(2).split(",")] if m.group(2) is not None else None
                defs[m.group(1)] = (params, m.group(3))
        i += 1

    def literal_only(params, body):
        words = re.findall(LIT + r'|\w+|\S', body)
        return words and all(w.startswith('"') or (params and w in params) for w in words), words

    def expand(name, params, words, where):
        if params is None:
            pat = re.compile(r"(?<!#define )\b%s\b(?!\s*\()" % name)
            return pat.subn(lambda m: " ".join(words), where)
        pat = re.compile(r"\b%s\(\s*%s\s*\)" % (name, r"\s*,\s*".join([ARG] * len(params))))
        def repl(m):
            args = dict(zip(params, m.groups()))
            return " ".join(args.get(w, w) for w in words)
        return pat.subn(repl, where)

    for _ in range(10):
        changed = False
        for name, (params, body) in list(defs.items()):
            ok, words = literal_only(params, body)
            if not ok:
                continue
            text, n = expand(name, params, words, text)
            changed = changed or n > 0
            for other, (oparams, obody) in list(defs.items()):
                if other != name:
                    obody, n = expand(name, params, words, obody)
                    if n:
                        defs[other] = (oparams, obody)
                        changed = True
        if not changed:
            break
    return text


def statements(path):
    text = expand_macros(open(path, encoding="utf-8").read())
    read = set()
    for m in QUERY_RE.finditer(text):
        read.add(m.group(1))
        body = m.group(2)
        parts = LITERAL_RE.findall(body)
        leftover = LITERAL_RE.sub("", body).strip()
        sql = "".join(p.encode().decode("unicode_escape") for p in parts)
        yield m.group(1), sql, leftover
    for name in DECLARED_RE.findall(text):
        if name not in read:
            yield name, "", "(a VeristQuery whose text is not string literals only)"


def problems_of(sql, leftover):
    found = []
    if leftover:
        found.append(f"not only string literals: {leftover!r}")
    if "%" in sql:
        found.append("a format directive (%) in the text")
    # strip what is allowed: string literals, schema-qualified names, operators
    s = re.sub(r"'(?:[^']|'')*'", " LIT ", sql)
    s = re.sub(r"OPERATOR\(pg_catalog\.[^)\s]+\)", " OP ", s)
    s = re.sub(r"::pg_catalog\.\"?\w+\"?(\[\])?", " ", s)
    if "::" in s:
        found.append("a cast to a type not written pg_catalog.type")
    s = re.sub(r"FOR\s+UPDATE", " ", s)
    s = re.sub(r"pg_catalog\.count\(\*\)", "pg_catalog.count( )", s)
    # "col = expr" in a SET list is an assignment, not an operator
    s = re.sub(r"\bSET\b(.*?)(?=\bWHERE\b|\bRETURNING\b|\bFROM\b|$)",
               lambda m: "SET" + re.sub(r"(^|,)\s*(\w+|\(\s*\w+(\s*,\s*\w+)*\s*\))\s*=", r"\1 ",
                                        m.group(1)), s, flags=re.S)
    ctes = set(re.findall(r"(?:WITH(?:\s+RECURSIVE)?|,)\s*(\w+)\s+AS\s*\(", s))
    for kw, name in re.findall(r"\b(FROM|JOIN|INTO|UPDATE|USING)\s+([\w@.\"]+)", s):
        if name.startswith("@extschema@.verist_") or name in ctes or name in ("ROWS", "LATERAL"):
            continue
        if kw == "FROM" and name.startswith("("):
            continue
        found.append(f"relation {name!r} after {kw} is not @extschema@.verist_* nor a CTE")
    for word in re.findall(r"([\w.\"@]+)\s*\(", s):
        bare = word.split(".")[-1].strip('"')
        if word.startswith("pg_catalog."):
            continue
        if bare.upper() in CONSTRUCTS or word in ctes:
            continue
        # alias column lists "AS e(type, ...)" and column lists "verist_x (a, b)"
        if re.search(r"\bAS\s+" + re.escape(word) + r"\s*\(", s) or word.startswith("@extschema@."):
            continue
        found.append(f"call of {word!r} is not pg_catalog-qualified")
    s = re.sub(r"\$\d+", " ", s)
    s = re.sub(r"\b\w+\.\*", " ", s)           # s.*
    s = re.sub(r"SELECT\s+\*", "SELECT ", s)
    bad = sorted(set(re.findall(r"[=<>+\-*/|!~#%^&?]", s)))
    if bad:
        found.append(f"operator characters outside OPERATOR(pg_catalog.…): {' '.join(bad)}")
    return found


def check_files(paths):
    failures = 0
    count = 0
    for path in paths:
        text = open(path, encoding="utf-8").read()
        for fn in SQL_TAKING_SPI:
            if re.search(r"\b" + fn + r"\s*\(", text):
                print(f"not ok - spi: {path} calls {fn}")
                failures += 1
        if re.search(r"\bSPI_prepare(_cursor)?\s*\(", text) and not path.endswith("plans.c"):
            print(f"not ok - spi: {path} calls SPI_prepare outside plans.c")
            failures += 1
        for name, sql, leftover in statements(path):
            count += 1
            for p in problems_of(sql, leftover):
                print(f"not ok - {path}:{name}: {p}")
                failures += 1
    return failures, count


def self_test():
    """The checks must be able to fail: planted mistakes are found."""
    planted = {
        "unqualified operator": ("SELECT s.x FROM @extschema@.verist_state AS s WHERE s.a = $1", ""),
        "unqualified function": ("SELECT now() FROM @extschema@.verist_state AS s", ""),
        "unqualified table": ("SELECT s.x FROM verist_state AS s", ""),
        "spliced text": ("SELECT 1", "some_variable"),
        "format directive": ("SELECT s.x FROM @extschema@.verist_state AS s WHERE s.a OPERATOR(pg_catalog.=) '%s'", ""),
        "bare cast": ("SELECT '{}'::jsonb", ""),
        "concatenation": ("SELECT s.a || s.b FROM @extschema@.verist_state AS s", ""),
    }
    clean = ("WITH c AS (SELECT o.id FROM @extschema@.verist_outbox AS o"
             " WHERE o.id OPERATOR(pg_catalog.=) ANY ($1) ORDER BY o.id LIMIT $2)"
             " UPDATE @extschema@.verist_outbox AS o SET x = COALESCE(o.a, pg_catalog.now())"
             " FROM c WHERE o.id OPERATOR(pg_catalog.=) c.id RETURNING o.*", "")
    failures = 0
    for label, (sql, leftover) in planted.items():
        if not problems_of(sql, leftover):
            print(f"not ok - self-test: planted {label} not found")
            failures += 1
    if problems_of(*clean):
        print(f"not ok - self-test: a clean statement flagged: {problems_of(*clean)}")
        failures += 1
    # statements built with string-literal macros are read after expansion, and
    # one built from anything else is reported, never skipped
    import tempfile
    source = ('#define COLS "(a, b)"\n'
              '#define AGE(c) "pg_catalog.now() OPERATOR(pg_catalog.-) " c\n'
              'static VeristQuery q1 = {"INSERT INTO @extschema@.verist_x " COLS'
              ' " SELECT " AGE("s.t") " = 1 FROM @extschema@.verist_y AS s", 0, {0}};\n'
              'static VeristQuery q2 = {"SELECT 1" some_variable, 0, {0}};\n'
              # nested macros, one with two parameters (src/lease.c builds its queries so)
              '#define PAIR(a, b) " " a " = " b\n'
              '#define WRAP(x) "SELECT 1 FROM @extschema@.verist_y AS s WHERE" x\n'
              'static VeristQuery q3 = {WRAP(PAIR("s.a", "s.b")), 0, {0}};\n')
    with tempfile.NamedTemporaryFile("w", suffix=".c", delete=False) as f:
        f.write(source)
    found = {name: problems_of(sql, left) for name, sql, left in statements(f.name)}
    os.unlink(f.name)
    q3 = found.get("q3") or []
    if not (found.get("q1") and any("operator" in p for p in found["q1"]) and found.get("q2")
            and any("operator" in p for p in q3) and not any("string literals" in p for p in q3)):
        print(f"not ok - self-test: macro-built statements not read as expected: {found}")
        failures += 1
    if not failures:
        print(f"ok - self-test: all {len(planted)} planted mistakes found, a clean statement passes,"
              " macro-built statements are read, an unreadable one is reported")
    return failures


def main(argv):
    failures = 0
    if "--self-test" in argv:
        argv = [a for a in argv if a != "--self-test"]
        failures += self_test()
    f, count = check_files(argv)
    failures += f
    if not f:
        print(f"ok - {count} SQL statements in {len(argv)} C files: constant text, only SPI_prepare(_cursor) "
              "in plans.c, verist tables schema-qualified, functions and operators in pg_catalog")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
