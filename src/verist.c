/*
 * verist.c
 *		Module entry point of the verist extension.
 *
 * verist keeps the whole storage contract of a Verist workflow in the
 * database: one SQL call commits a step's output, its events and its commands.
 * The work is split by concern; README "Layout" names each file's job and
 * the way the dependencies run.
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/guc.h"

#include "counters.h"
#include "plans.h"
#include "rowinsert.h"
#include "verist.h"

PG_MODULE_MAGIC;

/* verist.hash_only: drop llmTrace input and output before storing events. */
bool		verist_hash_only = false;

/* verist.notify: NOTIFY verist_outbox when commands become pending. */
bool		verist_notify = false;

/* verist.notify_payload: what a wake-up names (nothing by default). */
int			verist_notify_payload = VERIST_NOTIFY_PAYLOAD_NONE;

static const struct config_enum_entry notify_payload_options[] = {
	{"none", VERIST_NOTIFY_PAYLOAD_NONE, false},
	{"workflow_id", VERIST_NOTIFY_PAYLOAD_WORKFLOW_ID, false},
	{NULL, 0, false}
};

/* verist.actor: the application's actor, recorded with every ledger entry. */
char	   *verist_actor = NULL;

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
							 "Dispatchers LISTEN instead of polling; verist.notify_payload says what a wake-up names.",
							 &verist_notify,
							 false,
							 PGC_USERSET,
							 0,
							 NULL, NULL, NULL);
	/*
	 * LISTEN needs no privilege: any role that can connect hears every
	 * wake-up.  Naming the workflow is therefore the superuser's decision
	 * (PGC_SUSET), per database or role.
	 */
	DefineCustomEnumVariable("verist.notify_payload",
							 "What a verist_outbox wake-up carries as its payload.",
							 "none (the default): an empty payload; workflow_id: the workflow id, "
							 "which every role that can connect may LISTEN to.",
							 &verist_notify_payload,
							 VERIST_NOTIFY_PAYLOAD_NONE,
							 notify_payload_options,
							 PGC_SUSET,
							 0,
							 NULL, NULL, NULL);
	/*
	 * Any session may say who acts for it (SET LOCAL for one transaction):
	 * the ledger records it beside the database roles, which it cannot
	 * change, so a false actor is still an attributable one.
	 */
	DefineCustomStringVariable("verist.actor",
							   "The application-level actor recorded with each ledger entry.",
							   "Set it per transaction (SET LOCAL verist.actor = 'alice@example.com'); empty means none.",
							   &verist_actor,
							   "",
							   PGC_USERSET,
							   0,
							   NULL, NULL, NULL);
	/*
	 * Superuser-only: an application session must not be able to hide what
	 * it does from the operator's counters.  Off is for measuring their cost.
	 */
	DefineCustomBoolVariable("verist.counters",
							 "Counts commits, refusals and dispatch work in shared memory.",
							 "Needs verist in shared_preload_libraries; see the verist_counters view.",
							 &verist_counters,
							 true,
							 PGC_SUSET,
							 0,
							 NULL, NULL, NULL);
	MarkGUCPrefixReserved("verist");

	VeristCountersInit();

	VeristPlansInit();
	VeristRowInsertInit();
}
