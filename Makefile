EXTENSION = verist
EXTVERSION = 0.6.0

MODULE_big = verist
# In dependency order: the base, the engines, then the SQL functions
# (README "Layout").
OBJS = src/verist.o src/errors.o src/counters.o src/jsonb_util.o src/args.o src/plans.o \
       src/shapes.o src/canonical.o src/chain.o src/ledger.o src/outbox.o \
       src/history.o src/ledger_check.o src/prepare.o \
       src/commit.o src/state.o src/blocks.o src/dispatch.o src/events.o \
       src/audit.o src/retire.o src/canonical_sql.o \
       src/lease.o src/metrics.o src/rowinsert.o src/rowupdate.o

# Every released version's script and every upgrade step ship; a shipped
# script is never edited.
DATA = sql/verist--0.1.0.sql sql/verist--0.2.0.sql sql/verist--0.3.0.sql sql/verist--0.3.1.sql \
       sql/verist--0.4.0.sql sql/verist--0.5.0.sql sql/verist--0.6.0.sql \
       sql/verist--0.1.0--0.2.0.sql sql/verist--0.2.0--0.3.0.sql sql/verist--0.3.0--0.3.1.sql \
       sql/verist--0.3.1--0.4.0.sql sql/verist--0.4.0--0.5.0.sql sql/verist--0.5.0--0.6.0.sql
PGFILEDESC = "verist - Verist workflow storage contract in the database"

# pg_regress topics, one file per topic.  pg_regress reads sql/NAME.sql and
# compares with expected/NAME.out under --inputdir; the design keeps both
# directories at the top, so the inputs sit beside the install scripts in
# sql/ (those are named verist--VERSION.sql and are never a test).  Every file
# first includes test/regress/helpers.sql, so that each runs alone:
#   make installcheck REGRESS=commit
REGRESS = schema commit events routing overlay outbox dedupe append_only bad_input \
          privileges search_path audit dispatch upgrade hardening ledger tenants leasing \
          insert_path state_path generic_plans
REGRESS_OPTS = --inputdir=. --load-extension=verist

# Isolation specs for the races (test/isolation/README.md).
ISOLATION = create-race version-race overlay-race resume-race review-race \
            block-race lease-race lease-expiry release-race read-events \
            notify retry-race resolve-order retire-race run-order workflow-limit \
            retry-turn trigger-race state-race
ISOLATION_OPTS = --inputdir=test/isolation --load-extension=verist

# Warnings are part of the build.  "override" keeps them, and -Werror, when
# PG_CFLAGS is also given on the make command line (as the sanitizer build
# does): a command-line variable otherwise replaces every assignment here.
# The lint suite proves it: a planted warning must fail such a build.
override PG_CFLAGS += -Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers
ifdef WERROR
override PG_CFLAGS += -Werror
endif

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# Every object is rebuilt when a header changes (PGXS tracks no header
# dependencies unless PostgreSQL was configured with --enable-depend).
$(OBJS): $(wildcard src/*.h)

# ASan + UBSan: a sanitized copy runs regress, isolation and the fuzzer
# (test/sanitize/run.sh; the installed verist is not touched).
.PHONY: sanitize
sanitize:
	bash test/sanitize/run.sh
