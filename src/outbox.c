/*
 * outbox.c
 *		The transactional outbox: inserting commands, leasing them to
 *		dispatchers and finalising them (SPEC 6).
 *
 * Leasing claims rows with FOR UPDATE SKIP LOCKED, so concurrent dispatchers
 * get disjoint sets without waiting on each other, and it reads only the
 * partial index verist_outbox_ready_idx (pending and leased rows), so its cost
 * does not grow with the dispatched, rejected and failed rows left behind.
 * Lease expiry uses the wall clock (clock_timestamp()), not the start of the
 * dispatcher's transaction.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "utils/timestamp.h"
#include "funcapi.h"
#include "utils/array.h"
#include "utils/builtins.h"

#include "errors.h"
#include "verist.h"

static VeristQuery outbox_insert = {
	"INSERT INTO @extschema@.verist_outbox"
	" (workflow_id, run_id, step_id, command, dedupe_key, status, created_at)"
	" SELECT $1, $2, $3, c.command, c.dedupe_key, $6, pg_catalog.now()"
	" FROM ROWS FROM (pg_catalog.unnest($4), pg_catalog.unnest($5)) AS c(command, dedupe_key)"
	" ON CONFLICT (dedupe_key) DO NOTHING"
	" RETURNING dedupe_key",
	6, {TEXTOID, TEXTOID, TEXTOID, JSONBARRAYOID, TEXTARRAYOID, TEXTOID}
};

static VeristQuery outbox_lease = {
	"WITH claimed AS ("
	"  SELECT o.id FROM @extschema@.verist_outbox AS o"
	"  WHERE o.status OPERATOR(pg_catalog.=) ANY ('{pending,leased}'::pg_catalog.text[])"
	"  AND (o.status OPERATOR(pg_catalog.=) 'pending'"
	"       OR o.lease_expires_at IS NULL"
	"       OR o.lease_expires_at OPERATOR(pg_catalog.<=) pg_catalog.clock_timestamp())"
	"  ORDER BY o.id LIMIT $2"
	"  FOR UPDATE SKIP LOCKED"
	"), leased AS ("
	"  UPDATE @extschema@.verist_outbox AS o"
	"  SET status = 'leased', lease_owner = $1,"
	"  lease_expires_at = pg_catalog.clock_timestamp() OPERATOR(pg_catalog.+) $3"
	"  FROM claimed WHERE o.id OPERATOR(pg_catalog.=) claimed.id"
	"  RETURNING o.*"
	") SELECT * FROM leased ORDER BY id",
	3, {TEXTOID, INT4OID, INTERVALOID}
};

static VeristQuery outbox_dispatched = {
	"UPDATE @extschema@.verist_outbox AS o"
	" SET status = 'dispatched', lease_owner = NULL, lease_expires_at = NULL,"
	" last_error = NULL, dispatched_at = pg_catalog.now()"
	" WHERE o.id OPERATOR(pg_catalog.=) $1"
	" AND o.status OPERATOR(pg_catalog.=) 'leased'"
	" AND o.lease_owner OPERATOR(pg_catalog.=) $2",
	2, {INT8OID, TEXTOID}
};

static VeristQuery outbox_failed = {
	"UPDATE @extschema@.verist_outbox AS o"
	" SET status = 'failed', failures = o.failures OPERATOR(pg_catalog.+) 1,"
	" last_error = $3, lease_owner = NULL, lease_expires_at = NULL"
	" WHERE o.id OPERATOR(pg_catalog.=) $1"
	" AND o.status OPERATOR(pg_catalog.=) 'leased'"
	" AND o.lease_owner OPERATOR(pg_catalog.=) $2",
	3, {INT8OID, TEXTOID, TEXTOID}
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
	2, {INT8ARRAYOID, TEXTOID}
};

static VeristQuery outbox_describe = {
	"SELECT o.status, o.lease_owner OPERATOR(pg_catalog.=) $2"
	" FROM @extschema@.verist_outbox AS o"
	" WHERE o.id OPERATOR(pg_catalog.=) $1",
	2, {INT8OID, TEXTOID}
};

/*
 * Insert commands (jsonb[]) with their dedupe keys (text[]) for one step, with
 * the given status.  A key already present is skipped; the caller compares
 * the returned count (SPI_tuptable holds the inserted keys) with its own.
 */
uint64
VeristInsertOutbox(text *workflow_id, text *run_id, text *step_id,
				   Datum commands, Datum keys, const char *status)
{
	Datum		values[6] = {PointerGetDatum(workflow_id), PointerGetDatum(run_id),
		PointerGetDatum(step_id), commands, keys, CStringGetTextDatum(status)};

	return VeristExecute(&outbox_insert, values, NULL, false, 0);
}

PG_FUNCTION_INFO_V1(verist_lease_outbox);

/* SQL: verist_lease_outbox(lease_owner, max_entries, lease_duration) returns setof verist_outbox */
Datum
verist_lease_outbox(PG_FUNCTION_ARGS)
{
	text	   *owner = VeristIdArg(fcinfo, 0, "lease_owner");
	int32		max_entries;
	Interval   *duration;
	Datum		values[3];

	VeristRequireArg(fcinfo, 1, "max_entries");
	max_entries = PG_GETARG_INT32(1);
	if (max_entries < 1)
		ereport(ERROR,
				(errcode(ERRCODE_VERIST_SERIALIZATION),
				 errmsg("argument \"max_entries\" must be at least 1"),
				 errdetail("The value given is %d.", max_entries)));

	VeristRequireArg(fcinfo, 2, "lease_duration");
	duration = PG_GETARG_INTERVAL_P(2);
	if (!DatumGetBool(DirectFunctionCall2(interval_gt, IntervalPGetDatum(duration),
										  IntervalPGetDatum(palloc0(sizeof(Interval))))))
		ereport(ERROR,
				(errcode(ERRCODE_VERIST_SERIALIZATION),
				 errmsg("argument \"lease_duration\" must be positive"),
				 errdetail("The value given is %s.",
						   DatumGetCString(DirectFunctionCall1(interval_out,
															   IntervalPGetDatum(duration))))));

	values[0] = PointerGetDatum(owner);
	values[1] = Int32GetDatum(max_entries);
	values[2] = IntervalPGetDatum(duration);

	VeristBeginSetResult(fcinfo);
	VeristConnect(fcinfo);
	VeristExecute(&outbox_lease, values, NULL, false, 0);
	VeristStoreRows(fcinfo);
	VeristFinish();
	return (Datum) 0;
}

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
			(errcode(ERRCODE_VERIST_LEASE_MISMATCH),
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
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(verist_mark_dispatched_batch);

/* SQL: verist_mark_dispatched_batch(outbox_ids bigint[], lease_owner) returns setof bigint */
Datum
verist_mark_dispatched_batch(PG_FUNCTION_ARGS)
{
	Datum		values[2];

	VeristRequireArg(fcinfo, 0, "outbox_ids");
	values[0] = PG_GETARG_DATUM(0);
	values[1] = PointerGetDatum(VeristIdArg(fcinfo, 1, "lease_owner"));

	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	VeristConnect(fcinfo);
	VeristExecute(&outbox_dispatched_batch, values, NULL, false, 0);
	VeristStoreRows(fcinfo);
	VeristFinish();
	return (Datum) 0;
}
