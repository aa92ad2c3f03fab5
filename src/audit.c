/*
 * audit.c
 *		Verifying a run's record: verist_verify_run, verist_verify_all,
 *		verist_run_digest, and the two event-chain hash functions open to
 *		everyone, verist_chain_genesis and verist_event_hash.  The formats
 *		are chain.c's (events, 0.2.0) and ledger.c's (the ledger, 0.4.0).
 *
 * Verification walks a run's events in sequence order with a cursor, in a
 * memory context reset per batch, recomputes each hash and stops at the
 * first break; then it compares the run's chain head.  From 0.4.0 it then
 * checks the ledger (ledger_check.c): entries, their binding to the events,
 * and the state row and blocks against the ledger's replay.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

#include "args.h"
#include "canonical.h"
#include "chain.h"
#include "compat.h"
#include "counters.h"
#include "errors.h"
#include "history.h"
#include "ledger.h"
#include "plans.h"
#include "retire.h"
#include "verify.h"

#define CHAIN_FETCH 1000		/* events read per cursor fetch */

/* Columns of chain_events, by position. */
enum
{
	EV_SEQ = 1,
	EV_HASH,
	EV_STEP_ID,
	EV_TYPE,
	EV_PAYLOAD,
	EV_LLM_TRACE,
	EV_CREATED_AT
};

static VeristQuery chain_events = {
	"SELECT e.seq, e.hash, e.step_id, e.type, e.payload, e.llm_trace, e.created_at"
	" FROM @extschema@.verist_events AS e"
	" WHERE e.workflow_id OPERATOR(pg_catalog.=) $1"
	" AND e.run_id OPERATOR(pg_catalog.=) $2"
	" ORDER BY e.seq, e.id",
	2, {TEXTOID, TEXTOID}
};

static VeristQuery chain_head = {
	"SELECT s.chain_seq, s.chain_hash FROM @extschema@.verist_state AS s"
	" WHERE s.workflow_id OPERATOR(pg_catalog.=) $1"
	" AND s.run_id OPERATOR(pg_catalog.=) $2",
	2, {TEXTOID, TEXTOID}
};

static VeristQuery chain_runs = {
	"SELECT r.workflow_id, r.run_id, s.chain_seq, s.chain_hash"
	" FROM (SELECT workflow_id, run_id FROM @extschema@.verist_state"
	"       UNION SELECT workflow_id, run_id FROM @extschema@.verist_events) AS r"
	" LEFT JOIN @extschema@.verist_state AS s"
	"   ON s.workflow_id OPERATOR(pg_catalog.=) r.workflow_id"
	"  AND s.run_id OPERATOR(pg_catalog.=) r.run_id"
	" ORDER BY r.workflow_id, r.run_id",
	0, {0}
};

/* A jsonb column of the current row as a container, or NULL. */
static JsonbContainer *
ColumnJsonb(HeapTuple row, TupleDesc desc, int column)
{
	bool		isnull;
	Datum		d = SPI_getbinval(row, desc, column, &isnull);

	return isnull ? NULL : &DatumGetJsonbP(d)->root;
}

/* A text column of the current row (never NULL in verist's tables). */
static text *
ColumnText(HeapTuple row, TupleDesc desc, int column)
{
	bool		isnull;
	Datum		d = SPI_getbinval(row, desc, column, &isnull);

	return isnull ? cstring_to_text("") : DatumGetTextPP(d);
}

/*
 * Check one event row against the chain so far; on success advance prev and
 * the expected sequence.  Returns false at the first break.
 */
static bool
CheckEventRow(HeapTuple row, TupleDesc desc, text *wf, text *run, char *prev, int32 *expected,
			  VeristEventMarks *marks, VeristCheck *check, pg_cryptohash_ctx *sha)
{
	VeristChainEvent ev;
	bool		isnull;
	char		hex[VERIST_HASH_HEX_LEN + 1];
	char	   *stored;

	ev.seq = DatumGetInt32(SPI_getbinval(row, desc, EV_SEQ, &isnull));
	if (isnull || ev.seq > *expected)
	{
		VeristCheckBreak(check, *expected, "missing event");
		return false;
	}
	if (ev.seq < *expected)
	{
		VeristCheckBreak(check, ev.seq, "duplicate sequence");
		return false;
	}
	ev.workflow_id = wf;
	ev.run_id = run;
	ev.step_id = ColumnText(row, desc, EV_STEP_ID);
	ev.type = ColumnText(row, desc, EV_TYPE);
	ev.payload = ColumnJsonb(row, desc, EV_PAYLOAD);
	ev.trace = ColumnJsonb(row, desc, EV_LLM_TRACE);
	ev.created_at = DatumGetTimestampTz(SPI_getbinval(row, desc, EV_CREATED_AT, &isnull));
	VeristChainEventHash(prev, &ev, hex, sha);

	stored = SPI_getvalue(row, desc, EV_HASH);
	if (stored == NULL || strcmp(stored, hex) != 0)
	{
		VeristCheckBreak(check, ev.seq, "hash mismatch");
		return false;
	}
	memcpy(prev, hex, VERIST_HASH_HEX_LEN + 1);
	VeristMarkEvent(marks, ev.seq, hex);
	(*expected)++;
	check->checked++;
	return true;
}

/*
 * Recompute the chain of one run and compare it with the stored hashes and
 * the head on its state row (head_hash NULL: the state row is missing).
 */
static void
CheckRun(text *wf, text *run, int32 head_seq, const char *head_hash, VeristEventMarks *marks,
		 VeristCheck *check)
{
	Datum		values[2] = {PointerGetDatum(wf), PointerGetDatum(run)};
	MemoryContext batch_cxt;
	MemoryContext old;
	Portal		portal;
	char		prev[VERIST_HASH_HEX_LEN + 1];
	int32		expected = 1;
	bool		going = true;
	pg_cryptohash_ctx *sha;

	check->any_event = false;
	check->checked = 0;
	check->entries = 0;
	check->broken_seq = -1;
	check->reason = NULL;
	sha = pg_cryptohash_create(PG_SHA256);
	VeristChainGenesis(wf, run, prev, sha);

	batch_cxt = AllocSetContextCreate(CurrentMemoryContext, "verist chain batch",
									  ALLOCSET_DEFAULT_SIZES);
	portal = SPI_cursor_open(NULL, VeristPlan(&chain_events), values, NULL, true);
	while (going)
	{
		SPI_cursor_fetch(portal, true, CHAIN_FETCH);
		if (SPI_processed == 0)
			break;
		check->any_event = true;
		old = MemoryContextSwitchTo(batch_cxt);
		for (uint64 i = 0; i < SPI_processed && going; i++)
			going = CheckEventRow(SPI_tuptable->vals[i], SPI_tuptable->tupdesc,
								  wf, run, prev, &expected, marks, check, sha);
		MemoryContextSwitchTo(old);
		MemoryContextReset(batch_cxt);
		SPI_freetuptable(SPI_tuptable);
	}
	SPI_cursor_close(portal);
	MemoryContextDelete(batch_cxt);
	pg_cryptohash_free(sha);

	if (!going)
		return;
	if (head_hash == NULL)
		VeristCheckBreak(check, 1, "state row missing");
	else if (head_seq < check->checked)
		VeristCheckBreak(check, head_seq + 1, "event beyond chain head");
	else if (head_seq > check->checked)
		VeristCheckBreak(check, (int32) check->checked + 1, "missing event");
	else if (strcmp(head_hash, prev) != 0)
		VeristCheckBreak(check, head_seq, "chain head mismatch");
}

/*
 * Fetch a run's chain head; false if the run has no state row.  The hash is
 * copied into cxt, so that it can outlive SPI_finish.
 */
static bool
ReadHead(VeristQuery *query, Datum *ids, int32 *seq, char **hash, MemoryContext cxt)
{
	bool		isnull;
	char	   *value;

	if (VeristExecute(query, ids, NULL, true, 1) == 0)
		return false;
	*seq = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	value = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
	*hash = value ? MemoryContextStrdup(cxt, value) : NULL;
	return true;
}

/* Fill three result columns: events_checked, first_broken_seq, reason. */
static void
CheckColumns(const VeristCheck *check, Datum *values, bool *nulls)
{
	values[0] = Int64GetDatum(check->checked);
	nulls[0] = false;
	values[1] = Int32GetDatum(check->broken_seq);
	nulls[1] = (check->broken_seq < 0);
	values[2] = check->reason ? CStringGetTextDatum(check->reason) : (Datum) 0;
	nulls[2] = (check->reason == NULL);
}

/* Columns of state_for_ledger, by position. */
enum
{
	S_VERSION = 1,
	S_COMPUTED,
	S_OVERLAY,
	S_CHAIN_SEQ,
	S_CHAIN_HASH,
	S_LEDGER_SEQ,
	S_LEDGER_HASH
};

static VeristQuery state_for_ledger = {
	"SELECT s.version, s.computed, s.overlay, s.chain_seq, s.chain_hash, s.ledger_seq,"
	" s.ledger_hash FROM @extschema@.verist_state AS s"
	" WHERE s.workflow_id OPERATOR(pg_catalog.=) $1"
	" AND s.run_id OPERATOR(pg_catalog.=) $2",
	2, {TEXTOID, TEXTOID}
};

/* 0.4.0: runs with a state row, events or ledger entries. */
static VeristQuery ledger_runs = {
	"SELECT r.workflow_id, r.run_id"
	" FROM (SELECT workflow_id, run_id FROM @extschema@.verist_state"
	"       UNION SELECT workflow_id, run_id FROM @extschema@.verist_events"
	"       UNION SELECT workflow_id, run_id FROM @extschema@.verist_ledger) AS r"
	" ORDER BY r.workflow_id, r.run_id",
	0, {0}
};

/*
 * Check one run, in the current memory context: its event chain, and with
 * ledger (0.4.0) its ledger, state row and blocks.  *exists: the run has a
 * state row, an event or a ledger entry.
 */
static void
VerifyOne(text *wf, text *run, bool ledger, VeristCheck *check, bool *exists)
{
	Datum		ids[2] = {PointerGetDatum(wf), PointerGetDatum(run)};
	VeristRunRow row;
	VeristEventMarks marks = {0, NULL, NULL};
	int32		head_seq = 0;
	char	   *head_hash = NULL;
	bool		isnull;

	if (!ledger)
	{
		if (!ReadHead(&chain_head, ids, &head_seq, &head_hash, CurrentMemoryContext))
			head_hash = NULL;
		CheckRun(wf, run, head_seq, head_hash, NULL, check);
		*exists = (head_hash != NULL || check->any_event);
		return;
	}

	if (VeristExecute(&state_for_ledger, ids, NULL, true, 1) == 1)
	{
		HeapTuple	t = SPI_tuptable->vals[0];
		TupleDesc	d = SPI_tuptable->tupdesc;

		row.version = DatumGetInt32(SPI_getbinval(t, d, S_VERSION, &isnull));
		row.computed = DatumGetJsonbPCopy(SPI_getbinval(t, d, S_COMPUTED, &isnull));
		row.overlay = DatumGetJsonbPCopy(SPI_getbinval(t, d, S_OVERLAY, &isnull));
		head_seq = DatumGetInt32(SPI_getbinval(t, d, S_CHAIN_SEQ, &isnull));
		head_hash = SPI_getvalue(t, d, S_CHAIN_HASH);
		row.ledger_seq = DatumGetInt32(SPI_getbinval(t, d, S_LEDGER_SEQ, &isnull));
		row.ledger_hash = SPI_getvalue(t, d, S_LEDGER_HASH);
		if (head_hash == NULL)
			head_hash = "";
		if (row.ledger_hash == NULL)
			row.ledger_hash = "";
	}
	VeristLoadEventMarks(wf, run, &marks);
	CheckRun(wf, run, head_seq, head_hash, &marks, check);
	*exists = (head_hash != NULL || check->any_event || marks.count > 0);
	if (check->reason == NULL && head_hash != NULL)
	{
		char		genesis[VERIST_HASH_HEX_LEN + 1];

		VeristChainGenesis(wf, run, genesis, NULL);
		VeristCheckLedger(wf, run, &row, &marks, genesis, check);
	}
}

/* verist_verify_run of both versions: see verist_verify_run_ledger. */
static Datum
VerifyRun(FunctionCallInfo fcinfo, bool ledger)
{
	text	   *wf = VeristIdArg(fcinfo, 0, "workflow_id");
	text	   *run = VeristIdArg(fcinfo, 1, "run_id");
	TupleDesc	desc;
	Datum		values[4];
	bool		nulls[4] = {false, false, false, false};
	VeristCheck check;
	bool		exists;
	bool		retired = false;
	HeapTuple	result;

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");

	VeristConnect(fcinfo);
	VerifyOne(wf, run, ledger, &check, &exists);
	if (!exists && ledger)
		retired = VeristRunIsRetired(wf, run);
	VeristFinish();

	/* Nothing of the run, and no seal: there is no such run. */
	if (!exists && !retired)
		VeristRaiseRunMissing(wf, run, NULL);

	if (retired)
	{
		/* nothing left to check: the seal chain vouches for it (verist_verify_all) */
		memset(&check, 0, sizeof(check));
		check.broken_seq = -1;
	}
	values[0] = BoolGetDatum(check.reason == NULL);
	CheckColumns(&check, values + 1, nulls + 1);
	if (retired)
	{
		values[3] = CStringGetTextDatum("retired");
		nulls[3] = false;
	}
	result = heap_form_tuple(BlessTupleDesc(desc), values, nulls);
	PG_RETURN_DATUM(HeapTupleGetDatum(result));
}

PG_FUNCTION_INFO_V1(verist_verify_run);

/*
 * SQL (0.2.0 to 0.3.x): verist_verify_run(workflow_id, run_id, OUT valid,
 *		OUT events_checked, OUT first_broken_seq, OUT reason)
 */
Datum
verist_verify_run(PG_FUNCTION_ARGS)
{
	return VerifyRun(fcinfo, false);
}

PG_FUNCTION_INFO_V1(verist_verify_run_ledger);

/*
 * SQL (0.4.0 on): verist_verify_run, which also checks the run's ledger;
 * a retired run is valid with reason "retired".
 */
Datum
verist_verify_run_ledger(PG_FUNCTION_ARGS)
{
	return VerifyRun(fcinfo, true);
}

/* Add a broken run to verify_all's result. */
static void
PutBroken(ReturnSetInfo *rsinfo, text *wf, text *run, const VeristCheck *check)
{
	Datum		values[5];
	bool		nulls[5] = {false, false, false, false, false};

	values[0] = PointerGetDatum(wf);
	values[1] = PointerGetDatum(run);
	CheckColumns(check, values + 2, nulls + 2);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
}

/*
 * verist_verify_all of both versions: every run that has a state row or an
 * event (or, 0.4.0, a ledger entry), one at a time; then, 0.4.0, the chain
 * of seals of retired runs.  Memory stays bounded: runs come from a cursor,
 * and each run's work happens in a context reset, and an SPI connection
 * closed, before the next.
 */
static Datum
VerifyAll(FunctionCallInfo fcinfo, bool ledger)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MemoryContext run_cxt;
	Portal		portal;
	VeristCheck seals;
	text	   *seal_wf;
	text	   *seal_run;

	InitMaterializedSRF(fcinfo, 0);
	VeristConnect(fcinfo);
	run_cxt = AllocSetContextCreate(CurrentMemoryContext, "verist verify run",
									ALLOCSET_DEFAULT_SIZES);
	portal = SPI_cursor_open(NULL, VeristPlan(ledger ? &ledger_runs : &chain_runs), NULL, NULL,
							 true);
	for (;;)
	{
		SPITupleTable *runs;

		SPI_cursor_fetch(portal, true, 100);
		if (SPI_processed == 0)
			break;
		runs = SPI_tuptable;
		for (uint64 i = 0; i < runs->numvals; i++)
		{
			HeapTuple	row = runs->vals[i];
			MemoryContext old = MemoryContextSwitchTo(run_cxt);
			bool		isnull;
			bool		exists;
			text	   *wf = DatumGetTextPCopy(SPI_getbinval(row, runs->tupdesc, 1, &isnull));
			text	   *run = DatumGetTextPCopy(SPI_getbinval(row, runs->tupdesc, 2, &isnull));
			VeristCheck check;

			/*
			 * Each run in an SPI connection of its own: the result tables of
			 * its statements live until the connection ends (0.3.x kept every
			 * run's until the end of the call, ~8 kB a run, 0.4.0's first
			 * draft ~48 kB: gigabytes for a large database).
			 */
			if (SPI_connect() != SPI_OK_CONNECT)
				elog(ERROR, "SPI_connect failed");
			MemoryContextSwitchTo(run_cxt);
			VerifyOne(wf, run, ledger, &check, &exists);
			if (check.reason != NULL)
				PutBroken(rsinfo, wf, run, &check);
			VeristFinish();
			MemoryContextSwitchTo(old);
			MemoryContextReset(run_cxt);
			CHECK_FOR_INTERRUPTS();
		}
		SPI_freetuptable(runs);
	}
	SPI_cursor_close(portal);
	if (ledger && !VeristCheckSeals(&seals, &seal_wf, &seal_run))
		PutBroken(rsinfo, seal_wf, seal_run, &seals);
	VeristFinish();
	return (Datum) 0;
}

PG_FUNCTION_INFO_V1(verist_verify_all);

/*
 * SQL (0.2.0 to 0.3.x): verist_verify_all(OUT workflow_id, OUT run_id,
 *		OUT events_checked, OUT first_broken_seq, OUT reason) returns setof record
 */
Datum
verist_verify_all(PG_FUNCTION_ARGS)
{
	return VerifyAll(fcinfo, false);
}

PG_FUNCTION_INFO_V1(verist_verify_all_ledger);

/* SQL (0.4.0 on): verist_verify_all, with ledgers and the seals of retired runs */
Datum
verist_verify_all_ledger(PG_FUNCTION_ARGS)
{
	return VerifyAll(fcinfo, true);
}

static VeristQuery ledger_head = {
	"SELECT s.ledger_seq, s.ledger_hash FROM @extschema@.verist_state AS s"
	" WHERE s.workflow_id OPERATOR(pg_catalog.=) $1"
	" AND s.run_id OPERATOR(pg_catalog.=) $2",
	2, {TEXTOID, TEXTOID}
};

/*
 * verist_run_digest of both versions: the event chain's head (0.2.0 to
 * 0.3.x), or the ledger's (0.4.0 on: it covers the events too); for a
 * retired run, the head its seal recorded.
 */
static Datum
RunDigest(FunctionCallInfo fcinfo, bool ledger)
{
	text	   *wf = VeristIdArg(fcinfo, 0, "workflow_id");
	text	   *run = VeristIdArg(fcinfo, 1, "run_id");
	Datum		ids[2] = {PointerGetDatum(wf), PointerGetDatum(run)};
	TupleDesc	desc;
	Datum		values[2];
	bool		nulls[2] = {false, false};
	int32		seq;
	char	   *hash = NULL;
	MemoryContext caller = CurrentMemoryContext;
	bool		found;

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");

	VeristConnect(fcinfo);
	found = ReadHead(ledger ? &ledger_head : &chain_head, ids, &seq, &hash, caller);
	if (!found && ledger)
		found = VeristRetiredHead(wf, run, &seq, &hash, caller);
	if (!found)
		VeristRaiseRunMissing(wf, run, NULL);
	VeristFinish();
	/* built after SPI_finish, from the copy: SPI's memory is gone */
	values[0] = Int32GetDatum(seq);
	values[1] = hash ? CStringGetTextDatum(hash) : (Datum) 0;
	nulls[1] = (hash == NULL);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(desc), values, nulls)));
}

PG_FUNCTION_INFO_V1(verist_run_digest);

/* SQL (0.2.0 to 0.3.x): verist_run_digest(workflow_id, run_id, OUT seq, OUT hash) */
Datum
verist_run_digest(PG_FUNCTION_ARGS)
{
	return RunDigest(fcinfo, false);
}

PG_FUNCTION_INFO_V1(verist_run_digest_ledger);

/* SQL (0.4.0 on): verist_run_digest, the head of the run's ledger */
Datum
verist_run_digest_ledger(PG_FUNCTION_ARGS)
{
	return RunDigest(fcinfo, true);
}

PG_FUNCTION_INFO_V1(verist_chain_genesis);

/* SQL: verist_chain_genesis(workflow_id, run_id) returns text */
Datum
verist_chain_genesis(PG_FUNCTION_ARGS)
{
	char		hex[VERIST_HASH_HEX_LEN + 1];

	VeristChainGenesis(VeristIdArg(fcinfo, 0, "workflow_id"),
					   VeristIdArg(fcinfo, 1, "run_id"), hex, NULL);
	PG_RETURN_TEXT_P(cstring_to_text(hex));
}

PG_FUNCTION_INFO_V1(verist_event_hash);

/*
 * SQL: verist_event_hash(prev_hash, workflow_id, run_id, step_id, type,
 *						  payload, llm_trace, seq, created_at) returns text
 */
Datum
verist_event_hash(PG_FUNCTION_ARGS)
{
	text	   *prev = VeristTextArg(fcinfo, 0, "prev_hash");
	VeristChainEvent ev;
	char		hex[VERIST_HASH_HEX_LEN + 1];

	if (!VeristIsHashHex(prev))
		ereport(ERROR,
				(VeristErrcode(ERRCODE_VERIST_SERIALIZATION),
				 errmsg("argument \"prev_hash\" must be %d lowercase hex characters",
						VERIST_HASH_HEX_LEN)));
	ev.workflow_id = VeristIdArg(fcinfo, 1, "workflow_id");
	ev.run_id = VeristIdArg(fcinfo, 2, "run_id");
	ev.step_id = VeristIdArg(fcinfo, 3, "step_id");
	ev.type = VeristTextArg(fcinfo, 4, "type");
	if (VARSIZE_ANY_EXHDR(ev.type) == 0)
		ereport(ERROR,
				(VeristErrcode(ERRCODE_VERIST_SERIALIZATION),
				 errmsg("argument \"type\" must not be empty")));
	ev.payload = PG_ARGISNULL(5) ? NULL : &PG_GETARG_JSONB_P(5)->root;
	ev.trace = PG_ARGISNULL(6) ? NULL : &PG_GETARG_JSONB_P(6)->root;
	VeristRequireArg(fcinfo, 7, "seq");
	ev.seq = PG_GETARG_INT32(7);
	VeristRequireArg(fcinfo, 8, "created_at");
	ev.created_at = PG_GETARG_TIMESTAMPTZ(8);
	if (TIMESTAMP_NOT_FINITE(ev.created_at))
		ereport(ERROR,
				(VeristErrcode(ERRCODE_VERIST_SERIALIZATION),
				 errmsg("argument \"created_at\" must be finite")));

	VeristChainEventHash(VARDATA_ANY(prev), &ev, hex, NULL);
	PG_RETURN_TEXT_P(cstring_to_text(hex));
}
