/*
 * counters.h
 *		Counters of what verist's functions did and refused (0.5.0), kept in
 *		shared memory per database (counters.c).
 */
#ifndef VERIST_COUNTERS_H
#define VERIST_COUNTERS_H

#include "postgres.h"

#include "datatype/timestamp.h"

/*
 * One counter each.  The order is the order of the verist_counters view;
 * counters.c names each one.
 */
typedef enum VeristCounter
{
	VERIST_COUNT_COMMITS,			/* accepted commits to an existing run */
	VERIST_COUNT_CREATES,			/* accepted commits that created their run */
	VERIST_COUNT_REPLAYS,			/* identical retries answered, nothing written */
	VERIST_COUNT_RUN_EXISTS,		/* conflicts, one counter per reason */
	VERIST_COUNT_VERSION_MISMATCH,
	VERIST_COUNT_ACTIVE_BLOCK,
	VERIST_COUNT_COMMAND_EXISTS,
	VERIST_COUNT_LEASE_MISMATCH,
	VERIST_COUNT_NOT_FAILED,
	VERIST_COUNT_RUN_ACTIVE,
	VERIST_COUNT_NOT_FOUND,
	VERIST_COUNT_SERIALIZATION,
	VERIST_COUNT_LEASES,			/* lease calls */
	VERIST_COUNT_ROWS_LEASED,
	VERIST_COUNT_DISPATCHED,		/* rows finalised as dispatched */
	VERIST_COUNT_RETRIED,			/* failures sent back to wait for a retry */
	VERIST_COUNT_DEAD_LETTERED,		/* rows that ended failed */
	VERIST_NUM_COUNTERS
} VeristCounter;

/* verist.counters: count (on, the default) or not. */
extern bool verist_counters;

extern void VeristCountersInit(void);
extern void VeristCount(VeristCounter counter, uint64 n);

/*
 * errcode() for verist's own SQLSTATEs: counts the refusal, then sets the
 * code.  Every ereport of a VR... SQLSTATE uses it, so a refused call is
 * counted at the place it is refused, before anything unwinds.
 */
extern int	VeristErrcode(int sqlerrcode);

/* For metrics.c: a copy of this database's counters, false if it has none. */
extern bool VeristReadCounters(uint64 *values, TimestampTz *since);
extern const char *VeristCounterName(VeristCounter counter);
extern const char *VeristCounterReason(VeristCounter counter);

#endif							/* VERIST_COUNTERS_H */
