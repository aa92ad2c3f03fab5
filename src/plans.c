/*
 * plans.c
 *		The extension's schema and the cache of prepared SPI statements.
 *
 * Every statement verist runs is written once, as a VeristQuery with its
 * tables named @extschema@.verist_*.  The first call in a backend fills in the
 * schema of the called function (which is the extension's schema: the
 * extension is not relocatable), prepares the statement with SPI_prepare_cursor and
 * keeps the plan with SPI_keepplan.  Later calls reuse it; PostgreSQL's plan
 * cache still replans by itself if a table is altered.
 *
 * The schema is looked up from the function's own OID, one syscache probe per
 * call rather than a query of pg_extension.  What a call resolved stays fixed
 * until the call ends: a catalog invalidation that arrives in the middle of a
 * call (any session's GRANT on any schema, a burst of temporary tables that
 * resets every cache) only marks the name for checking at the start of the
 * next call.  If the schema was renamed by then, or the extension re-created
 * elsewhere, the generation moves on and each statement is prepared again
 * the next time it is used.
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "utils/array.h"
#include "funcapi.h"
#include "utils/tuplestore.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/syscache.h"

#include "plans.h"

static Oid	verist_schema_oid = InvalidOid;
static char *verist_schema_name = NULL; /* in TopMemoryContext */
static char *verist_schema_quoted = NULL;	/* in TopMemoryContext */
static bool verist_schema_checked = false;
static uint64 verist_generation = 1;

/*
 * A namespace changed, maybe ours: check its name at the start of the next
 * call.  The OID and name stay as they are, since a call may be using them.
 */
static void
VeristSchemaInvalidate(Datum arg, int cacheid, uint32 hashvalue)
{
	verist_schema_checked = false;
}

/* Register the cache invalidation callback (from _PG_init). */
void
VeristPlansInit(void)
{
	CacheRegisterSyscacheCallback(NAMESPACEOID, VeristSchemaInvalidate, (Datum) 0);
}

/* Note the schema of the SQL function being called, before any statement runs. */
static void
VeristBeginCall(FunctionCallInfo fcinfo)
{
	Oid			nsp = get_func_namespace(fcinfo->flinfo->fn_oid);
	char	   *name;

	if (nsp == verist_schema_oid && verist_schema_checked)
		return;

	name = get_namespace_name(nsp);
	if (name == NULL)
		elog(ERROR, "cache lookup failed for namespace %u", nsp);
	if (nsp != verist_schema_oid || strcmp(name, verist_schema_name) != 0)
	{
		char	   *quoted = MemoryContextStrdup(TopMemoryContext, quote_identifier(name));
		char	   *copy = MemoryContextStrdup(TopMemoryContext, name);

		if (verist_schema_quoted != NULL)
			pfree(verist_schema_quoted);
		if (verist_schema_name != NULL)
			pfree(verist_schema_name);
		verist_schema_quoted = quoted;
		verist_schema_name = copy;
		verist_schema_oid = nsp;
		verist_generation++;
	}
	verist_schema_checked = true;
	pfree(name);
}

/* Note the schema and open an SPI connection for this call. */
void
VeristConnect(FunctionCallInfo fcinfo)
{
	VeristConnectExt(fcinfo, 0);
}

/* The same, with SPI_connect_ext options (SPI_OPT_NONATOMIC for a procedure that commits). */
void
VeristConnectExt(FunctionCallInfo fcinfo, int options)
{
	VeristBeginCall(fcinfo);
	if (SPI_connect_ext(options) != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
}

/* The OID of one of verist's relations, in the schema of the current call. */
Oid
VeristRelation(const char *name)
{
	Oid			relid;

	Assert(OidIsValid(verist_schema_oid));
	relid = get_relname_relid(name, verist_schema_oid);
	if (!OidIsValid(relid))
		elog(ERROR, "relation \"%s\" of extension verist does not exist", name);
	return relid;
}

/* Close the SPI connection of this call. */
void
VeristFinish(void)
{
	if (SPI_finish() != SPI_OK_FINISH)
		elog(ERROR, "SPI_finish failed");
}

/* Replace each @extschema@ in a statement's text by the quoted schema name. */
static char *
VeristQueryText(const char *sql)
{
	static const char marker[] = "@extschema@";
	StringInfoData buf;
	const char *p = sql;
	const char *hit;

	initStringInfo(&buf);
	while ((hit = strstr(p, marker)) != NULL)
	{
		appendBinaryStringInfo(&buf, p, hit - p);
		appendStringInfoString(&buf, verist_schema_quoted);
		p = hit + sizeof(marker) - 1;
	}
	appendStringInfoString(&buf, p);
	return buf.data;
}

/* Prepare a statement, or return its kept plan if it is still current. */
SPIPlanPtr
VeristPlan(VeristQuery *query)
{
	SPIPlanPtr	plan;
	char	   *sql;

	Assert(verist_schema_quoted != NULL);
	if (query->plan != NULL && query->generation == verist_generation)
		return query->plan;

	if (query->plan != NULL)
	{
		SPI_freeplan(query->plan);
		query->plan = NULL;
	}

	sql = VeristQueryText(query->sql);
	plan = SPI_prepare_cursor(sql, query->nargs, query->argtypes,
							  query->plan_mode == VERIST_PLAN_GENERIC ? CURSOR_OPT_GENERIC_PLAN : 0);
	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed for \"%s\": %s",
			 sql, SPI_result_code_string(SPI_result));
	if (SPI_keepplan(plan) != 0)
		elog(ERROR, "SPI_keepplan failed");
	pfree(sql);

	query->plan = plan;
	query->generation = verist_generation;
	return plan;
}

/*
 * Run a prepared statement with the given arguments; return the number of rows
 * it processed (SPI_tuptable holds what it returned).
 */
uint64
VeristExecute(VeristQuery *query, Datum *values, const char *nulls,
			  bool read_only, long count)
{
	SPIPlanPtr	plan = VeristPlan(query);
	int			rc;
	int			guc_level = 0;

	/*
	 * The session's plan_cache_mode outranks the cursor options, so a
	 * statement that must be planned for its arguments overrides it for the
	 * statement (an error unwinds the setting with the transaction).
	 */
	if (query->plan_mode == VERIST_PLAN_CUSTOM)
	{
		guc_level = NewGUCNestLevel();
		(void) set_config_option("plan_cache_mode", "force_custom_plan",
								 PGC_USERSET, PGC_S_SESSION,
								 GUC_ACTION_SAVE, true, 0, false);
	}
	rc = SPI_execute_plan(plan, values, nulls, read_only, count);
	if (guc_level != 0)
		AtEOXact_GUC(true, guc_level);
	if (rc < 0)
		elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(rc));
	return SPI_processed;
}

/*
 * Run a write whose one expected failure is a duplicate key in the unique
 * index named; return what it returns (the rows it wrote).  A duplicate is
 * handed to on_duplicate with the violation's DETAIL ("Key (...)=(...)
 * already exists."), which must raise verist's own error: the write has
 * failed and the transaction cannot go on.  Any other error passes through.
 *
 * Why not INSERT ... ON CONFLICT DO NOTHING: the speculative insertion it
 * needs costs every commit (about 5% of one), to save a rare conflict.
 */
uint64
VeristCatchDuplicate(VeristWriter write, void *write_arg, const char *unique_index,
					 VeristDuplicate on_duplicate, void *arg)
{
	MemoryContext cxt = CurrentMemoryContext;
	volatile uint64 written = 0;

	PG_TRY();
	{
		written = write(write_arg);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		if (edata->sqlerrcode != ERRCODE_UNIQUE_VIOLATION ||
			edata->constraint_name == NULL ||
			strcmp(edata->constraint_name, unique_index) != 0)
			PG_RE_THROW();
		FlushErrorState();
		on_duplicate(edata->detail, arg);
		elog(ERROR, "duplicate key handler returned");
	}
	PG_END_TRY();
	return written;
}

/* A prepared statement and its arguments, as a VeristWriter's argument. */
typedef struct PreparedWrite
{
	VeristQuery *query;
	Datum	   *values;
	const char *nulls;
} PreparedWrite;

static uint64
RunPreparedWrite(void *arg)
{
	PreparedWrite *w = (PreparedWrite *) arg;

	return VeristExecute(w->query, w->values, w->nulls, false, 0);
}

/* Run a prepared INSERT as VeristCatchDuplicate runs a write. */
uint64
VeristExecuteInsert(VeristQuery *query, Datum *values, const char *nulls,
					const char *unique_index, VeristDuplicate on_duplicate, void *arg)
{
	PreparedWrite w = {query, values, nulls};

	return VeristCatchDuplicate(RunPreparedWrite, &w, unique_index, on_duplicate, arg);
}

/* Append every row the last statement returned to the set result. */
void
VeristStoreRows(FunctionCallInfo fcinfo)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

	for (uint64 i = 0; i < SPI_processed; i++)
		tuplestore_puttuple(rsinfo->setResult, SPI_tuptable->vals[i]);
}

/*
 * The whole of a set-returning read: run a read-only statement and return
 * the rows it finds.  The tuplestore is made before SPI_connect, in the
 * per-query context, so it outlives SPI_finish.
 */
Datum
VeristReturnRows(FunctionCallInfo fcinfo, VeristQuery *query, Datum *values)
{
	InitMaterializedSRF(fcinfo, 0);
	VeristConnect(fcinfo);
	VeristExecute(query, values, NULL, true, 0);
	VeristStoreRows(fcinfo);
	VeristFinish();
	return (Datum) 0;
}

/*
 * Return one row the last statement produced as the function's composite
 * result, copied out of SPI memory and labelled with the declared row type.
 */
Datum
VeristReturnRow(FunctionCallInfo fcinfo, HeapTuple tuple)
{
	TupleDesc	desc;

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	return PointerGetDatum(SPI_returntuple(tuple, desc));
}

/* Build a one-dimensional text[], jsonb[] or int4[] argument from Datums and nulls. */
Datum
VeristBuildArray(Datum *elems, bool *nulls, int count, Oid elemtype)
{
	int			dims[1] = {count};
	int			lbs[1] = {1};

	Assert(elemtype == TEXTOID || elemtype == JSONBOID || elemtype == INT4OID);
	/* text and jsonb are varlena, int4 is 4 bytes by value; all int-aligned */
	if (elemtype == INT4OID)
		return PointerGetDatum(construct_md_array(elems, nulls, 1, dims, lbs,
												  elemtype, 4, true, TYPALIGN_INT));
	return PointerGetDatum(construct_md_array(elems, nulls, 1, dims, lbs,
											  elemtype, -1, false, TYPALIGN_INT));
}
