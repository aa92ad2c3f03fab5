/*
 * metrics.c
 *		What an operator reads about dispatch (0.5.0): the commit-to-dispatch
 *		latency from the outbox's own timestamps, and every figure in the
 *		Prometheus text format.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "args.h"
#include "counters.h"
#include "plans.h"

/*
 * Rows dispatched within the window, and the quantiles of dispatched_at -
 * created_at (commit to finalisation; both are transaction start times).
 * Rows already purged are not seen.  A scan of the outbox: meant for a
 * scrape every few seconds, not for every call.
 */
static VeristQuery dispatch_latency = {
	"SELECT pg_catalog.count(*),"
	" pg_catalog.percentile_cont(0.5) WITHIN GROUP (ORDER BY d),"
	" pg_catalog.percentile_cont(0.9) WITHIN GROUP (ORDER BY d),"
	" pg_catalog.percentile_cont(0.99) WITHIN GROUP (ORDER BY d)"
	" FROM (SELECT o.dispatched_at OPERATOR(pg_catalog.-) o.created_at AS d"
	"  FROM @extschema@.verist_outbox AS o"
	"  WHERE o.status OPERATOR(pg_catalog.=) 'dispatched'"
	"  AND o.dispatched_at OPERATOR(pg_catalog.>=)"
	"      (pg_catalog.clock_timestamp() OPERATOR(pg_catalog.-) $1)) AS l",
	1, {INTERVALOID}
};

/* Run dispatch_latency over the window given as argument argno; one row. */
static void
ReadLatency(FunctionCallInfo fcinfo, int argno)
{
	Datum		window = IntervalPGetDatum(VeristAgeArg(fcinfo, argno, "recent"));

	if (VeristExecute(&dispatch_latency, &window, NULL, true, 1) != 1)
		elog(ERROR, "latency query returned no row");
}

PG_FUNCTION_INFO_V1(verist_dispatch_latency);

/*
 * SQL: verist_dispatch_latency(recent interval)
 *		returns (dispatched bigint, p50 interval, p90 interval, p99 interval)
 */
Datum
verist_dispatch_latency(PG_FUNCTION_ARGS)
{
	Datum		result;

	VeristConnect(fcinfo);
	ReadLatency(fcinfo, 0);
	result = VeristReturnRow(fcinfo, SPI_tuptable->vals[0]);
	VeristFinish();
	PG_RETURN_DATUM(result);
}

/* One sample line; an interval column of the latency row as seconds. */
static void
AppendSeconds(StringInfo buf, const char *quantile, int column)
{
	bool		isnull;
	Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, column, &isnull);

	if (isnull)
		return;
	appendStringInfo(buf, "verist_dispatch_latency_seconds{quantile=\"%s\"} %.6f\n", quantile,
					 DatumGetFloat8(DirectFunctionCall2(interval_part,
														CStringGetTextDatum("epoch"), d)));
}

/* The counters as Prometheus counters: verist_<name>_total, conflicts by reason. */
static void
AppendCounters(StringInfo buf)
{
	uint64		counts[VERIST_NUM_COUNTERS];
	TimestampTz since;
	const char *last = NULL;

	bool		counting = VeristReadCounters(counts, &since);

	appendStringInfo(buf,
					 "# HELP verist_counters_enabled 1 if verist is in shared_preload_libraries and counts.\n"
					 "# TYPE verist_counters_enabled gauge\n"
					 "verist_counters_enabled %d\n", counting ? 1 : 0);
	if (!counting)
		return;
	for (int c = 0; c < VERIST_NUM_COUNTERS; c++)
	{
		const char *name = VeristCounterName((VeristCounter) c);
		const char *reason = VeristCounterReason((VeristCounter) c);

		if (last == NULL || strcmp(last, name) != 0)
			appendStringInfo(buf, "# TYPE verist_%s_total counter\n", name);
		last = name;
		if (reason != NULL)
			appendStringInfo(buf, "verist_%s_total{reason=\"%s\"} " UINT64_FORMAT "\n",
							 name, reason, counts[c]);
		else
			appendStringInfo(buf, "verist_%s_total " UINT64_FORMAT "\n", name, counts[c]);
	}
	appendStringInfo(buf,
					 "# HELP verist_counters_reset_time_seconds When the counters last started from zero.\n"
					 "# TYPE verist_counters_reset_time_seconds gauge\n"
					 "verist_counters_reset_time_seconds %.3f\n",
					 (double) since / USECS_PER_SEC +
					 (double) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY);
}

PG_FUNCTION_INFO_V1(verist_metrics);

/* SQL: verist_metrics(recent interval) returns text (Prometheus text format) */
Datum
verist_metrics(PG_FUNCTION_ARGS)
{
	StringInfoData buf;
	bool		isnull;
	int64		dispatched;

	initStringInfo(&buf);
	AppendCounters(&buf);

	VeristConnect(fcinfo);
	ReadLatency(fcinfo, 0);
	dispatched = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
											  1, &isnull));
	appendStringInfo(&buf,
					 "# HELP verist_dispatch_latency_seconds Commit to dispatch, over rows dispatched in the recent window.\n"
					 "# TYPE verist_dispatch_latency_seconds gauge\n");
	AppendSeconds(&buf, "0.5", 2);
	AppendSeconds(&buf, "0.9", 3);
	AppendSeconds(&buf, "0.99", 4);
	appendStringInfo(&buf,
					 "# HELP verist_dispatch_latency_rows Rows dispatched in the recent window.\n"
					 "# TYPE verist_dispatch_latency_rows gauge\n"
					 "verist_dispatch_latency_rows " INT64_FORMAT "\n", dispatched);
	VeristFinish();
	PG_RETURN_TEXT_P(cstring_to_text(buf.data));
}
