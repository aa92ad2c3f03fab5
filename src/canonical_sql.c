/*
 * canonical_sql.c
 *		The SQL functions over canonical JSON: verist_canonical_json and
 *		verist_dedupe_key.  Pure (IMMUTABLE, no table), open to everyone.
 */
#include "postgres.h"

#include "mb/pg_wchar.h"
#include "utils/builtins.h"

#include "args.h"
#include "canonical.h"

PG_FUNCTION_INFO_V1(verist_canonical_json);

/* SQL: verist_canonical_json(value jsonb) returns text */
Datum
verist_canonical_json(PG_FUNCTION_ARGS)
{
	Jsonb	   *value;
	StringInfoData buf;

	VeristRequireArg(fcinfo, 0, "value");
	value = PG_GETARG_JSONB_P(0);

	initStringInfo(&buf);
	VeristCanonicalText(&buf, &value->root, VERIST_CANON_JS);
	/* The text is UTF-8; hand it back in the database encoding. */
	PG_RETURN_TEXT_P(cstring_to_text(pg_any_to_server(buf.data, buf.len, PG_UTF8)));
}

PG_FUNCTION_INFO_V1(verist_dedupe_key);

/* SQL: verist_dedupe_key(workflow_id, run_id, step_id, command jsonb) returns text */
Datum
verist_dedupe_key(PG_FUNCTION_ARGS)
{
	text	   *wf = VeristTextArg(fcinfo, 0, "workflow_id");
	text	   *run = VeristTextArg(fcinfo, 1, "run_id");
	text	   *step = VeristTextArg(fcinfo, 2, "step_id");
	Jsonb	   *command;

	VeristRequireArg(fcinfo, 3, "command");
	command = PG_GETARG_JSONB_P(3);
	PG_RETURN_TEXT_P(cstring_to_text(VeristDedupeKey(text_to_cstring(wf), text_to_cstring(run),
													 text_to_cstring(step), &command->root,
													 NULL)));
}
