#!/usr/bin/env python3
"""
Static check of the install script of the default version: no routine body
names the extension's schema.

CREATE EXTENSION replaces @extschema@ by the schema's name when the script
runs, so a PL/pgSQL or SQL body that writes @extschema@.something keeps that
name for ever, and breaks when the schema is renamed (0.3.0's
verist_purge_outbox_all did).  Views and C functions follow a rename (they
hold OIDs); bodies kept as text do not.

  check_scripts.py [--self-test] verist.control sql/
Prints "ok - ..." / "not ok - ..." and exits 1 on any finding.
"""
import os
import re
import sys

BODY_RE = re.compile(r"CREATE\s+(?:OR\s+REPLACE\s+)?(FUNCTION|PROCEDURE)\s+([\w.]+)"
                     r"(?:(?!CREATE\s).)*?AS\s+(\$\w*\$)(.*?)\3", re.S | re.I)


def findings(script):
    """(routine, problem) for every routine body that names @extschema@."""
    out = []
    for kind, name, _, body in BODY_RE.findall(script):
        if "@extschema@" in body:
            out.append((name, "%s body names @extschema@: a renamed schema breaks it" % kind.lower()))
    return out


def self_test():
    planted = ("CREATE PROCEDURE p(x int) LANGUAGE plpgsql AS $$\nBEGIN\n"
               "  PERFORM @extschema@.f(x);\nEND\n$$;\n")
    clean = ("CREATE FUNCTION f(x int) RETURNS int AS 'MODULE_PATHNAME', 'f' LANGUAGE C;\n"
             "CREATE VIEW v AS SELECT 1;\n"
             "CREATE FUNCTION g() RETURNS int LANGUAGE sql AS $$ SELECT 1 $$;\n")
    if not findings(planted):
        print("not ok - self-test: a planted @extschema@ in a procedure body is not found")
        return 1
    if findings(clean):
        print("not ok - self-test: a clean script is flagged: %s" % findings(clean))
        return 1
    print("ok - self-test: a planted @extschema@ in a routine body is found, a clean script passes")
    return 0


def main(argv):
    failures = 0
    if "--self-test" in argv:
        argv = [a for a in argv if a != "--self-test"]
        failures += self_test()
    control, sqldir = argv
    version = re.search(r"default_version\s*=\s*'([^']+)'", open(control).read()).group(1)
    path = os.path.join(sqldir, "verist--%s.sql" % version)
    found = findings(open(path, encoding="utf-8").read())
    for name, problem in found:
        print("not ok - %s: %s: %s" % (path, name, problem))
    if not found:
        print("ok - %s: no routine body names @extschema@ (every routine follows a renamed schema)"
              % path)
    return 1 if failures or found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
