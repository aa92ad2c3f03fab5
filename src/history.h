/*
 * history.h
 *		A run's state at any point of its ledger, replayed (verist 0.4.0).
 */
#ifndef VERIST_HISTORY_H
#define VERIST_HISTORY_H

#include "postgres.h"

#include "access/htup.h"
#include "access/tupdesc.h"
#include "datatype/timestamp.h"
#include "utils/jsonb.h"

#include "canonical.h"

/* A run as its ledger says it was after some entry. */
typedef struct VeristReplay
{
	Jsonb	   *computed;		/* NULL before the first commit */
	Jsonb	   *overlay;
	int32		version;
	int32		seq;			/* the last entry applied; 0 for none */
	int32		events_seq;		/* the event chain's head after it */
	char		events_hash[VERIST_HASH_HEX_LEN + 1];
	char		hash[VERIST_HASH_HEX_LEN + 1];
	TimestampTz at;				/* its time */
	int32		first_version;	/* the version of the first entry (1, or an adopted one) */
} VeristReplay;

extern void VeristReplayStart(VeristReplay *r);
extern void VeristReplayApply(VeristReplay *r, const char *kind, int32 version,
							  Jsonb *change);
extern HeapTuple VeristStateAfterCommit(text *workflow_id, text *run_id, int32 version,
										TupleDesc desc);

#endif							/* VERIST_HISTORY_H */
