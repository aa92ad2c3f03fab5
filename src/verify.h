/*
 * verify.h
 *		What the checks of a run share (audit.c walks the event chain,
 *		ledger_check.c the ledger against events, state and blocks).
 */
#ifndef VERIST_VERIFY_H
#define VERIST_VERIFY_H

#include "postgres.h"

#include "utils/jsonb.h"

#include "canonical.h"

/* The outcome of checking one run. */
typedef struct VeristCheck
{
	bool		any_event;		/* the run has at least one event row */
	int64		checked;		/* events whose hash was recomputed and matched */
	int64		entries;		/* ledger entries recomputed and matched (0.4.0) */
	int32		broken_seq;		/* first event (or entry) that breaks; -1 when intact */
	const char *reason;			/* why it breaks; NULL when intact */
} VeristCheck;

/*
 * The event-chain hashes that the ledger's entries name (their events_seq):
 * filled in while the events are verified, so that each entry's binding to
 * the event chain is checked against recomputed hashes.
 */
typedef struct VeristEventMarks
{
	int			count;
	int32	   *seqs;			/* ascending */
	char		(*hashes)[VERIST_HASH_HEX_LEN + 1];	/* "" until seen */
} VeristEventMarks;

/* A run's state row, as the ledger check needs it. */
typedef struct VeristRunRow
{
	int32		version;
	Jsonb	   *computed;
	Jsonb	   *overlay;
	int32		ledger_seq;
	char	   *ledger_hash;
} VeristRunRow;

extern void VeristCheckBreak(VeristCheck *check, int32 seq, const char *reason);
extern void VeristLoadEventMarks(text *wf, text *run, VeristEventMarks *marks);
extern void VeristMarkEvent(VeristEventMarks *marks, int32 seq, const char *hash);
extern void VeristCheckLedger(text *wf, text *run, const VeristRunRow *row,
							  const VeristEventMarks *marks, const char *events_genesis,
							  VeristCheck *check);

#endif							/* VERIST_VERIFY_H */
