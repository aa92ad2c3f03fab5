/*
 * errors.c
 *		Errors that more than one SQL function raises, worded once.
 */
#include "postgres.h"

#include "utils/builtins.h"

#include "counters.h"
#include "errors.h"

/* Raise not_found for a run: no state row (and, where it matters, no events). */
void
VeristRaiseRunMissing(text *workflow_id, text *run_id, const char *hint)
{
	ereport(ERROR,
			(VeristErrcode(ERRCODE_VERIST_NOT_FOUND),
			 errmsg("run \"%s\" of workflow \"%s\" does not exist",
					text_to_cstring(run_id), text_to_cstring(workflow_id)),
			 hint ? errhint("%s", hint) : 0));
	pg_unreachable();
}
