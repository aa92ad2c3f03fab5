/*
 * verist.c
 *		Module entry point of the verist extension.
 *
 * verist keeps the whole storage contract of a Verist workflow in the
 * database: one SQL call commits a step's output, its events and its commands.
 * The work is split by concern: commit.c (the commit), state.c (reading runs
 * and overlays), blocks.c (review/suspend gates), outbox.c (dispatch),
 * canonical.c (canonical JSON and dedupe keys), validate.c (input shapes),
 * chain.c (the hash chain of the audit log), events.c (the append-only
 * guard and gap-free reading) and plans.c (SPI statements).
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/guc.h"

#include "verist.h"

PG_MODULE_MAGIC;

/* verist.hash_only: drop llmTrace input and output before storing events. */
bool		verist_hash_only = false;

/* verist.notify: NOTIFY verist_outbox when commands become pending. */
bool		verist_notify = false;

void		_PG_init(void);

/* Module load: define settings, set up caches. */
void
_PG_init(void)
{
	/*
	 * Superuser-only (PGC_SUSET), so that a deployment which sets it per
	 * database or role (ALTER DATABASE / ALTER ROLE ... SET) cannot have it
	 * switched off by the application sessions it is meant to constrain.
	 */
	DefineCustomBoolVariable("verist.hash_only",
							 "Drops the input and output of LLM traces before events are stored.",
							 "The hashes of a trace stay mandatory; only raw prompts and completions are dropped.",
							 &verist_hash_only,
							 false,
							 PGC_SUSET,
							 0,
							 NULL, NULL, NULL);
	/* Off by default: notifying commits serialise at commit (README "Wake-ups"). */
	DefineCustomBoolVariable("verist.notify",
							 "Sends NOTIFY verist_outbox when a transaction makes outbox commands pending.",
							 "The payload is the workflow id; dispatchers LISTEN instead of polling.",
							 &verist_notify,
							 false,
							 PGC_USERSET,
							 0,
							 NULL, NULL, NULL);
	MarkGUCPrefixReserved("verist");

	VeristPlansInit();
}
