/*
 * ledger.h
 *		The run's ledger (verist 0.4.0): every action that changes a run, one
 *		hash-chained entry each, bound to the run's event chain.
 */
#ifndef VERIST_LEDGER_H
#define VERIST_LEDGER_H

#include "postgres.h"

#include "common/cryptohash.h"
#include "datatype/timestamp.h"
#include "lib/stringinfo.h"
#include "utils/jsonb.h"

#include "canonical.h"

/* What an entry records. */
#define VERIST_ENTRY_COMMIT		"commit"	/* a step: its output (and block) */
#define VERIST_ENTRY_OVERLAY	"overlay"	/* a human correction */
#define VERIST_ENTRY_RESOLVE	"resolve"	/* a block's resolution */
#define VERIST_ENTRY_ADOPT		"adopt"		/* a run as an upgrade to 0.4.0 found it */

/*
 * One entry, as hashed.  seq and version come from the run's row when the
 * entry is appended inside a statement (VeristLedgerParts leaves them out).
 */
typedef struct VeristLedgerEntry
{
	text	   *workflow_id;
	text	   *run_id;
	const char *kind;
	int32		seq;
	int32		version;
	text	   *step_id;		/* NULL: JSON null */
	JsonbContainer *change;		/* NULL: JSON null */
	JsonbContainer *block;		/* NULL: JSON null */
	const char *input;			/* hex digest of a commit's arguments, or NULL */
	const char *role;
	const char *session_role;
	const char *actor;			/* NULL: JSON null */
	TimestampTz created_at;
} VeristLedgerEntry;

/* Who acts: the roles and the application's actor (verist.actor). */
typedef struct VeristWho
{
	const char *role;			/* current_user of the caller */
	const char *session_role;	/* session_user */
	const char *actor;			/* verist.actor, or NULL when empty */
} VeristWho;

extern void VeristWhoIsActing(VeristWho *who);
extern void VeristLedgerGenesis(text *workflow_id, text *run_id, char *hex,
								pg_cryptohash_ctx *ctx);
extern void VeristLedgerParts(const VeristLedgerEntry *entry, StringInfo head, StringInfo tail);
extern void VeristLedgerHashParts(const char *prev, const char *events_head, int32 seq,
								  int32 version, const char *head, int headlen,
								  const char *tail, int taillen, char *hex,
								  pg_cryptohash_ctx *ctx);
extern void VeristLedgerEntryHash(const char *prev, const char *events_head,
								  const VeristLedgerEntry *entry, char *hex,
								  pg_cryptohash_ctx *ctx);

#endif							/* VERIST_LEDGER_H */
