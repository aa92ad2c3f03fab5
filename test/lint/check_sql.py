#!/usr/bin/env python3
"""
Static checks of every SQL statement the C code runs (src/*.c).

verist runs SQL only through VeristQuery constants: constant text, prepared
once with SPI_prepare (in plans.c, after putting in the quoted schema name)
and executed with parameters $1..$n.  This script proves it stays that way:

  spi        no SPI call that takes SQL text other than SPI_prepare, and that
             one only in plans.c (no SPI_execute, SPI_exec, *_with_args ...);
  constant   every VeristQuery's text is string literals only: no format
             directive, nothing spliced in at run time;
  tables     every relation named after FROM, JOIN, INTO, UPDATE or USING is
             @extschema@.verist_* or a name the statement defines (CTE);
  functions  every function call is pg_catalog-qualified (SQL constructs such
             as COALESCE, LEAST, ANY, VALUES, ROWS FROM are not calls);
  operators  every operator is written OPERATOR(pg_catalog.op); casts name
             their type as pg_catalog.type.

  check_sql.py [--self-test] src/*.c
Prints "ok - ..." / "not ok - ..." and exits 1 on any finding.
"""
import re
import sys

SQL_TAKING_SPI = ["SPI_execute", "SPI_exec", "SPI_execute_with_args", "SPI_execute_extended",
                  "SPI_cursor_open_with_args", "SPI_cursor_parse_open", "SPI_prepare_cursor",
                  "SPI_prepare_params", "SPI_prepare_extended"]

# Words followed by "(" that are SQL syntax, not function calls.
CONSTRUCTS = {"COALESCE", "LEAST", "GREATEST", "ANY", "ALL", "IN", "EXISTS", "VALUES", "FROM",
              "AS", "WHERE", "AND", "OR", "NOT", "ON", "CONFLICT", "SELECT", "RETURNING", "SET",
              "THEN", "ELSE", "WHEN", "CASE", "OVER", "FILTER", "USING", "ROWS", "WITH",
              "OP", "LIT"}

QUERY_RE = re.compile(r"static\s+VeristQuery\s+(\w+)\s*=\s*\{\s*((?:\"(?:[^\"\\]|\\.)*\"\s*)+),", re.S)
LITERAL_RE = re.compile(r"\"((?:[^\"\\]|\\.)*)\"")


def statements(path):
    text = open(path, encoding="utf-8").read()
    for m in QUERY_RE.finditer(text):
        body = m.group(2)
        parts = LITERAL_RE.findall(body)
        leftover = LITERAL_RE.sub("", body).strip()
        sql = "".join(p.encode().decode("unicode_escape") for p in parts)
        yield m.group(1), sql, leftover


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
    # "col = expr" in a SET list is an assignment, not an operator
    s = re.sub(r"\bSET\b(.*?)(?=\bWHERE\b|\bRETURNING\b|\bFROM\b|$)",
               lambda m: "SET" + re.sub(r"(^|,)\s*\w+\s*=", r"\1 ", m.group(1)), s, flags=re.S)
    ctes = set(re.findall(r"(?:WITH|,)\s*(\w+)\s+AS\s*\(", s))
    for kw, name in re.findall(r"\b(FROM|JOIN|INTO|UPDATE|USING)\s+([\w@.\"]+)", s):
        if name.startswith("@extschema@.verist_") or name in ctes or name == "ROWS":
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
        if re.search(r"\bSPI_prepare\s*\(", text) and not path.endswith("plans.c"):
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
    if not failures:
        print(f"ok - self-test: all {len(planted)} planted mistakes found, a clean statement passes")
    return failures


def main(argv):
    failures = 0
    if "--self-test" in argv:
        argv = [a for a in argv if a != "--self-test"]
        failures += self_test()
    f, count = check_files(argv)
    failures += f
    if not f:
        print(f"ok - {count} SQL statements in {len(argv)} C files: constant text, only SPI_prepare "
              "in plans.c, verist tables schema-qualified, functions and operators in pg_catalog")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
