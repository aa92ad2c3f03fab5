/*
 * counters.c
 *		What verist's functions did and refused, counted per database in
 *		shared memory (0.5.0).
 *
 * A refused call writes nothing, so no table can count it; and a counter
 * table would put a write (and a hot row) on every commit.  The counters are
 * therefore atomics in shared memory, as pg_stat_statements keeps its
 * figures: one slot of VERIST_NUM_COUNTERS per database, found once per
 * backend and cached (a backend never changes database).
 *
 * Shared memory is handed out only while the postmaster loads
 * shared_preload_libraries, so the counters exist only when verist is listed
 * there.  Without it verist works as before, counts nothing, and the
 * verist_counters view says why.  Counters live as long as the server: a
 * restart (or a crash) starts them at zero, like any Prometheus counter, and
 * verist_reset_counters() zeroes one database's.
 *
 * A counter counts calls as answered, not transactions: a commit counted here
 * whose transaction the caller then rolls back stays counted.
 */
#include "postgres.h"

#include "funcapi.h"
#include "miscadmin.h"
#include "port/atomics.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "utils/builtins.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "counters.h"
#include "errors.h"

/*
 * Databases with counters at once; a further one counts nothing until a
 * database that has a slot is dropped (README "Counters").
 */
#define VERIST_COUNTER_DATABASES 64

typedef struct VeristDatabaseCounters
{
	Oid			dboid;			/* InvalidOid: slot free */
	pg_atomic_uint64 reset_at;	/* TimestampTz of the last reset */
	pg_atomic_uint64 value[VERIST_NUM_COUNTERS];
} VeristDatabaseCounters;

typedef struct VeristCounterState
{
	slock_t		mutex;			/* taken only to claim a slot */
	VeristDatabaseCounters db[VERIST_COUNTER_DATABASES];
} VeristCounterState;

/* How each counter appears in the view: its name and, for conflicts, the reason. */
static const struct
{
	const char *name;
	const char *reason;
}			counter_names[VERIST_NUM_COUNTERS] = {
	[VERIST_COUNT_COMMITS] = {"commits", NULL},
	[VERIST_COUNT_CREATES] = {"creates", NULL},
	[VERIST_COUNT_REPLAYS] = {"replays", NULL},
	[VERIST_COUNT_RUN_EXISTS] = {"conflicts", "run_exists"},
	[VERIST_COUNT_VERSION_MISMATCH] = {"conflicts", "version_mismatch"},
	[VERIST_COUNT_ACTIVE_BLOCK] = {"conflicts", "active_block"},
	[VERIST_COUNT_COMMAND_EXISTS] = {"conflicts", "command_exists"},
	[VERIST_COUNT_LEASE_MISMATCH] = {"conflicts", "lease_mismatch"},
	[VERIST_COUNT_NOT_FAILED] = {"conflicts", "not_failed"},
	[VERIST_COUNT_RUN_ACTIVE] = {"conflicts", "run_active"},
	[VERIST_COUNT_NOT_FOUND] = {"not_found", NULL},
	[VERIST_COUNT_SERIALIZATION] = {"serialization_errors", NULL},
	[VERIST_COUNT_LEASES] = {"leases", NULL},
	[VERIST_COUNT_ROWS_LEASED] = {"rows_leased", NULL},
	[VERIST_COUNT_DISPATCHED] = {"dispatched", NULL},
	[VERIST_COUNT_RETRIED] = {"retried", NULL},
	[VERIST_COUNT_DEAD_LETTERED] = {"dead_lettered", NULL},
};

bool		verist_counters = true;

static VeristCounterState *counter_state = NULL;
static VeristDatabaseCounters *my_counters = NULL;	/* this backend's database */

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

static void
CountersShmemRequest(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(MAXALIGN(sizeof(VeristCounterState)));
}

static void
CountersShmemStartup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	counter_state = ShmemInitStruct("verist counters", sizeof(VeristCounterState), &found);
	if (!found)
	{
		TimestampTz now = GetCurrentTimestamp();

		SpinLockInit(&counter_state->mutex);
		for (int i = 0; i < VERIST_COUNTER_DATABASES; i++)
		{
			counter_state->db[i].dboid = InvalidOid;
			pg_atomic_init_u64(&counter_state->db[i].reset_at, (uint64) now);
			for (int c = 0; c < VERIST_NUM_COUNTERS; c++)
				pg_atomic_init_u64(&counter_state->db[i].value[c], 0);
		}
	}
	LWLockRelease(AddinShmemInitLock);
}

/* From _PG_init: ask for the shared memory, if verist is being preloaded. */
void
VeristCountersInit(void)
{
	if (!process_shared_preload_libraries_in_progress)
		return;
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = CountersShmemRequest;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = CountersShmemStartup;
}

/* Zero a slot's counters and say when (a reset, or a slot taken over). */
static void
ZeroSlot(VeristDatabaseCounters *db, TimestampTz now)
{
	for (int c = 0; c < VERIST_NUM_COUNTERS; c++)
		pg_atomic_write_u64(&db->value[c], 0);
	pg_atomic_write_u64(&db->reset_at, (uint64) now);
}

/* Claim a slot for this database: its own, a free one, or (reclaim) one whose database is gone. */
static VeristDatabaseCounters *
ClaimSlot(bool reclaim)
{
	VeristDatabaseCounters *slot = NULL;
	Oid			gone[VERIST_COUNTER_DATABASES];

	/* catalog lookups cannot run under a spinlock: list the dropped databases first */
	for (int i = 0; i < VERIST_COUNTER_DATABASES; i++)
	{
		Oid			dboid = counter_state->db[i].dboid;

		gone[i] = (reclaim && OidIsValid(dboid) &&
				   !SearchSysCacheExists1(DATABASEOID, ObjectIdGetDatum(dboid))) ? dboid : InvalidOid;
	}
	SpinLockAcquire(&counter_state->mutex);
	for (int i = 0; i < VERIST_COUNTER_DATABASES && slot == NULL; i++)
		if (counter_state->db[i].dboid == MyDatabaseId)
			slot = &counter_state->db[i];
	for (int i = 0; i < VERIST_COUNTER_DATABASES && slot == NULL; i++)
	{
		VeristDatabaseCounters *db = &counter_state->db[i];

		if (db->dboid == InvalidOid || (OidIsValid(gone[i]) && db->dboid == gone[i]))
		{
			if (db->dboid != InvalidOid)
				ZeroSlot(db, GetCurrentTimestamp());
			db->dboid = MyDatabaseId;
			slot = db;
		}
	}
	SpinLockRelease(&counter_state->mutex);
	return slot;
}

/*
 * This database's slot, claimed on first use; NULL without shared memory or
 * when every slot belongs to an existing database.  A slot is given to
 * another database only once its own is dropped, so the pointer stays valid
 * for the backend's life.  A slot taken over from a dropped database starts
 * from zero.
 */
static VeristDatabaseCounters *
DatabaseCountersExt(bool may_reclaim)
{
	VeristDatabaseCounters *slot;

	if (my_counters != NULL || counter_state == NULL || !OidIsValid(MyDatabaseId))
		return my_counters;
	slot = ClaimSlot(false);
	if (slot == NULL && may_reclaim)
		slot = ClaimSlot(true);
	my_counters = slot;
	return slot;
}

static VeristDatabaseCounters *
DatabaseCounters(void)
{
	return DatabaseCountersExt(true);
}

/* Add n to a counter of this database, if it counts; may_reclaim: see VeristErrcode. */
static void
CountIn(VeristCounter counter, uint64 n, bool may_reclaim)
{
	VeristDatabaseCounters *db;

	if (!verist_counters || n == 0)
		return;
	db = DatabaseCountersExt(may_reclaim);
	if (db != NULL)
		pg_atomic_fetch_add_u64(&db->value[counter], n);
}

void
VeristCount(VeristCounter counter, uint64 n)
{
	CountIn(counter, n, true);
}

/* The counter of a refusal's SQLSTATE, or -1 for codes that are not counted. */
static int
RefusalCounter(int sqlerrcode)
{
	switch (sqlerrcode)
	{
		case ERRCODE_VERIST_RUN_EXISTS:
			return VERIST_COUNT_RUN_EXISTS;
		case ERRCODE_VERIST_VERSION_MISMATCH:
			return VERIST_COUNT_VERSION_MISMATCH;
		case ERRCODE_VERIST_ACTIVE_BLOCK:
			return VERIST_COUNT_ACTIVE_BLOCK;
		case ERRCODE_VERIST_COMMAND_EXISTS:
			return VERIST_COUNT_COMMAND_EXISTS;
		case ERRCODE_VERIST_LEASE_MISMATCH:
			return VERIST_COUNT_LEASE_MISMATCH;
		case ERRCODE_VERIST_NOT_FAILED:
			return VERIST_COUNT_NOT_FAILED;
		case ERRCODE_VERIST_RUN_ACTIVE:
			return VERIST_COUNT_RUN_ACTIVE;
		case ERRCODE_VERIST_NOT_FOUND:
			return VERIST_COUNT_NOT_FOUND;
		case ERRCODE_VERIST_SERIALIZATION:
			return VERIST_COUNT_SERIALIZATION;
		default:
			return -1;
	}
}

/*
 * Runs inside an ereport, so it must not fail: no catalog lookup (a backend
 * whose first count is a refusal while every slot is taken misses it).
 */
int
VeristErrcode(int sqlerrcode)
{
	int			counter = RefusalCounter(sqlerrcode);

	if (counter >= 0)
		CountIn((VeristCounter) counter, 1, false);
	return errcode(sqlerrcode);
}

/* This database's counters, or an error saying why there are none. */
static VeristDatabaseCounters *
RequireCounters(void)
{
	VeristDatabaseCounters *db = DatabaseCounters();

	if (counter_state == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("verist's counters are not available"),
				 errdetail("Counters live in shared memory, which verist gets only when the server preloads it."),
				 errhint("Add verist to shared_preload_libraries and restart the server.")));
	if (db == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("verist's counters are not available in this database"),
				 errdetail("Counters are kept for at most %d databases, and each slot is taken.",
						   VERIST_COUNTER_DATABASES)));
	return db;
}

/* A copy of a slot's counters and the time they started from zero. */
static void
ReadSlot(VeristDatabaseCounters *db, uint64 *values, TimestampTz *since)
{
	for (int c = 0; c < VERIST_NUM_COUNTERS; c++)
		values[c] = pg_atomic_read_u64(&db->value[c]);
	*since = (TimestampTz) pg_atomic_read_u64(&db->reset_at);
}

bool
VeristReadCounters(uint64 *values, TimestampTz *since)
{
	VeristDatabaseCounters *db = DatabaseCounters();

	if (db == NULL)
		return false;
	ReadSlot(db, values, since);
	return true;
}

const char *
VeristCounterName(VeristCounter counter)
{
	return counter_names[counter].name;
}

const char *
VeristCounterReason(VeristCounter counter)
{
	return counter_names[counter].reason;
}

PG_FUNCTION_INFO_V1(verist_stat_counters);

/* SQL: verist_stat_counters() returns setof (counter, reason, value, since) */
Datum
verist_stat_counters(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	uint64		counts[VERIST_NUM_COUNTERS];
	TimestampTz since;

	ReadSlot(RequireCounters(), counts, &since);
	InitMaterializedSRF(fcinfo, 0);
	for (int c = 0; c < VERIST_NUM_COUNTERS; c++)
	{
		Datum		values[4];
		bool		nulls[4] = {false, false, false, false};

		values[0] = CStringGetTextDatum(counter_names[c].name);
		if (counter_names[c].reason != NULL)
			values[1] = CStringGetTextDatum(counter_names[c].reason);
		else
			nulls[1] = true;
		values[2] = Int64GetDatum((int64) counts[c]);
		values[3] = TimestampTzGetDatum(since);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

PG_FUNCTION_INFO_V1(verist_reset_counters);

/*
 * SQL: verist_reset_counters() returns timestamptz
 *
 * Zero this database's counters; returns the time of the reset.  Calls that
 * count meanwhile may land before or after it.
 */
Datum
verist_reset_counters(PG_FUNCTION_ARGS)
{
	VeristDatabaseCounters *db = RequireCounters();
	TimestampTz now = GetCurrentTimestamp();

	ZeroSlot(db, now);
	PG_RETURN_TIMESTAMPTZ(now);
}
