/*
 * dispatch.c
 *		What dispatchers and operators call once rows are leased (lease.c):
 *		finalising them, retries with backoff and dead letters (0.3.0),
 *		re-queueing, and purging finished rows.
 *
 * From 0.3.0 on, lease_expires_at of a row is read as "not leasable before":
 * for a leased row that is the end of its lease, and a pending row that
 * failed with a retry policy (verist_mark_retry) carries the end of its
 * backoff there, with no owner.  Every other pending row has it NULL, so for
 * the states 0.1.0 can reach the lease rule is 0.1.0's exactly.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "utils/timestamp.h"
#include "funcapi.h"
#include "utils/array.h"
#include "utils/builtins.h"

#include "args.h"
#include "counters.h"
#include "errors.h"
#include "outbox.h"
#include "plans.h"

/*
 * The finalising statements find their rows through the primary key, the
 * best plan whatever the ids: planned once (generic), as the lease queries
 * are, rather than again on every call (a batch of one id looked cheaper to
 * the plan cache than its generic plan's guess of ten).
 */
static VeristQuery outbox_dispatched = {
	"UPDATE @extschema@.verist_outbox AS o"
	" SET status = 'dispatched', lease_owner = NULL, lease_expires_at = NULL,"
	" last_error = NULL, dispatched_at = pg_catalog.now()"
	" WHERE o.id OPERATOR(pg_catalog.=) $1"
	" AND o.status OPERATOR(pg_catalog.=) 'leased'"
	" AND o.lease_owner OPERATOR(pg_catalog.=) $2",
	2, {INT8OID, TEXTOID}, VERIST_PLAN_GENERIC
};

static VeristQuery outbox_failed = {
	"UPDATE @extschema@.verist_outbox AS o"
	" SET status = 'failed', failures = o.failures OPERATOR(pg_catalog.+) 1,"
	" last_error = $3, lease_owner = NULL, lease_expires_at = NULL"
	" WHERE o.id OPERATOR(pg_catalog.=) $1"
	" AND o.status OPERATOR(pg_catalog.=) 'leased'"
	" AND o.lease_owner OPERATOR(pg_catalog.=) $2",
	3, {INT8OID, TEXTOID, TEXTOID}, VERIST_PLAN_GENERIC
};

static VeristQuery outbox_dispatched_batch = {
	"WITH done AS ("
	"  UPDATE @extschema@.verist_outbox AS o"
	"  SET status = 'dispatched', lease_owner = NULL, lease_expires_at = NULL,"
	"  last_error = NULL, dispatched_at = pg_catalog.now()"
	"  WHERE o.id OPERATOR(pg_catalog.=) ANY ($1)"
	"  AND o.status OPERATOR(pg_catalog.=) 'leased'"
	"  AND o.lease_owner OPERATOR(pg_catalog.=) $2"
	"  RETURNING o.id"
	") SELECT id FROM done ORDER BY id",
	2, {INT8ARRAYOID, TEXTOID}, VERIST_PLAN_GENERIC
};

/*
 * A failure under a retry policy: back to pending, not leasable before the
 * backoff ends, or failed (the dead letter) once max_attempts is reached.
 * The delay is base * 2^(failures so far) microseconds, capped at max; the
 * exponent is capped at $7, the first at which base * 2^$7 reaches max
 * (computed by the caller), so the product stays below 2 * max: no overflow,
 * however many failures came before.
 */
static VeristQuery outbox_retry = {
	"UPDATE @extschema@.verist_outbox AS o"
	" SET failures = o.failures OPERATOR(pg_catalog.+) 1, last_error = $3, lease_owner = NULL,"
	" status = CASE WHEN (o.failures OPERATOR(pg_catalog.+) 1) OPERATOR(pg_catalog.<) $4"
	"          THEN 'pending' ELSE 'failed' END,"
	" lease_expires_at = CASE WHEN (o.failures OPERATOR(pg_catalog.+) 1) OPERATOR(pg_catalog.<) $4"
	"          THEN pg_catalog.clock_timestamp() OPERATOR(pg_catalog.+)"
	"               ('1 microsecond'::pg_catalog.interval OPERATOR(pg_catalog.*)"
	"                LEAST($6, $5 OPERATOR(pg_catalog.*) (1::pg_catalog.int8 OPERATOR(pg_catalog.<<)"
	"                      GREATEST(0, LEAST(o.failures, $7))))::pg_catalog.float8)"
	"          END"
	" WHERE o.id OPERATOR(pg_catalog.=) $1"
	" AND o.status OPERATOR(pg_catalog.=) 'leased'"
	" AND o.lease_owner OPERATOR(pg_catalog.=) $2"
	" RETURNING o.*",
	7, {INT8OID, TEXTOID, TEXTOID, INT4OID, INT8OID, INT8OID, INT4OID}, VERIST_PLAN_GENERIC
};

static VeristQuery outbox_requeue = {
	"UPDATE @extschema@.verist_outbox AS o"
	" SET status = 'pending', failures = 0, lease_owner = NULL, lease_expires_at = NULL"
	" WHERE o.id OPERATOR(pg_catalog.=) $1"
	" AND o.status OPERATOR(pg_catalog.=) 'failed'"
	" RETURNING o.*",
	1, {INT8OID}, VERIST_PLAN_GENERIC
};

/*
 * Oldest first, so a purge in batches walks the primary key forwards.  Its
 * plan depends on the batch size (VERIST_PLAN_CUSTOM): a generic plan, which
 * guesses "LIMIT $2" at a tenth of the outbox, sorts all of it instead.
 */
static VeristQuery outbox_purge = {
	"WITH doomed AS ("
	"  SELECT o.id FROM @extschema@.verist_outbox AS o"
	"  WHERE o.status OPERATOR(pg_catalog.=) ANY ('{dispatched,rejected}'::pg_catalog.text[])"
	"  AND COALESCE(o.dispatched_at, o.created_at)"
	"      OPERATOR(pg_catalog.<) (pg_catalog.clock_timestamp() OPERATOR(pg_catalog.-) $1)"
	"  ORDER BY o.id LIMIT $2"
	"  FOR UPDATE SKIP LOCKED"
	") DELETE FROM @extschema@.verist_outbox AS o USING doomed"
	" WHERE o.id OPERATOR(pg_catalog.=) doomed.id",
	2, {INTERVALOID, INT4OID}, VERIST_PLAN_CUSTOM
};

/* One batch of verist_purge_outbox_all, through the SQL function and its privilege. */
static VeristQuery outbox_purge_batch = {
	"SELECT @extschema@.verist_purge_outbox($1, $2)",
	2, {INTERVALOID, INT4OID}
};

static VeristQuery outbox_describe = {
	"SELECT o.status, o.lease_owner OPERATOR(pg_catalog.=) $2"
	" FROM @extschema@.verist_outbox AS o"
	" WHERE o.id OPERATOR(pg_catalog.=) $1",
	2, {INT8OID, TEXTOID}
};

/*
 * Raise lease_mismatch for an outbox row the owner could not finalise, with
 * a detail saying why.
 */
static void
ReportLeaseMismatch(int64 id, Datum *values)
{
	const char *detail;

	if (VeristExecute(&outbox_describe, values, NULL, false, 1) == 0)
		detail = psprintf("Outbox entry " INT64_FORMAT " does not exist.", id);
	else
	{
		char	   *status = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);

		if (strcmp(status, "leased") == 0)
			detail = psprintf("Outbox entry " INT64_FORMAT " is leased by another owner.", id);
		else
			detail = psprintf("Outbox entry " INT64_FORMAT " is %s, not leased.", id, status);
	}
	ereport(ERROR,
			(VeristErrcode(ERRCODE_VERIST_LEASE_MISMATCH),
			 errmsg("outbox entry " INT64_FORMAT " is not leased by \"%s\"",
					id, TextDatumGetCString(values[1])),
			 errdetail_internal("%s", detail),
			 errhint("Lease entries with verist_lease_outbox before finalising them.")));
}

/* Run a finalising statement for one row; raise lease_mismatch if none moved. */
static void
FinaliseOne(FunctionCallInfo fcinfo, VeristQuery *query, Datum *values)
{
	VeristConnect(fcinfo);
	if (VeristExecute(query, values, NULL, false, 0) != 1)
		ReportLeaseMismatch(DatumGetInt64(values[0]), values);
	VeristFinish();
}

PG_FUNCTION_INFO_V1(verist_mark_dispatched);

/* SQL: verist_mark_dispatched(outbox_id, lease_owner) returns void */
Datum
verist_mark_dispatched(PG_FUNCTION_ARGS)
{
	Datum		values[2];

	VeristRequireArg(fcinfo, 0, "outbox_id");
	values[0] = PG_GETARG_DATUM(0);
	values[1] = PointerGetDatum(VeristIdArg(fcinfo, 1, "lease_owner"));
	FinaliseOne(fcinfo, &outbox_dispatched, values);
	VeristCount(VERIST_COUNT_DISPATCHED, 1);
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(verist_mark_failed);

/* SQL: verist_mark_failed(outbox_id, lease_owner, error) returns void */
Datum
verist_mark_failed(PG_FUNCTION_ARGS)
{
	Datum		values[3];

	VeristRequireArg(fcinfo, 0, "outbox_id");
	values[0] = PG_GETARG_DATUM(0);
	values[1] = PointerGetDatum(VeristIdArg(fcinfo, 1, "lease_owner"));
	VeristRequireArg(fcinfo, 2, "error");
	values[2] = PG_GETARG_DATUM(2);
	FinaliseOne(fcinfo, &outbox_failed, values);
	VeristCount(VERIST_COUNT_DEAD_LETTERED, 1);
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(verist_mark_dispatched_batch);

/* SQL: verist_mark_dispatched_batch(outbox_ids bigint[], lease_owner) returns setof bigint */
Datum
verist_mark_dispatched_batch(PG_FUNCTION_ARGS)
{
	Datum		values[2];
	uint64		dispatched;

	VeristRequireArg(fcinfo, 0, "outbox_ids");
	values[0] = PG_GETARG_DATUM(0);
	values[1] = PointerGetDatum(VeristIdArg(fcinfo, 1, "lease_owner"));

	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	VeristConnect(fcinfo);
	dispatched = VeristExecute(&outbox_dispatched_batch, values, NULL, false, 0);
	VeristStoreRows(fcinfo);
	VeristFinish();
	VeristCount(VERIST_COUNT_DISPATCHED, dispatched);
	return (Datum) 0;
}

PG_FUNCTION_INFO_V1(verist_mark_retry);

/*
 * SQL: verist_mark_retry(outbox_id, lease_owner, error, max_attempts,
 *						  base_delay, max_delay) returns verist_outbox
 *
 * The owner of a leased row reports a failure under a retry policy: the row
 * goes back to pending after an exponential backoff, or to failed (the dead
 * letter) at its max_attempts-th failure.  Returns the row as it now is.
 */
Datum
verist_mark_retry(PG_FUNCTION_ARGS)
{
	Datum		values[7];
	int32		max_attempts;
	int64		base;
	int64		cap;
	int32		exponent = 0;
	Datum		result;
	bool		retried;

	VeristRequireArg(fcinfo, 0, "outbox_id");
	values[0] = PG_GETARG_DATUM(0);
	values[1] = PointerGetDatum(VeristIdArg(fcinfo, 1, "lease_owner"));
	VeristRequireArg(fcinfo, 2, "error");
	values[2] = PG_GETARG_DATUM(2);
	max_attempts = VeristCountArg(fcinfo, 3, "max_attempts");
	base = VeristDurationArg(fcinfo, 4, "base_delay");
	cap = VeristDurationArg(fcinfo, 5, "max_delay");
	if (cap < base)
		ereport(ERROR,
				(VeristErrcode(ERRCODE_VERIST_SERIALIZATION),
				 errmsg("argument \"max_delay\" must not be less than \"base_delay\"")));
	/* the smallest exponent at which base * 2^exponent reaches the cap */
	while ((base << exponent) < cap)
		exponent++;

	values[3] = Int32GetDatum(max_attempts);
	values[4] = Int64GetDatum(base);
	values[5] = Int64GetDatum(cap);
	values[6] = Int32GetDatum(exponent);

	VeristConnect(fcinfo);
	if (VeristExecute(&outbox_retry, values, NULL, false, 0) != 1)
		ReportLeaseMismatch(DatumGetInt64(values[0]), values);
	retried = strcmp(SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
								  SPI_fnumber(SPI_tuptable->tupdesc, "status")),
					 "pending") == 0;
	result = VeristReturnRow(fcinfo, SPI_tuptable->vals[0]);
	VeristFinish();
	VeristCount(retried ? VERIST_COUNT_RETRIED : VERIST_COUNT_DEAD_LETTERED, 1);
	PG_RETURN_DATUM(result);
}

PG_FUNCTION_INFO_V1(verist_requeue);

/*
 * SQL: verist_requeue(outbox_id) returns verist_outbox
 *
 * An operator sends a dead letter (a failed row) again: pending, failures
 * reset to 0 (so a retry policy starts over), last_error kept for the record.
 */
Datum
verist_requeue(PG_FUNCTION_ARGS)
{
	Datum		values[2];
	Datum		result;
	HeapTuple	row;
	text	   *wf;
	bool		isnull;

	VeristRequireArg(fcinfo, 0, "outbox_id");
	values[0] = PG_GETARG_DATUM(0);
	values[1] = (Datum) 0;

	VeristConnect(fcinfo);
	if (VeristExecute(&outbox_requeue, values, NULL, false, 0) != 1)
	{
		int64		id = DatumGetInt64(values[0]);

		values[1] = CStringGetTextDatum("");
		if (VeristExecute(&outbox_describe, values, NULL, false, 1) == 0)
			ereport(ERROR,
					(VeristErrcode(ERRCODE_VERIST_NOT_FOUND),
					 errmsg("outbox entry " INT64_FORMAT " does not exist", id)));
		ereport(ERROR,
				(VeristErrcode(ERRCODE_VERIST_NOT_FAILED),
				 errmsg("outbox entry " INT64_FORMAT " is not a dead letter", id),
				 errdetail("Its status is %s; only failed entries can be re-queued.",
						   SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1))));
	}
	row = SPI_tuptable->vals[0];
	wf = DatumGetTextPP(SPI_getbinval(row, SPI_tuptable->tupdesc,
									  SPI_fnumber(SPI_tuptable->tupdesc, "workflow_id"),
									  &isnull));
	VeristNotifyPending(wf);
	result = VeristReturnRow(fcinfo, row);
	VeristFinish();
	PG_RETURN_DATUM(result);
}

PG_FUNCTION_INFO_V1(verist_purge_outbox);

/*
 * SQL: verist_purge_outbox(older_than interval, max_rows int) returns bigint
 *
 * Delete at most max_rows dispatched or rejected rows finished more than
 * older_than ago (dispatched_at, or created_at for rejected rows), oldest
 * first; never pending, deferred, leased or failed rows, never events.
 * Returns how many went; call again (or CALL verist_purge_outbox_all) until
 * it returns less than max_rows.
 */
Datum
verist_purge_outbox(PG_FUNCTION_ARGS)
{
	Datum		values[2];
	int32		max_rows;
	uint64		purged;

	values[0] = IntervalPGetDatum(VeristAgeArg(fcinfo, 0, "older_than"));
	max_rows = VeristCountArg(fcinfo, 1, "max_rows");
	values[1] = Int32GetDatum(max_rows);

	VeristConnect(fcinfo);
	purged = VeristExecute(&outbox_purge, values, NULL, false, 0);
	VeristFinish();
	PG_RETURN_INT64((int64) purged);
}

/* A procedure's output parameters come back as one row: here (purged). */
static Datum
PurgedResult(FunctionCallInfo fcinfo, int64 purged)
{
	TupleDesc	desc;
	Datum		value = Int64GetDatum(purged);
	bool		isnull = false;

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	return HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(desc), &value, &isnull));
}

PG_FUNCTION_INFO_V1(verist_purge_outbox_all);

/*
 * SQL: PROCEDURE verist_purge_outbox_all(older_than interval,
 *					batch_rows int, INOUT purged bigint)
 *
 * verist_purge_outbox in batches of batch_rows, committing after each, until
 * a batch comes back short; returns the total.  A C procedure (0.3.1; it was
 * PL/pgSQL) so that it finds its batch function in the extension's schema at
 * run time, as every other statement of verist does, and follows a renamed
 * schema.  It runs as the caller (a routine that commits cannot be SECURITY
 * DEFINER), who needs EXECUTE on verist_purge_outbox.
 */
Datum
verist_purge_outbox_all(PG_FUNCTION_ARGS)
{
	bool		atomic = !(fcinfo->context != NULL && IsA(fcinfo->context, CallContext) &&
						   !castNode(CallContext, fcinfo->context)->atomic);
	Interval	older_than;
	int32		batch_rows;
	int64		purged = 0;
	int64		n;

	older_than = *VeristAgeArg(fcinfo, 0, "older_than");	/* a copy: outlives each commit */
	batch_rows = VeristCountArg(fcinfo, 1, "batch_rows");
	if (atomic)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TRANSACTION_TERMINATION),
				 errmsg("verist_purge_outbox_all cannot run inside a transaction block"),
				 errdetail("It commits after every batch."),
				 errhint("CALL it outside a transaction block, or call verist_purge_outbox in a loop of your own.")));

	VeristConnectExt(fcinfo, SPI_OPT_NONATOMIC);
	do
	{
		Datum		values[2] = {IntervalPGetDatum(&older_than), Int32GetDatum(batch_rows)};
		bool		isnull;

		if (VeristExecute(&outbox_purge_batch, values, NULL, false, 0) != 1)
			elog(ERROR, "verist_purge_outbox returned no row");
		n = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1,
										&isnull));
		purged += n;
		SPI_commit();
		CHECK_FOR_INTERRUPTS();
	} while (n >= batch_rows);
	VeristFinish();
	return PurgedResult(fcinfo, purged);
}
