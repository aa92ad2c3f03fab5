/*
 * outbox.c
 *		Putting commands into the transactional outbox, and waking the
 *		dispatchers that take them out: what a commit and a block's
 *		resolution share.  Leasing and finalising are dispatch.c's.
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/async.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "outbox.h"
#include "plans.h"
#include "rowinsert.h"
#include "verist.h"

static VeristQuery outbox_insert = {
	"INSERT INTO @extschema@.verist_outbox"
	" (workflow_id, run_id, step_id, command, dedupe_key, status, created_at)"
	" SELECT $1, $2, $3, c.command, c.dedupe_key, $6, pg_catalog.now()"
	" FROM ROWS FROM (pg_catalog.unnest($4), pg_catalog.unnest($5)) AS c(command, dedupe_key)",
	6, {TEXTOID, TEXTOID, TEXTOID, JSONBARRAYOID, TEXTARRAYOID, TEXTOID}
};

static VeristQuery outbox_insert_missing = {
	"INSERT INTO @extschema@.verist_outbox"
	" (workflow_id, run_id, step_id, command, dedupe_key, status, created_at)"
	" SELECT $1, $2, $3, c.command, c.dedupe_key, $6, pg_catalog.now()"
	" FROM ROWS FROM (pg_catalog.unnest($4), pg_catalog.unnest($5)) AS c(command, dedupe_key)"
	" ON CONFLICT (dedupe_key) DO NOTHING",
	6, {TEXTOID, TEXTOID, TEXTOID, JSONBARRAYOID, TEXTARRAYOID, TEXTOID}
};

/* outbox_insert's columns, for the simple insert path (rowinsert.c) */
static const char *const outbox_columns[] = {
	"workflow_id", "run_id", "step_id", "command", "dedupe_key", "status", "created_at"
};

/* One step's commands: the rows to insert, and outbox_insert's parameters. */
typedef struct OutboxRows
{
	VeristRowInsert ri;
	Datum	   *commands;
	Datum	   *keys;
	int			count;
	Datum		values[6];		/* outbox_insert's $1 .. $6; $4 and $5 only if it runs */
} OutboxRows;

/* outbox_insert, row by row without the statement: the rows inserted. */
static uint64
PutOutboxRows(void *arg)
{
	OutboxRows *o = (OutboxRows *) arg;
	Datum		row[7] = {o->values[0], o->values[1], o->values[2], 0, 0, o->values[5],
	TimestampTzGetDatum(GetCurrentTransactionStartTimestamp())};	/* = now() */
	bool		nulls[7] = {false};

	for (int i = 0; i < o->count; i++)
	{
		row[3] = o->commands[i];
		row[4] = o->keys[i];
		VeristRowInsertPut(&o->ri, row, nulls);
	}
	return o->count;
}

/*
 * Insert commands (jsonb) with their dedupe keys (text) for one step, with
 * the given status; return how many rows went in.  A key already present
 * goes to on_duplicate (which raises), or, when that is NULL, is skipped.
 */
uint64
VeristInsertOutbox(text *workflow_id, text *run_id, text *step_id,
				   Datum *commands, Datum *keys, int count,
				   const char *status, VeristDuplicate on_duplicate, void *arg)
{
	OutboxRows	o = {.commands = commands, .keys = keys, .count = count,
		.values = {PointerGetDatum(workflow_id), PointerGetDatum(run_id),
	PointerGetDatum(step_id), 0, 0, CStringGetTextDatum(status)}};
	uint64		inserted;

	if (on_duplicate != NULL &&
		VeristRowInsertBegin(&o.ri, "verist_outbox", outbox_columns,
							 lengthof(outbox_columns)))
	{
		inserted = VeristCatchDuplicate(PutOutboxRows, &o, "verist_outbox_dedupe_idx",
										on_duplicate, arg);
		VeristRowInsertEnd(&o.ri);
		return inserted;
	}
	/* the statements take the commands and keys as two arrays */
	o.values[3] = VeristBuildArray(commands, NULL, count, JSONBOID);
	o.values[4] = VeristBuildArray(keys, NULL, count, TEXTOID);
	if (on_duplicate == NULL)
		return VeristExecute(&outbox_insert_missing, o.values, NULL, false, 0);
	return VeristExecuteInsert(&outbox_insert, o.values, NULL, "verist_outbox_dedupe_idx",
							   on_duplicate, arg);
}

/*
 * Wake dispatchers: under verist.notify, queue a NOTIFY on channel
 * verist_outbox, by default with an empty payload (verist.notify_payload =
 * workflow_id: the workflow id).  PostgreSQL sends it at commit and folds
 * repeats of one payload within a transaction into one.
 * Off by default: at commit, a notifying transaction takes a cluster-wide
 * lock that serialises all notifying commits (README "Wake-ups").
 */
void
VeristNotifyPending(text *workflow_id)
{
	char	   *payload;

	if (!verist_notify)
		return;
	/*
	 * Any role that can connect may LISTEN: by default the payload names
	 * nothing (and PostgreSQL folds a transaction's wake-ups into one).
	 */
	if (verist_notify_payload != VERIST_NOTIFY_PAYLOAD_WORKFLOW_ID)
	{
		Async_Notify(VERIST_NOTIFY_CHANNEL, "");
		return;
	}
	payload = text_to_cstring(workflow_id);
	/* the payload limit is 8000 bytes: an id too long to fit wakes everyone */
	Async_Notify(VERIST_NOTIFY_CHANNEL, strlen(payload) < 1000 ? payload : "");
}
