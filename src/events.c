/*
 * events.c
 *		The append-only guard of verist_events, and reading events in id
 *		order without skipping any (verist_read_events, 0.2.0).
 *
 * The event log is the audit trail: verist never updates or deletes an event,
 * and a trigger makes the database refuse anyone else who tries, the table
 * owner and superusers included (short of disabling the trigger, which needs
 * ownership of the table and is itself visible in the catalog).
 *
 * Gap-free reading.  Event ids come from a sequence when a row is inserted,
 * but become visible when the inserting transaction commits, so a reader that
 * keeps "the last id I saw" can see id 12 before id 11 commits and then skip
 * 11 for ever.  The protocol that prevents it:
 *
 *   writer: before its first event in a transaction, read the sequence's
 *           last value k and take a share lock on the advisory tag
 *           (database, k, VERIST_FLOOR_TAG): every id it is given later is
 *           greater than k.  The lock goes away when the transaction ends.
 *   reader: read the sequence's last value S, then the smallest k of all
 *           floor locks held; return only events with id <= min(S, k),
 *           queried with a snapshot taken after that.
 *
 * An id x <= S was handed out before the reader read S, hence after its
 * writer took its floor lock (k < x); so either that lock is seen and holds
 * the reader back below x, or the writer has finished and the reader's later
 * snapshot shows its events (or their absence, if it aborted).  Ids handed
 * out after S are above the bound.  This needs READ COMMITTED (a fresh
 * snapshot per statement) and the sequence's default CACHE 1.
 */
#include "postgres.h"

#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/lock.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/lsyscache.h"

#include "args.h"
#include "compat.h"
#include "counters.h"
#include "errors.h"
#include "events.h"
#include "plans.h"

/* locktag_field4 of floor locks: keeps them apart from pg_advisory_lock's 1 and 2. */
#define VERIST_FLOOR_TAG 0x5652

static VeristQuery events_after = {
	"SELECT e.* FROM @extschema@.verist_events AS e"
	" WHERE e.id OPERATOR(pg_catalog.>) $1 AND e.id OPERATOR(pg_catalog.<=) $2"
	" ORDER BY e.id LIMIT $3",
	3, {INT8OID, INT8OID, INT4OID}
};

/* The floor lock this backend took last, to take one per transaction. */
static LOCKTAG floor_tag;
static bool floor_tag_set = false;

/*
 * True only while verist_retire_run removes the events and ledger entries of
 * a run it has just sealed (0.4.0): the one delete the append-only guard lets
 * through.  A C
 * variable of this backend, which no SQL can set.
 */
static bool retiring = false;

/* Let the append-only guard pass the deletes of a retirement, or stop that. */
void
VeristRetiringEvents(bool on)
{
	retiring = on;
}

PG_FUNCTION_INFO_V1(verist_events_refuse_change);

/*
 * Trigger function: refuse UPDATE, DELETE and TRUNCATE of events, ledger
 * entries and seals (one function for the three append-only tables).
 */
Datum
verist_events_refuse_change(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	const char *action;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function can only be called as a trigger")));

	if (retiring && TRIGGER_FIRED_BY_DELETE(trigdata->tg_event) &&
		TRIGGER_FIRED_FOR_ROW(trigdata->tg_event))
		return PointerGetDatum(trigdata->tg_trigtuple);

	if (TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event))
		action = "update";
	else if (TRIGGER_FIRED_BY_DELETE(trigdata->tg_event))
		action = "delete from";
	else if (TRIGGER_FIRED_BY_TRUNCATE(trigdata->tg_event))
		action = "truncate";
	else
		action = "change";

	if (strcmp(RelationGetRelationName(trigdata->tg_relation), "verist_events") == 0)
		ereport(ERROR,
				(VeristErrcode(ERRCODE_VERIST_APPEND_ONLY),
				 errmsg("cannot %s table \"%s\"", action,
						RelationGetRelationName(trigdata->tg_relation)),
				 errdetail("The verist event log is append-only: events are never changed or removed."),
				 errhint("Record a correction as a new event.")));
	ereport(ERROR,
			(VeristErrcode(ERRCODE_VERIST_APPEND_ONLY),
			 errmsg("cannot %s table \"%s\"", action,
					RelationGetRelationName(trigdata->tg_relation)),
			 errdetail("A run's ledger and the seals of retired runs are append-only."),
			 errhint("Corrections are new entries: verist_set_overlay, verist_resolve_block.")));
	PG_RETURN_NULL();
}

/*
 * The last value handed out by verist_events_id_seq, or 0 before the first.
 * Reads the sequence's tuple as pg_sequence_last_value does: no SPI round.
 */
static int64
EventsSequenceLastValue(void)
{
	LOCAL_FCINFO(seqinfo, 1);
	Datum		result;

	InitFunctionCallInfoData(*seqinfo, NULL, 1, InvalidOid, NULL, NULL);
	seqinfo->args[0].value = ObjectIdGetDatum(VeristRelation("verist_events_id_seq"));
	seqinfo->args[0].isnull = false;
	result = pg_sequence_last_value(seqinfo);
	return seqinfo->isnull ? 0 : DatumGetInt64(result);
}

/*
 * Writer side of gap-free reading: make sure this transaction holds a floor
 * lock below every event id it is about to be given.  Called by a commit
 * before it inserts events; one lock serves the whole transaction, unless a
 * rolled-back subtransaction released it.
 */
void
VeristEventsWriterFloor(void)
{
	int64		k;

	if (floor_tag_set && VeristLockHeldByMe(&floor_tag, ShareLock))
		return;

	k = EventsSequenceLastValue();
	SET_LOCKTAG_ADVISORY(floor_tag, MyDatabaseId, (uint32) ((uint64) k >> 32),
						 (uint32) k, VERIST_FLOOR_TAG);
	floor_tag_set = true;
	(void) LockAcquire(&floor_tag, ShareLock, false, false);
}

/* Reader side: the highest id that no in-progress writer can still go below. */
static int64
EventsSafeBound(void)
{
	int64		bound = EventsSequenceLastValue();
	LockData   *locks = GetLockStatusData();

	for (int i = 0; i < locks->nelements; i++)
	{
		LockInstanceData *l = &locks->locks[i];
		int64		k;

		if (l->locktag.locktag_type != LOCKTAG_ADVISORY ||
			l->locktag.locktag_lockmethodid != USER_LOCKMETHOD ||
			l->locktag.locktag_field1 != MyDatabaseId ||
			l->locktag.locktag_field4 != VERIST_FLOOR_TAG ||
			l->holdMask == 0)
			continue;
		k = (int64) (((uint64) l->locktag.locktag_field2 << 32) | l->locktag.locktag_field3);
		bound = Min(bound, k);
	}
	return bound;
}

PG_FUNCTION_INFO_V1(verist_read_events);

/* SQL: verist_read_events(after_id bigint, max_entries int) returns setof verist_events */
Datum
verist_read_events(PG_FUNCTION_ARGS)
{
	Datum		values[3];
	int32		max_entries;

	VeristRequireArg(fcinfo, 0, "after_id");
	max_entries = VeristCountArg(fcinfo, 1, "max_entries");
	/*
	 * The writers' floor locks are not WAL-logged: a standby sees no commit
	 * in progress on the primary, and would read past an id that is still
	 * to appear, skipping it for ever.
	 */
	if (RecoveryInProgress())
		ereport(ERROR,
				(VeristErrcode(ERRCODE_VERIST_STANDBY),
				 errmsg("cannot read events gap-free on a standby server"),
				 errdetail("A standby cannot see which event ids commits in progress on the primary still hold."),
				 errhint("Call verist_read_events on the primary.")));
	if (IsolationUsesXactSnapshot())
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot read events gap-free in a REPEATABLE READ or SERIALIZABLE transaction"),
				 errdetail("The hold-back bound needs a snapshot taken after it is computed."),
				 errhint("Call verist_read_events in a READ COMMITTED transaction.")));

	InitMaterializedSRF(fcinfo, 0);
	VeristConnect(fcinfo);
	values[0] = PG_GETARG_DATUM(0);
	values[1] = Int64GetDatum(EventsSafeBound());
	values[2] = Int32GetDatum(max_entries);
	/* not read-only: under READ COMMITTED this takes a fresh snapshot */
	VeristExecute(&events_after, values, NULL, false, 0);
	VeristStoreRows(fcinfo);
	VeristFinish();
	return (Datum) 0;
}
