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
#include "nodes/pg_list.h"
#include "utils/jsonb.h"

#include "canonical.h"

/*
 * A run as its ledger says it was after some entry.  computed and overlay
 * are kept as the list of objects merged so far (a base, then patches) and
 * merged once, by VeristReplayFinish: merging patch by patch with jsonb ||
 * copies the whole state at every entry, quadratic in a run's length.
 */
typedef struct VeristReplay
{
	List	   *computed_parts; /* NIL before the first commit */
	List	   *overlay_parts;
	bool		has_state;		/* a commit (or an adopt entry) was applied */
	Jsonb	   *computed;		/* set by VeristReplayFinish; NULL before a commit */
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
extern void VeristReplayFinish(VeristReplay *r);
extern HeapTuple VeristStateAfterCommit(text *workflow_id, text *run_id, int32 version,
										TupleDesc desc);

#endif							/* VERIST_HISTORY_H */
