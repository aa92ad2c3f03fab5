/*
 * commit.c
 *		verist_commit: one step of a run, all or nothing (README "The commit").
 *
 * A commit first validates everything and computes every dedupe key in
 * memory, so bad input fails before any write.  Then it runs one statement per
 * table, each prepared once per backend:
 *
 *   1. verist_state: an INSERT (create; a duplicate primary key is
 *      run_exists) or a version-checked UPDATE (update); the row lock this
 *      takes serialises commits to the same run;
 *   2. verist_blocks: the review/suspend gate, if any, inserted with
 *      ON CONFLICT on the partial unique index of active blocks, so two
 *      concurrent gates cannot both land;
 *   3. verist_events: all events in one INSERT ... SELECT FROM unnest(arrays);
 *   4. verist_outbox: all commands in one INSERT; a duplicate dedupe key is
 *      command_exists.
 *
 * A conflict found by a statement raises an error, which aborts the whole
 * call: nothing written by the earlier statements survives.
 *
 * From 0.2.0 on (SQL verist_commit bound to verist_commit_chain) events are
 * hash-chained per run (chain.c).  Each event's canonical content is laid out
 * in memory, split at its sequence number.  A create chains from the run's
 * genesis; an update moves the chain head in its version-checked UPDATE,
 * through verist_chain_extend, which reads the old head, hashes the events
 * onto it and hands the hashes back: a commit reads nothing extra to extend
 * the chain.  The 0.1.0 entry point (verist_commit) keeps 0.1.0's tables.
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

#include "args.h"
#include "canonical.h"
#include "chain.h"
#include "errors.h"
#include "events.h"
#include "jsonb_util.h"
#include "outbox.h"
#include "plans.h"
#include "shapes.h"
#include "verist.h"

/* The events of a commit, as parallel arrays for one INSERT. */
typedef struct CommitEvents
{
	int			count;
	text	  **type_texts;		/* each event's type */
	JsonbContainer **payload_roots; /* each payload, NULL for null */
	JsonbContainer **trace_roots;	/* each stored llmTrace, NULL for null */
	Datum		types;			/* text[] */
	Datum		payloads;		/* jsonb[] */
	Datum		traces;			/* jsonb[] */

	/* the hash chain (0.2.0) */
	VeristChainParts *parts;	/* each event's content, split at its seq */
	char		(*hash_hex)[VERIST_HASH_HEX_LEN + 1];	/* once the head is known */
	int32		base_seq;		/* the head's seq before: events get base + 1 ... */
	Datum		hashes;			/* hash_hex as text[], for the INSERT */
} CommitEvents;

/* The commands of a commit, routed. */
typedef struct CommitCommands
{
	/* outbox rows to insert */
	int			count;
	Datum		commands;		/* jsonb[] */
	Datum		keys;			/* text[] */
	char	  **key_strings;	/* the same keys, for messages */
	int		   *indexes;		/* each row's index in the commands argument */
	const char *status;			/* "pending" or "deferred" */

	/* the blocking command, if any */
	JsonbContainer *block;
	VeristCommandKind block_kind;
} CommitCommands;

static VeristQuery state_create = {
	"INSERT INTO @extschema@.verist_state AS s"
	" (workflow_id, run_id, version, computed, overlay, created_at, updated_at)"
	" VALUES ($1, $2, 1, $3, '{}'::pg_catalog.jsonb, pg_catalog.now(), pg_catalog.now())"
	" RETURNING s.*",
	3, {TEXTOID, TEXTOID, JSONBOID}
};

static VeristQuery state_update = {
	"UPDATE @extschema@.verist_state AS s"
	" SET version = s.version OPERATOR(pg_catalog.+) 1,"
	" computed = s.computed OPERATOR(pg_catalog.||) $4,"
	" updated_at = pg_catalog.now()"
	" WHERE s.workflow_id OPERATOR(pg_catalog.=) $1"
	" AND s.run_id OPERATOR(pg_catalog.=) $2"
	" AND s.version OPERATOR(pg_catalog.=) $3"
	" RETURNING s.*",
	4, {TEXTOID, TEXTOID, INT4OID, JSONBOID}
};

static VeristQuery state_version = {
	"SELECT s.version FROM @extschema@.verist_state AS s"
	" WHERE s.workflow_id OPERATOR(pg_catalog.=) $1"
	" AND s.run_id OPERATOR(pg_catalog.=) $2",
	2, {TEXTOID, TEXTOID}
};

/* 0.2.0: the state statements with the chain head, and the head itself. */
static VeristQuery state_create_chain = {
	"INSERT INTO @extschema@.verist_state AS s"
	" (workflow_id, run_id, version, computed, overlay, created_at, updated_at,"
	"  chain_seq, chain_hash)"
	" VALUES ($1, $2, 1, $3, '{}'::pg_catalog.jsonb, pg_catalog.now(), pg_catalog.now(), $4, $5)"
	" RETURNING s.*",
	5, {TEXTOID, TEXTOID, JSONBOID, INT4OID, TEXTOID}
};

/* The chain head moves in the same UPDATE: VeristUpdateWithChain (chain.c). */
static VeristQuery state_update_chain = {
	"UPDATE @extschema@.verist_state AS s"
	" SET version = s.version OPERATOR(pg_catalog.+) 1,"
	" computed = s.computed OPERATOR(pg_catalog.||) $4,"
	" updated_at = pg_catalog.now(),"
	" chain_seq = s.chain_seq OPERATOR(pg_catalog.+) $5,"
	" chain_hash = @extschema@.verist_chain_extend(s.chain_hash, s.chain_seq, $6, $7)"
	" WHERE s.workflow_id OPERATOR(pg_catalog.=) $1"
	" AND s.run_id OPERATOR(pg_catalog.=) $2"
	" AND s.version OPERATOR(pg_catalog.=) $3"
	" RETURNING s.*",
	7, {TEXTOID, TEXTOID, INT4OID, JSONBOID, INT4OID, TEXTARRAYOID, TEXTARRAYOID}
};

static VeristQuery block_insert = {
	"INSERT INTO @extschema@.verist_blocks"
	" (workflow_id, run_id, step_id, type, reason, payload, resume_step, created_at)"
	" VALUES ($1, $2, $3, $4, $5, $6, $7, pg_catalog.now())"
	" ON CONFLICT (workflow_id, run_id) WHERE resolved_at IS NULL DO NOTHING",
	7, {TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, JSONBOID, TEXTOID}
};

static VeristQuery events_insert = {
	"INSERT INTO @extschema@.verist_events"
	" (workflow_id, run_id, step_id, type, payload, llm_trace, created_at)"
	" SELECT $1, $2, $3, e.type, e.payload, e.llm_trace, pg_catalog.now()"
	" FROM ROWS FROM (pg_catalog.unnest($4), pg_catalog.unnest($5), pg_catalog.unnest($6))"
	" AS e(type, payload, llm_trace)",
	6, {TEXTOID, TEXTOID, TEXTOID, TEXTARRAYOID, JSONBARRAYOID, JSONBARRAYOID}
};

static VeristQuery events_insert_chain = {
	"INSERT INTO @extschema@.verist_events"
	" (workflow_id, run_id, step_id, type, payload, llm_trace, created_at, seq, hash)"
	" SELECT $1, $2, $3, e.type, e.payload, e.llm_trace, pg_catalog.now(),"
	"        $7 OPERATOR(pg_catalog.+) e.n::pg_catalog.int4, e.hash"
	" FROM ROWS FROM (pg_catalog.unnest($4), pg_catalog.unnest($5), pg_catalog.unnest($6),"
	"                 pg_catalog.unnest($8)) WITH ORDINALITY"
	" AS e(type, payload, llm_trace, hash, n)",
	8, {TEXTOID, TEXTOID, TEXTOID, TEXTARRAYOID, JSONBARRAYOID, JSONBARRAYOID,
	INT4OID, TEXTARRAYOID}
};

/* A jsonb Datum for a field's value, or SQL NULL when absent or JSON null. */
static Datum
FieldJsonb(JsonbValue *v, bool *isnull)
{
	*isnull = (v == NULL || v->type == jbvNull);
	return *isnull ? (Datum) 0 : JsonbPGetDatum(JsonbValueToJsonb(v));
}

/* The root container of a jsonb Datum, or NULL for SQL NULL. */
static JsonbContainer *
DatumRoot(Datum d, bool isnull)
{
	return isnull ? NULL : &DatumGetJsonbP(d)->root;
}

/*
 * Under verist.hash_only, an llmTrace without its raw input and output:
 * rebuild the object with every other key.  Otherwise the trace as given.
 */
static JsonbValue *
StoredTrace(JsonbValue *trace)
{
	JsonbParseState *state = NULL;
	JsonbValue *result = NULL;
	JsonbIterator *it;
	JsonbIteratorToken tok;
	JsonbValue	v;
	bool		skip = false;

	if (!verist_hash_only || trace == NULL || trace->type != jbvBinary ||
		(VeristObjectField(trace->val.binary.data, "input") == NULL &&
		 VeristObjectField(trace->val.binary.data, "output") == NULL))
		return trace;

	it = JsonbIteratorInit(trace->val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok == WJB_KEY)
			skip = (v.val.string.len == 5 && memcmp(v.val.string.val, "input", 5) == 0) ||
				(v.val.string.len == 6 && memcmp(v.val.string.val, "output", 6) == 0);
		if (skip && (tok == WJB_KEY || tok == WJB_VALUE))
			continue;
		/* the push of WJB_END_OBJECT returns the finished object */
		result = pushJsonbValue(&state, tok,
								(tok == WJB_KEY || tok == WJB_VALUE) ? &v : NULL);
	}
	return result;
}

/* Validate the events argument and lay it out as arrays. */
static void
PrepareEvents(Jsonb *events, CommitEvents *ev)
{
	int			count = JsonContainerSize(&events->root);
	int			n = Max(count, 1);
	Datum	   *types = palloc(sizeof(Datum) * n);
	Datum	   *payloads = palloc(sizeof(Datum) * n);
	Datum	   *traces = palloc(sizeof(Datum) * n);
	bool	   *payload_nulls = palloc(sizeof(bool) * n);
	bool	   *trace_nulls = palloc(sizeof(bool) * n);

	ev->type_texts = palloc(sizeof(text *) * n);
	ev->payload_roots = palloc(sizeof(JsonbContainer *) * n);
	ev->trace_roots = palloc(sizeof(JsonbContainer *) * n);
	for (int i = 0; i < count; i++)
	{
		JsonbValue *e = getIthJsonbValueFromContainer(&events->root, i);
		JsonbValue *type;

		VeristValidateEvent(e, i);
		type = VeristObjectField(e->val.binary.data, "type");
		ev->type_texts[i] = cstring_to_text_with_len(type->val.string.val,
													  type->val.string.len);
		types[i] = PointerGetDatum(ev->type_texts[i]);
		payloads[i] = FieldJsonb(VeristObjectField(e->val.binary.data, "payload"),
								 &payload_nulls[i]);
		traces[i] = FieldJsonb(StoredTrace(VeristObjectField(e->val.binary.data, "llmTrace")),
							   &trace_nulls[i]);
		ev->payload_roots[i] = DatumRoot(payloads[i], payload_nulls[i]);
		ev->trace_roots[i] = DatumRoot(traces[i], trace_nulls[i]);
	}

	ev->count = count;
	ev->parts = NULL;
	ev->hash_hex = NULL;
	ev->base_seq = 0;
	ev->hashes = (Datum) 0;		/* set by ChainDone, if chained */
	ev->types = VeristBuildArray(types, NULL, count, TEXTOID);
	ev->payloads = VeristBuildArray(payloads, payload_nulls, count, JSONBOID);
	ev->traces = VeristBuildArray(traces, trace_nulls, count, JSONBOID);
}

/*
 * Lay out each event's canonical content around its sequence number, which
 * only the run's chain head will tell (chain.c).
 */
static void
PrepareChain(text *wf, text *run, text *step, CommitEvents *ev)
{
	VeristChainEvent ce;

	ce.workflow_id = wf;
	ce.run_id = run;
	ce.step_id = step;
	ce.created_at = GetCurrentTransactionStartTimestamp();	/* = now() */
	ev->parts = palloc(sizeof(VeristChainParts) * Max(ev->count, 1));
	ev->hash_hex = palloc(sizeof(*ev->hash_hex) * Max(ev->count, 1));
	for (int i = 0; i < ev->count; i++)
	{
		StringInfoData head;
		StringInfoData tail;

		initStringInfo(&head);
		initStringInfo(&tail);
		ce.type = ev->type_texts[i];
		ce.payload = ev->payload_roots[i];
		ce.trace = ev->trace_roots[i];
		VeristChainEventParts(&ce, &head, &tail);
		ev->parts[i].head = head.data;
		ev->parts[i].headlen = head.len;
		ev->parts[i].tail = tail.data;
		ev->parts[i].taillen = tail.len;
	}
}

/* The hashes are known (hash_hex), after base_seq: make the text[] for the INSERT. */
static void
ChainDone(CommitEvents *ev, int32 base_seq)
{
	Datum	   *hashes = palloc(sizeof(Datum) * Max(ev->count, 1));

	for (int i = 0; i < ev->count; i++)
		hashes[i] = PointerGetDatum(cstring_to_text_with_len(ev->hash_hex[i],
															 VERIST_HASH_HEX_LEN));
	ev->base_seq = base_seq;
	ev->hashes = VeristBuildArray(hashes, NULL, ev->count, TEXTOID);
}

/* The events' content parts as two text[] (heads, tails), for verist_chain_extend. */
static void
PartsArrays(CommitEvents *ev, Datum *heads, Datum *tails)
{
	int			n = Max(ev->count, 1);
	Datum	   *h = palloc(sizeof(Datum) * n);
	Datum	   *t = palloc(sizeof(Datum) * n);

	for (int i = 0; i < ev->count; i++)
	{
		h[i] = PointerGetDatum(cstring_to_text_with_len(ev->parts[i].head, ev->parts[i].headlen));
		t[i] = PointerGetDatum(cstring_to_text_with_len(ev->parts[i].tail, ev->parts[i].taillen));
	}
	*heads = VeristBuildArray(h, NULL, ev->count, TEXTOID);
	*tails = VeristBuildArray(t, NULL, ev->count, TEXTOID);
}

/* One command's dedupe key and position, for the duplicate check. */
typedef struct KeyedCommand
{
	char	   *key;
	int			index;
} KeyedCommand;

static int
CompareKeyed(const void *a, const void *b)
{
	return strcmp(((const KeyedCommand *) a)->key, ((const KeyedCommand *) b)->key);
}

/* Raise serialization_error if two commands of one commit are identical. */
static void
CheckDuplicates(KeyedCommand *keyed, int count)
{
	KeyedCommand *sorted = palloc(sizeof(KeyedCommand) * Max(count, 1));

	memcpy(sorted, keyed, sizeof(KeyedCommand) * count);
	qsort(sorted, count, sizeof(KeyedCommand), CompareKeyed);
	for (int i = 1; i < count; i++)
	{
		if (strcmp(sorted[i - 1].key, sorted[i].key) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_VERIST_SERIALIZATION),
					 errmsg("duplicate command in one commit"),
					 errdetail("Commands at index %d and %d are identical.",
							   Min(sorted[i - 1].index, sorted[i].index),
							   Max(sorted[i - 1].index, sorted[i].index))));
	}
	pfree(sorted);
}

/*
 * Validate the commands argument, compute their dedupe keys and route them
 * (README "Routing"): find the blocking command, and decide which commands go to
 * the outbox with which status.
 */
static void
PrepareCommands(Jsonb *commands, const char *wf, const char *run, const char *step,
				CommitCommands *cmds, pg_cryptohash_ctx *sha)
{
	int			count = JsonContainerSize(&commands->root);
	KeyedCommand *keyed = palloc(sizeof(KeyedCommand) * Max(count, 1));
	Datum	   *values = palloc(sizeof(Datum) * Max(count, 1));
	Datum	   *keys = palloc(sizeof(Datum) * Max(count, 1));
	JsonbValue **elements = palloc(sizeof(JsonbValue *) * Max(count, 1));
	VeristCommandKind *kinds = palloc(sizeof(VeristCommandKind) * Max(count, 1));
	int			block_index = -1;
	int			n = 0;

	memset(cmds, 0, sizeof(*cmds));
	for (int i = 0; i < count; i++)
	{
		elements[i] = getIthJsonbValueFromContainer(&commands->root, i);
		kinds[i] = VeristValidateCommand(elements[i], i);
		if (kinds[i] != VERIST_CMD_PLAIN)
		{
			if (block_index >= 0)
				ereport(ERROR,
						(errcode(ERRCODE_VERIST_SERIALIZATION),
						 errmsg("more than one blocking command in one commit"),
						 errdetail("Commands at index %d and %d are both review or suspend.",
								   block_index, i),
						 errhint("A step may emit at most one review or suspend command.")));
			block_index = i;
		}
		keyed[i].key = VeristDedupeKey(wf, run, step, elements[i]->val.binary.data, sha);
		keyed[i].index = i;
	}
	CheckDuplicates(keyed, count);

	if (block_index >= 0)
	{
		cmds->block = elements[block_index]->val.binary.data;
		cmds->block_kind = kinds[block_index];
	}
	cmds->status = (block_index >= 0) ? "deferred" : "pending";

	/* A suspend discards the step's other commands: the run pauses. */
	cmds->key_strings = palloc(sizeof(char *) * Max(count, 1));
	cmds->indexes = palloc(sizeof(int) * Max(count, 1));
	if (cmds->block_kind != VERIST_CMD_SUSPEND)
	{
		for (int i = 0; i < count; i++)
		{
			if (i == block_index)
				continue;
			values[n] = JsonbPGetDatum(JsonbValueToJsonb(elements[i]));
			keys[n] = CStringGetTextDatum(keyed[i].key);
			cmds->key_strings[n] = keyed[i].key;
			cmds->indexes[n] = i;
			n++;
		}
	}
	cmds->count = n;
	cmds->commands = VeristBuildArray(values, NULL, n, JSONBOID);
	cmds->keys = VeristBuildArray(keys, NULL, n, TEXTOID);
}

/* A commit: its arguments and what was prepared from them. */
typedef struct Commit
{
	text	   *wf;
	text	   *run;
	text	   *step;
	int32		expected;
	Jsonb	   *output;
	bool		chain;			/* 0.2.0: hash-chain the events */
	pg_cryptohash_ctx *sha;		/* one SHA-256 context for all the hashing */
	CommitEvents ev;
	CommitCommands cmds;
} Commit;

/* Raise version_mismatch, naming both versions. */
static void
RaiseVersionMismatch(Commit *c, int32 actual)
{
	ereport(ERROR,
			(errcode(ERRCODE_VERIST_VERSION_MISMATCH),
			 errmsg("version mismatch for run \"%s\" of workflow \"%s\": expected %d, found %d",
					text_to_cstring(c->run), text_to_cstring(c->wf), c->expected, actual),
			 errhint("Load the run again and retry the step against its current version.")));
}

/* No row moved: tell a stale version from a missing run, and raise. */
static void
RaiseNotMoved(Commit *c)
{
	Datum		ids[2] = {PointerGetDatum(c->wf), PointerGetDatum(c->run)};
	bool		isnull;

	if (VeristExecute(&state_version, ids, NULL, false, 1) == 0)
		VeristRaiseRunMissing(c->wf, c->run,
							  "Create a run by committing with expected version 0.");
	RaiseVersionMismatch(c, DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0],
														SPI_tuptable->tupdesc, 1, &isnull)));
}

/* A duplicate primary key on create: the run exists. */
static void
RaiseRunExists(const char *detail, void *arg)
{
	Commit	   *c = (Commit *) arg;

	ereport(ERROR,
			(errcode(ERRCODE_VERIST_RUN_EXISTS),
			 errmsg("run \"%s\" of workflow \"%s\" already exists",
					text_to_cstring(c->run), text_to_cstring(c->wf)),
			 errhint("Commit with the run's current version to update it.")));
}

/*
 * Create the run, or raise run_exists; return the new state row.  Two
 * sessions racing to create one run meet at the primary key: the second waits
 * for the first, then gets run_exists if it committed.
 */
static HeapTuple
CreateState(Commit *c)
{
	Datum		values[5] = {PointerGetDatum(c->wf), PointerGetDatum(c->run),
	JsonbPGetDatum(c->output)};
	VeristQuery *query = &state_create;

	if (c->chain)
	{
		char		genesis[VERIST_HASH_HEX_LEN + 1];
		const char *head = genesis;

		VeristChainGenesis(c->wf, c->run, genesis, c->sha);
		if (c->ev.count > 0)
		{
			VeristChainHashParts(genesis, 1, c->ev.count, c->ev.parts, c->ev.hash_hex, c->sha);
			ChainDone(&c->ev, 0);
			head = c->ev.hash_hex[c->ev.count - 1];
		}
		values[3] = Int32GetDatum(c->ev.count);
		values[4] = PointerGetDatum(cstring_to_text_with_len(head, VERIST_HASH_HEX_LEN));
		query = &state_create_chain;
	}
	if (VeristExecuteInsert(query, values, NULL, "verist_state_pkey", RaiseRunExists, c) != 1)
		elog(ERROR, "verist_state insert wrote no row");
	return SPI_tuptable->vals[0];
}

/*
 * Advance the run from expected to expected + 1, merge the output and (with
 * chained events) move the chain head; raise version_mismatch or not_found
 * when no row moved.
 */
static HeapTuple
UpdateState(Commit *c)
{
	Datum		values[7] = {PointerGetDatum(c->wf), PointerGetDatum(c->run),
	Int32GetDatum(c->expected), JsonbPGetDatum(c->output)};
	uint64		moved;

	if (c->chain && c->ev.count > 0)
	{
		values[4] = Int32GetDatum(c->ev.count);
		PartsArrays(&c->ev, &values[5], &values[6]);
		moved = VeristUpdateWithChain(&state_update_chain, values, c->ev.hash_hex, c->ev.count);
		if (moved == 1)
		{
			bool		isnull;
			int32		head_seq = DatumGetInt32(
				SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
							  SPI_fnumber(SPI_tuptable->tupdesc, "chain_seq"), &isnull));

			ChainDone(&c->ev, head_seq - c->ev.count);
		}
	}
	else
		moved = VeristExecute(&state_update, values, NULL, false, 0);

	if (moved != 1)
		RaiseNotMoved(c);
	return SPI_tuptable->vals[0];
}

/* A command's text field as a text Datum, or SQL NULL when absent. */
static Datum
FieldText(JsonbContainer *command, const char *key, text *fallback, char *isnull)
{
	JsonbValue *v = VeristObjectField(command, key);

	if (v != NULL && v->type == jbvString)
	{
		*isnull = ' ';
		return PointerGetDatum(cstring_to_text_with_len(v->val.string.val,
														v->val.string.len));
	}
	*isnull = fallback ? ' ' : 'n';
	return PointerGetDatum(fallback);
}

/* Insert the commit's review or suspend gate, or raise active_block. */
static void
InsertBlock(text *wf, text *run, text *step, CommitCommands *cmds)
{
	bool		suspend = (cmds->block_kind == VERIST_CMD_SUSPEND);
	Datum		values[7];
	char		nulls[7] = "       ";
	bool		payload_null;

	values[0] = PointerGetDatum(wf);
	values[1] = PointerGetDatum(run);
	values[2] = PointerGetDatum(step);
	values[3] = CStringGetTextDatum(suspend ? "suspend" : "review");
	values[4] = FieldText(cmds->block, "reason", NULL, &nulls[4]);
	values[5] = FieldJsonb(VeristObjectField(cmds->block,
											 suspend ? "checkpoint" : "payload"),
						   &payload_null);
	nulls[5] = payload_null ? 'n' : ' ';
	if (suspend)
		values[6] = FieldText(cmds->block, "resumeStep", step, &nulls[6]);
	else
	{
		values[6] = (Datum) 0;
		nulls[6] = 'n';
	}

	if (VeristExecute(&block_insert, values, nulls, false, 0) == 1)
		return;

	ereport(ERROR,
			(errcode(ERRCODE_VERIST_ACTIVE_BLOCK),
			 errmsg("run \"%s\" of workflow \"%s\" already has an active block",
					text_to_cstring(run), text_to_cstring(wf)),
			 errdetail("A run has at most one unresolved review or suspend block."),
			 errhint("Resolve the active block with verist_resolve_block first.")));
}

/* Insert the events, in array order (with their chain from 0.2.0 on). */
static void
InsertEvents(Commit *c)
{
	CommitEvents *ev = &c->ev;
	Datum		values[8] = {PointerGetDatum(c->wf), PointerGetDatum(c->run),
		PointerGetDatum(c->step), ev->types, ev->payloads, ev->traces,
		Int32GetDatum(ev->base_seq), ev->hashes};
	uint64		inserted;

	if (c->chain)
	{
		VeristEventsWriterFloor();
		inserted = VeristExecute(&events_insert_chain, values, NULL, false, 0);
	}
	else
		inserted = VeristExecute(&events_insert, values, NULL, false, 0);
	if (inserted != (uint64) ev->count)
		elog(ERROR, "verist_events insert wrote fewer rows than given");
}

/*
 * A dedupe key already in the outbox: name the command, found by its key in
 * the violation's DETAIL ("Key (dedupe_key)=(<key>) already exists.").
 */
static void
RaiseCommandExists(const char *detail, void *arg)
{
	CommitCommands *cmds = (CommitCommands *) arg;
	int			i = 0;

	while (i < cmds->count - 1 &&
		   (detail == NULL || strstr(detail, cmds->key_strings[i]) == NULL))
		i++;
	ereport(ERROR,
			(errcode(ERRCODE_VERIST_COMMAND_EXISTS),
			 errmsg("command at index %d already exists in the outbox", cmds->indexes[i]),
			 errdetail("Dedupe key %s is already present.", cmds->key_strings[i])));
}

/* Insert the commands into the outbox, or raise command_exists. */
static void
InsertCommands(text *wf, text *run, text *step, CommitCommands *cmds)
{
	if (VeristInsertOutbox(wf, run, step, cmds->commands, cmds->keys, cmds->status,
						   RaiseCommandExists, cmds) != (uint64) cmds->count)
		elog(ERROR, "verist_outbox insert wrote fewer rows than given");
	if (cmds->block == NULL)	/* pending, not deferred */
		VeristNotifyPending(wf);
}

/*
 * The commit of README "The commit", for both entry points: validate and prepare
 * everything, then write state, block, events and commands.
 */
static Datum
CommitStep(FunctionCallInfo fcinfo, bool chain)
{
	Commit		c;
	Datum		result;

	c.chain = chain;
	c.wf = VeristIdArg(fcinfo, 0, "workflow_id");
	c.run = VeristIdArg(fcinfo, 1, "run_id");
	c.step = VeristIdArg(fcinfo, 2, "step_id");
	VeristRequireArg(fcinfo, 3, "expected_version");
	c.expected = PG_GETARG_INT32(3);
	if (c.expected < 0)
		ereport(ERROR,
				(errcode(ERRCODE_VERIST_SERIALIZATION),
				 errmsg("argument \"expected_version\" must not be negative"),
				 errdetail("The value given is %d.", c.expected),
				 errhint("Use 0 to create a run, or the version it was loaded at.")));
	c.output = VeristObjectArg(fcinfo, 4, "output");
	c.sha = pg_cryptohash_create(PG_SHA256);	/* freed at the end, or by abort */
	PrepareEvents(VeristArrayArg(fcinfo, 5, "events"), &c.ev);
	if (chain && c.ev.count > 0)
		PrepareChain(c.wf, c.run, c.step, &c.ev);
	PrepareCommands(VeristArrayArg(fcinfo, 6, "commands"),
					text_to_cstring(c.wf), text_to_cstring(c.run), text_to_cstring(c.step),
					&c.cmds, c.sha);

	VeristConnect(fcinfo);
	result = VeristReturnRow(fcinfo, c.expected == 0 ? CreateState(&c) : UpdateState(&c));
	if (c.cmds.block != NULL)
		InsertBlock(c.wf, c.run, c.step, &c.cmds);
	if (c.ev.count > 0)
		InsertEvents(&c);
	if (c.cmds.count > 0)
		InsertCommands(c.wf, c.run, c.step, &c.cmds);
	VeristFinish();
	pg_cryptohash_free(c.sha);
	PG_RETURN_DATUM(result);
}

PG_FUNCTION_INFO_V1(verist_commit);

/*
 * SQL (0.1.0): verist_commit(workflow_id, run_id, step_id, expected_version,
 *							  output, events, commands) returns verist_state
 */
Datum
verist_commit(PG_FUNCTION_ARGS)
{
	return CommitStep(fcinfo, false);
}

PG_FUNCTION_INFO_V1(verist_commit_chain);

/* SQL (0.2.0 on): verist_commit, with the events hash-chained per run */
Datum
verist_commit_chain(PG_FUNCTION_ARGS)
{
	return CommitStep(fcinfo, true);
}
