/*
 * lease.c
 *		Leasing outbox rows to dispatchers, in four modes (0.5.0; before,
 *		only "oldest").
 *
 *	oldest		0.1.0's rule: the oldest leasable rows of any run.
 *	per_run		a run's commands in commit order, at most one in flight per
 *				run: only the first unfinished command of a run is leasable,
 *				and only while no other command of the run is leased or
 *				waiting for its retry.  Other runs are not held up.
 *	fair		round-robin over workflows: each workflow's oldest leasable
 *				row first, then each one's second, and so on, so that one
 *				workflow's backlog delays another by at most one lease call;
 *				and each workflow's cap on leased rows (verist_workflow_limits)
 *				is honoured.
 *	fair_per_run fair, leasing only what per_run would lease.
 *
 * Every mode claims rows with FOR UPDATE SKIP LOCKED, so concurrent
 * dispatchers get disjoint rows without waiting.  per_run needs nothing
 * more: a run's first unfinished row is the only candidate of that run, so
 * two dispatchers meet on one row and one of them skips it.  oldest and fair
 * find candidates through partial indexes of pending and leased rows only, so
 * their cost does not grow with the dispatched, rejected and failed rows left
 * behind (per_run's check of a run reads that run's rows, finished ones too).
 * Lease expiry uses the wall clock (clock_timestamp()), not the start of the
 * dispatcher's transaction.
 *
 * A cap must hold for all dispatchers together, and counting a workflow's
 * leased rows and then leasing more is a race between two dispatchers.  When
 * any cap is set, fair leasing therefore takes a transaction-level lock
 * (one for the database: every capped workflow can be in every lease) and
 * counts in a statement started after it, whose READ COMMITTED snapshot sees
 * every lease committed before.  A transaction snapshot (REPEATABLE READ,
 * SERIALIZABLE) could not, so the fair modes refuse to run under one.
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/lock.h"
#include "utils/builtins.h"
#include "utils/guc.h"

#include "args.h"
#include "counters.h"
#include "errors.h"
#include "plans.h"

/* locktag_field4 of the caps lock: apart from pg_advisory_lock's 1 and 2 and events.c's. */
#define VERIST_CAPS_TAG 0x5653

typedef enum LeaseMode
{
	LEASE_OLDEST,
	LEASE_PER_RUN,
	LEASE_FAIR,
	LEASE_FAIR_PER_RUN
} LeaseMode;

static const char *const lease_mode_names[] = {"oldest", "per_run", "fair", "fair_per_run"};

/* What "leasable" means in every mode: pending, or leased with the lease over. */
#define LEASABLE(o) \
	" " o ".status OPERATOR(pg_catalog.=) ANY ('{pending,leased}'::pg_catalog.text[])" \
	" AND (" o ".lease_expires_at IS NULL" \
	"      OR " o ".lease_expires_at OPERATOR(pg_catalog.<=) pg_catalog.clock_timestamp())"

/*
 * per_run's rule for row o: no earlier command of its run is unfinished
 * (pending, leased or deferred), and no command of its run is in flight
 * (leased, or pending until its retry, with lease_expires_at ahead).  The
 * second half matters after verist_requeue puts an earlier dead letter back
 * while a later command is out.  Found through verist_outbox_run_idx.
 */
#define RUN_HEAD(o) \
	" NOT EXISTS (SELECT 1 FROM @extschema@.verist_outbox AS p" \
	"   WHERE p.workflow_id OPERATOR(pg_catalog.=) " o ".workflow_id" \
	"   AND p.run_id OPERATOR(pg_catalog.=) " o ".run_id" \
	"   AND p.id OPERATOR(pg_catalog.<>) " o ".id" \
	"   AND ((p.id OPERATOR(pg_catalog.<) " o ".id" \
	"         AND p.status OPERATOR(pg_catalog.=) ANY ('{pending,leased,deferred}'::pg_catalog.text[]))" \
	"        OR (p.status OPERATOR(pg_catalog.=) ANY ('{pending,leased}'::pg_catalog.text[])" \
	"            AND p.lease_expires_at OPERATOR(pg_catalog.>) pg_catalog.clock_timestamp())))"

/*
 * The rows claimed (ids in "claimed"), leased to $1 for $3, returned in id
 * order.  The claimed ids reach the update as one array, read through the
 * primary key: every lease query is planned once for any arguments (see
 * VeristPlanMode), and such a plan guesses "LIMIT $2" at a tenth of the
 * outbox; a join with "claimed" was then planned as a hash join over a scan
 * of the whole outbox (0.6.0 with plan_cache_mode = force_generic_plan: 380
 * ms a lease with 200,000 rows queued, against 5 ms).
 */
#define LEASE_CLAIMED \
	", leased AS (" \
	"  UPDATE @extschema@.verist_outbox AS o" \
	"  SET status = 'leased', lease_owner = $1," \
	"  lease_expires_at = pg_catalog.clock_timestamp() OPERATOR(pg_catalog.+) $3" \
	"  WHERE o.id OPERATOR(pg_catalog.=) ANY (ARRAY(SELECT claimed.id FROM claimed))" \
	"  RETURNING o.*" \
	") SELECT * FROM leased ORDER BY id"

/*
 * From 0.6.0 on the partial indexes' predicate is the generated column
 * "queued" (status pending or leased), which a lease does not change, so a
 * lease is a HOT update: no index entry written.  Naming it lets the planner
 * use those indexes; the status test stays, since it is what leasable means.
 */
#define QUEUED_LEASABLE(o) " " o ".queued AND" LEASABLE(o)

/* oldest: the first leasable rows in id order, through the ready index. */
#define OLDEST_QUERY(leasable) \
	"WITH claimed AS (" \
	"  SELECT o.id FROM @extschema@.verist_outbox AS o" \
	"  WHERE" leasable \
	"  ORDER BY o.id LIMIT $2" \
	"  FOR UPDATE SKIP LOCKED" \
	")" LEASE_CLAIMED

static VeristQuery lease_oldest = {
	OLDEST_QUERY(LEASABLE("o")), 3, {TEXTOID, INT4OID, INTERVALOID}, VERIST_PLAN_GENERIC
};

static VeristQuery lease_per_run = {
	OLDEST_QUERY(LEASABLE("o") " AND" RUN_HEAD("o")), 3, {TEXTOID, INT4OID, INTERVALOID}, VERIST_PLAN_GENERIC
};

static VeristQuery lease_oldest_queued = {
	OLDEST_QUERY(QUEUED_LEASABLE("o")), 3, {TEXTOID, INT4OID, INTERVALOID}, VERIST_PLAN_GENERIC
};

static VeristQuery lease_per_run_queued = {
	OLDEST_QUERY(QUEUED_LEASABLE("o") " AND" RUN_HEAD("o")), 3, {TEXTOID, INT4OID, INTERVALOID}, VERIST_PLAN_GENERIC
};

/*
 * The fair queries' "room" body: how many rows each busy workflow may offer,
 * four batches' worth, or what its cap leaves after leased_count (a scalar
 * subquery counting its rows leased now).
 */
#define FAIR_ROOM(leased_count) \
	"  SELECT w.workflow_id," \
	"   CASE WHEN l.max_in_flight IS NULL THEN $2::pg_catalog.int8 OPERATOR(pg_catalog.*) 4" \
	"   ELSE GREATEST(0, LEAST($2::pg_catalog.int8 OPERATOR(pg_catalog.*) 4, l.max_in_flight OPERATOR(pg_catalog.-)" \
	leased_count "))" \
	"   END AS take" \
	"  FROM workflows AS w" \
	"  LEFT JOIN @extschema@.verist_workflow_limits AS l" \
	"    ON l.workflow_id OPERATOR(pg_catalog.=) w.workflow_id" \
	"  WHERE w.workflow_id IS NOT NULL"

/* The end of both fair queries: rank the offer, claim in rank order, lease. */
#define FAIR_CLAIM \
	"), ranked AS (" \
	"  SELECT ARRAY(SELECT offered.id FROM offered ORDER BY offered.rank, offered.id" \
	"               LIMIT $2::pg_catalog.int8 OPERATOR(pg_catalog.*) 4) AS ids" \
	"), claimed AS (" \
	"  SELECT o.id FROM ranked," \
	"    pg_catalog.unnest(ranked.ids) WITH ORDINALITY AS r(id, pos)" \
	"    JOIN @extschema@.verist_outbox AS o ON o.id OPERATOR(pg_catalog.=) r.id" \
	"  WHERE" LEASABLE("o") \
	"  ORDER BY r.pos LIMIT $2" \
	"  FOR UPDATE OF o SKIP LOCKED" \
	")" LEASE_CLAIMED

/*
 * fair and fair_per_run.  The workflows with leasable-looking rows are found
 * by skipping through verist_outbox_workflow_ready_idx (one probe per
 * workflow, however many rows each has; ordering by its first two columns
 * keeps the planner on it rather than on verist_outbox_run_idx, which also
 * holds every finished row).  Each workflow offers its oldest leasable rows
 * (the pending and the expired-leased ranges of that index, merged; with $4,
 * fair_per_run, only rows whose run's turn it is), at most what its cap
 * leaves; the offer is ranked, so the first row of every workflow comes
 * before the second of any.  The best 4 * max_entries of it travel as one
 * array in rank order, which the claim unnests and reads through the primary
 * key (a join with the offer itself would be planned blind, as a scan of the
 * whole outbox), locking in rank order and skipping what others hold.
 *
 * Why four times what one call takes: dispatchers leasing at the same moment
 * compute the same offer, and each skips the rows the others have locked;
 * up to four of them still find a full batch each.  The cap bounds the offer,
 * so it is never exceeded.
 */
static VeristQuery lease_fair = {
	"WITH RECURSIVE workflows AS ("
	"  (SELECT o.workflow_id FROM @extschema@.verist_outbox AS o"
	"   WHERE o.status OPERATOR(pg_catalog.=) ANY ('{pending,leased}'::pg_catalog.text[])"
	"   ORDER BY o.workflow_id, o.status LIMIT 1)"
	"  UNION ALL"
	"  SELECT (SELECT o.workflow_id FROM @extschema@.verist_outbox AS o"
	"          WHERE o.status OPERATOR(pg_catalog.=) ANY ('{pending,leased}'::pg_catalog.text[])"
	"          AND o.workflow_id OPERATOR(pg_catalog.>) w.workflow_id"
	"          ORDER BY o.workflow_id, o.status LIMIT 1)"
	"  FROM workflows AS w WHERE w.workflow_id IS NOT NULL"
	"), room AS ("
	FAIR_ROOM(
	"     (SELECT pg_catalog.count(*) FROM @extschema@.verist_outbox AS f"
	"      WHERE f.workflow_id OPERATOR(pg_catalog.=) w.workflow_id"
	"      AND f.status OPERATOR(pg_catalog.=) 'leased'"
	"      AND f.lease_expires_at OPERATOR(pg_catalog.>) pg_catalog.clock_timestamp())")
	"), offered AS ("
	"  SELECT c.id, pg_catalog.row_number() OVER (PARTITION BY r.workflow_id ORDER BY c.id) AS rank"
	"  FROM room AS r CROSS JOIN LATERAL ("
	"    SELECT u.id FROM ("
	"     (SELECT o.id FROM @extschema@.verist_outbox AS o"
	"      WHERE o.workflow_id OPERATOR(pg_catalog.=) r.workflow_id"
	"      AND o.status OPERATOR(pg_catalog.=) 'pending'"
	"      AND (o.lease_expires_at IS NULL"
	"           OR o.lease_expires_at OPERATOR(pg_catalog.<=) pg_catalog.clock_timestamp())"
	"      AND (NOT $4 OR" RUN_HEAD("o") ")"
	"      ORDER BY o.id LIMIT r.take)"
	"     UNION ALL"
	"     (SELECT o.id FROM @extschema@.verist_outbox AS o"
	"      WHERE o.workflow_id OPERATOR(pg_catalog.=) r.workflow_id"
	"      AND o.status OPERATOR(pg_catalog.=) 'leased'"
	"      AND o.lease_expires_at OPERATOR(pg_catalog.<=) pg_catalog.clock_timestamp()"
	"      AND (NOT $4 OR" RUN_HEAD("o") ")"
	"      ORDER BY o.id LIMIT r.take)"
	"    ) AS u ORDER BY u.id LIMIT r.take) AS c"
	"  WHERE r.take OPERATOR(pg_catalog.>) 0"
	FAIR_CLAIM,
	4, {TEXTOID, INT4OID, INTERVALOID, BOOLOID}, VERIST_PLAN_GENERIC
};

/*
 * One workflow's rows of outbox alias o, w the workflow's alias, written as
 * a range rather than an equality, and read in (workflow_id, id) order.  With
 * "o.workflow_id = w.workflow_id" the planner takes the workflow as a
 * constant, so "ORDER BY id" is also the order of verist_outbox_ready_idx and
 * of the primary key; assuming a workflow's rows spread evenly over the ids,
 * it then scans one of those and filters, which behind one workflow's large
 * backlog reads the whole backlog for every other workflow (0.6.0 drafts:
 * 0.6 s a lease with 100,000 rows queued).  The range and the two-column
 * order leave verist_outbox_workflow_ready_idx as the only index that gives
 * that order.
 */
#define ONE_WORKFLOW(o, w) \
	" " o ".workflow_id OPERATOR(pg_catalog.>=) " w ".workflow_id" \
	" AND " o ".workflow_id OPERATOR(pg_catalog.<=) " w ".workflow_id"

/*
 * fair and fair_per_run on 0.6.0's outbox: the same, through
 * verist_outbox_workflow_ready_idx (workflow_id, id) WHERE queued.  That
 * index cannot tell leased rows from pending ones (status in an index would
 * make every lease a non-HOT update), so a capped workflow's leased rows are
 * counted by walking its queued rows in id order, stopping at the cap: fair
 * leases a workflow's oldest rows, so its leased rows are near the start.
 * A capped workflow with fewer rows leased than its cap is walked to its end.
 */
static VeristQuery lease_fair_queued = {
	"WITH RECURSIVE workflows AS ("
	"  (SELECT o.workflow_id FROM @extschema@.verist_outbox AS o"
	"   WHERE o.queued ORDER BY o.workflow_id, o.id LIMIT 1)"
	"  UNION ALL"
	"  SELECT (SELECT o.workflow_id FROM @extschema@.verist_outbox AS o"
	"          WHERE o.queued AND o.workflow_id OPERATOR(pg_catalog.>) w.workflow_id"
	"          ORDER BY o.workflow_id, o.id LIMIT 1)"
	"  FROM workflows AS w WHERE w.workflow_id IS NOT NULL"
	"), room AS ("
	FAIR_ROOM(
	"     (SELECT pg_catalog.count(*) FROM (SELECT 1 FROM @extschema@.verist_outbox AS f"
	"      WHERE" ONE_WORKFLOW("f", "w") " AND f.queued"
	"      AND f.status OPERATOR(pg_catalog.=) 'leased'"
	"      AND f.lease_expires_at OPERATOR(pg_catalog.>) pg_catalog.clock_timestamp()"
	"      ORDER BY f.workflow_id, f.id LIMIT l.max_in_flight) AS f)")
	"), offered AS ("
	"  SELECT c.id, pg_catalog.row_number() OVER (PARTITION BY r.workflow_id ORDER BY c.id) AS rank"
	"  FROM room AS r CROSS JOIN LATERAL ("
	"    SELECT o.id FROM @extschema@.verist_outbox AS o"
	"    WHERE" ONE_WORKFLOW("o", "r") " AND" QUEUED_LEASABLE("o")
	"    AND (NOT $4 OR" RUN_HEAD("o") ")"
	"    ORDER BY o.workflow_id, o.id LIMIT r.take) AS c"
	"  WHERE r.take OPERATOR(pg_catalog.>) 0"
	FAIR_CLAIM,
	4, {TEXTOID, INT4OID, INTERVALOID, BOOLOID}, VERIST_PLAN_GENERIC
};

static VeristQuery caps_exist = {
	"SELECT 1 FROM @extschema@.verist_workflow_limits LIMIT 1",
	0, {}
};

/* The lease mode argument, by name. */
static LeaseMode
LeaseModeArg(FunctionCallInfo fcinfo, int argno)
{
	char	   *name = text_to_cstring(VeristTextArg(fcinfo, argno, "lease_mode"));

	for (int m = 0; m < (int) lengthof(lease_mode_names); m++)
		if (strcmp(name, lease_mode_names[m]) == 0)
			return (LeaseMode) m;
	ereport(ERROR,
			(VeristErrcode(ERRCODE_VERIST_SERIALIZATION),
			 errmsg("argument \"lease_mode\" has an unknown value: \"%s\"", name),
			 errhint("Use oldest, per_run, fair or fair_per_run.")));
}

/*
 * Before a fair lease: if any workflow has a cap, take the caps lock for the
 * rest of the transaction, so that the next statement counts every lease of
 * the other fair dispatchers.
 */
static void
LockForCaps(void)
{
	LOCKTAG		tag;

	if (IsolationUsesXactSnapshot())
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TRANSACTION_STATE),
				 errmsg("fair leasing needs READ COMMITTED"),
				 errdetail("A workflow's leased rows are counted afresh for each lease; a transaction snapshot would not see other dispatchers' leases."),
				 errhint("Lease in a READ COMMITTED transaction (the default), or use lease mode oldest or per_run.")));
	if (VeristExecute(&caps_exist, NULL, NULL, true, 1) == 0)
		return;
	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, 0, 0, VERIST_CAPS_TAG);
	(void) LockAcquire(&tag, ExclusiveLock, false, false);
}

/* The queries of each mode, for outboxes before 0.6.0 and from 0.6.0 on. */
static VeristQuery *const lease_queries[2][lengthof(lease_mode_names)] = {
	{&lease_oldest, &lease_per_run, &lease_fair, &lease_fair},
	{&lease_oldest_queued, &lease_per_run_queued, &lease_fair_queued, &lease_fair_queued}
};

/*
 * verist_lease_outbox(lease_owner, max_entries, lease_duration
 *					   [, lease_mode]) returns setof verist_outbox,
 * with the queries for the installed version's outbox.
 */
static Datum
LeaseOutbox(FunctionCallInfo fcinfo, bool queued)
{
	text	   *owner = VeristIdArg(fcinfo, 0, "lease_owner");
	int32		max_entries = VeristCountArg(fcinfo, 1, "max_entries");
	LeaseMode	mode = LEASE_OLDEST;
	Datum		values[4];
	uint64		leased;
	int			guc_level;

	/* validated as a bound; the interval itself is added, calendar months and all */
	(void) VeristDurationArg(fcinfo, 2, "lease_duration");
	if (PG_NARGS() > 3)
		mode = LeaseModeArg(fcinfo, 3);

	values[0] = PointerGetDatum(owner);
	values[1] = Int32GetDatum(max_entries);
	values[2] = IntervalPGetDatum(PG_GETARG_INTERVAL_P(2));
	values[3] = BoolGetDatum(mode == LEASE_FAIR_PER_RUN);

	/*
	 * No JIT for this call: on a large outbox the fair queries' estimated
	 * cost passes jit_above_cost, and compiling them took most of each call
	 * (0.6.0 drafts, perf: over half of the backend's time in LLVM, for a
	 * query that then ran in a millisecond).
	 */
	guc_level = NewGUCNestLevel();
	(void) set_config_option("jit", "off", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);

	InitMaterializedSRF(fcinfo, 0);
	VeristConnect(fcinfo);
	if (mode == LEASE_FAIR || mode == LEASE_FAIR_PER_RUN)
		LockForCaps();
	leased = VeristExecute(lease_queries[queued ? 1 : 0][mode], values, NULL, false, 0);
	VeristStoreRows(fcinfo);
	VeristFinish();
	AtEOXact_GUC(true, guc_level);
	VeristCount(VERIST_COUNT_LEASES, 1);
	VeristCount(VERIST_COUNT_ROWS_LEASED, leased);
	return (Datum) 0;
}

/*
 * The C names the SQL function is bound to: verist_lease_outbox by 0.1.0 to
 * 0.5.0, whose outbox has no "queued" column (a database not yet updated
 * after the library was), verist_lease_outbox_queued from 0.6.0 on.
 */
PG_FUNCTION_INFO_V1(verist_lease_outbox);
Datum
verist_lease_outbox(PG_FUNCTION_ARGS)
{
	return LeaseOutbox(fcinfo, false);
}

PG_FUNCTION_INFO_V1(verist_lease_outbox_queued);
Datum
verist_lease_outbox_queued(PG_FUNCTION_ARGS)
{
	return LeaseOutbox(fcinfo, true);
}
