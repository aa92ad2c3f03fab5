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
#include "funcapi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"

#include "args.h"
#include "canonical.h"
#include "chain.h"
#include "commit.h"
#include "counters.h"
#include "errors.h"
#include "events.h"
#include "history.h"
#include "jsonb_util.h"
#include "ledger.h"
#include "outbox.h"
#include "plans.h"
#include "rowinsert.h"
#include "rowupdate.h"
#include "shapes.h"
#include "verist.h"

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

/*
 * 0.4.0: the state statements append the commit's ledger entry in the same
 * statement (a data-modifying CTE), so a commit still runs one statement per
 * table it writes.  Create: ON CONFLICT DO NOTHING, so that a run that
 * exists leaves the transaction usable for looking up a retried commit.
 */
#define LEDGER_COLUMNS \
	"(workflow_id, run_id, seq, kind, version, step_id, block, change, input," \
	" role, session_role, actor, events_seq, events_hash, created_at, hash)"

static VeristQuery state_create_ledger = {
	"WITH s AS ("
	"  INSERT INTO @extschema@.verist_state AS s"
	"  (workflow_id, run_id, version, computed, overlay, created_at, updated_at,"
	"   chain_seq, chain_hash, ledger_seq, ledger_hash)"
	"  VALUES ($1, $2, 1, $3, '{}'::pg_catalog.jsonb, pg_catalog.now(), pg_catalog.now(),"
	"          $4, $5, 1, $6)"
	"  ON CONFLICT DO NOTHING"
	"  RETURNING s.*"
	"), l AS ("
	"  INSERT INTO @extschema@.verist_ledger " LEDGER_COLUMNS
	"  SELECT s.workflow_id, s.run_id, s.ledger_seq, 'commit', s.version, $7, $8, $3, $9,"
	"         $10, $11, $12, s.chain_seq, s.chain_hash, pg_catalog.now(), s.ledger_hash FROM s"
	") SELECT * FROM s",
	12, {TEXTOID, TEXTOID, JSONBOID, INT4OID, TEXTOID, TEXTOID, TEXTOID, JSONBOID, TEXTOID,
	TEXTOID, TEXTOID, TEXTOID}
};

/* Both heads move inside the UPDATE: verist_commit_advance (ledger.c). */
static VeristQuery state_update_ledger = {
	"WITH s AS ("
	"  UPDATE @extschema@.verist_state AS s"
	"  SET version = s.version OPERATOR(pg_catalog.+) 1,"
	"  computed = s.computed OPERATOR(pg_catalog.||) $4,"
	"  updated_at = pg_catalog.now(),"
	"  chain_seq = s.chain_seq OPERATOR(pg_catalog.+) $5,"
	"  ledger_seq = s.ledger_seq OPERATOR(pg_catalog.+) 1,"
	"  (chain_hash, ledger_hash) = (SELECT a.events_hash, a.ledger_hash"
	"     FROM @extschema@.verist_commit_advance(s.chain_hash, s.chain_seq, $6, $7,"
	"          s.ledger_hash, s.ledger_seq, s.version OPERATOR(pg_catalog.+) 1, $8, $9) AS a)"
	"  WHERE s.workflow_id OPERATOR(pg_catalog.=) $1"
	"  AND s.run_id OPERATOR(pg_catalog.=) $2"
	"  AND s.version OPERATOR(pg_catalog.=) $3"
	"  RETURNING s.*"
	"), l AS ("
	"  INSERT INTO @extschema@.verist_ledger " LEDGER_COLUMNS
	"  SELECT s.workflow_id, s.run_id, s.ledger_seq, 'commit', s.version, $10, $11, $4, $12,"
	"         $13, $14, $15, s.chain_seq, s.chain_hash, pg_catalog.now(), s.ledger_hash FROM s"
	") SELECT * FROM s",
	15, {TEXTOID, TEXTOID, INT4OID, JSONBOID, INT4OID, TEXTARRAYOID, TEXTARRAYOID, TEXTOID,
	TEXTOID, TEXTOID, JSONBOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID}
};

/* The digest of the commit that produced a version: to answer a retry. */
static VeristQuery ledger_commit_input = {
	"SELECT l.input FROM @extschema@.verist_ledger AS l"
	" WHERE l.workflow_id OPERATOR(pg_catalog.=) $1"
	" AND l.run_id OPERATOR(pg_catalog.=) $2"
	" AND l.kind OPERATOR(pg_catalog.=) 'commit'"
	" AND l.version OPERATOR(pg_catalog.=) $3",
	3, {TEXTOID, TEXTOID, INT4OID}
};

/* 0.4.0: the block gets the id its ledger entry already names. */
static VeristQuery block_insert_id = {
	"INSERT INTO @extschema@.verist_blocks"
	" (id, workflow_id, run_id, step_id, type, reason, payload, resume_step, created_at)"
	" VALUES ($8, $1, $2, $3, $4, $5, $6, $7, pg_catalog.now())"
	" ON CONFLICT (workflow_id, run_id) WHERE resolved_at IS NULL DO NOTHING",
	8, {TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, JSONBOID, TEXTOID, INT8OID}
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

/* A commit: its arguments and what was prepared from them. */
/* What a version of the SQL function writes. */
typedef enum CommitMode
{
	COMMIT_PLAIN,				/* 0.1.0: state, events, commands */
	COMMIT_CHAIN,				/* 0.2.0 to 0.3.x: events hash-chained per run */
	COMMIT_LEDGER				/* 0.4.0: and a ledger entry; identical retries answered */
} CommitMode;

typedef struct Commit
{
	text	   *wf;
	text	   *run;
	text	   *step;
	int32		expected;
	Jsonb	   *output;
	CommitMode	mode;
	bool		chain;			/* hash-chain the events (CHAIN and LEDGER) */
	pg_cryptohash_ctx *sha;		/* one SHA-256 context for all the hashing */
	CommitEvents ev;
	CommitCommands cmds;

	/* the ledger entry (0.4.0) */
	char		input[VERIST_HASH_HEX_LEN + 1];	/* digest of the arguments */
	VeristWho	who;
	int64		block_id;		/* the block this commit creates, or 0 */
	Jsonb	   *block_entry;	/* that block, as the entry records it */
	StringInfoData entry_head;	/* the entry's content around "at" */
	StringInfoData entry_tail;
	FunctionCallInfo fcinfo;	/* for the result row's type */
	bool		replayed;		/* an identical retry: the stored row, nothing written */
} Commit;

/* Raise version_mismatch, naming both versions. */
static void
RaiseVersionMismatch(Commit *c, int32 actual)
{
	ereport(ERROR,
			(VeristErrcode(ERRCODE_VERIST_VERSION_MISMATCH),
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
			(VeristErrcode(ERRCODE_VERIST_RUN_EXISTS),
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
			VeristChainDone(&c->ev, 0);
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
		VeristPartsArrays(&c->ev, &values[5], &values[6]);
		moved = VeristUpdateWithChain(&state_update_chain, values, NULL, c->ev.hash_hex,
									  c->ev.count);
		if (moved == 1)
		{
			bool		isnull;
			int32		head_seq = DatumGetInt32(
				SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
							  SPI_fnumber(SPI_tuptable->tupdesc, "chain_seq"), &isnull));

			VeristChainDone(&c->ev, head_seq - c->ev.count);
		}
	}
	else
		moved = VeristExecute(&state_update, values, NULL, false, 0);

	if (moved != 1)
		RaiseNotMoved(c);
	return SPI_tuptable->vals[0];
}

/* A C string as a text Datum, or SQL NULL ('n' in *isnull) for NULL. */
static Datum
TextOrNull(const char *s, char *isnull)
{
	*isnull = s ? ' ' : 'n';
	return s ? CStringGetTextDatum(s) : (Datum) 0;
}

/*
 * The commit of a retry: if the commit that produced version expected + 1 had
 * exactly these arguments, the row it returned, rebuilt from the ledger;
 * NULL otherwise (0.4.0).  Nothing is written either way.
 */
static HeapTuple
StoredCommit(Commit *c)
{
	Datum		values[3] = {PointerGetDatum(c->wf), PointerGetDatum(c->run)};
	char	   *input;
	TupleDesc	desc;

	if (c->expected == PG_INT32_MAX)	/* no version follows it */
		return NULL;
	values[2] = Int32GetDatum(c->expected + 1);
	if (VeristExecute(&ledger_commit_input, values, NULL, false, 1) != 1)
		return NULL;
	input = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	if (input == NULL || strcmp(input, c->input) != 0)
		return NULL;
	if (get_call_result_type(c->fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	return VeristStateAfterCommit(c->wf, c->run, c->expected + 1, desc);
}

/* The entry's columns that the statements take as parameters $7.. / $10.. */
static void
EntryParams(Commit *c, Datum *values, char *nulls)
{
	values[0] = PointerGetDatum(c->step);
	values[1] = c->block_entry ? JsonbPGetDatum(c->block_entry) : (Datum) 0;
	nulls[1] = c->block_entry ? ' ' : 'n';
	values[2] = CStringGetTextDatum(c->input);
	values[3] = CStringGetTextDatum(c->who.role);
	values[4] = CStringGetTextDatum(c->who.session_role);
	values[5] = TextOrNull(c->who.actor, &nulls[5]);
}

/* The statement of UpdateStateLedger: the new state row, or NULL if none moved. */
static HeapTuple
UpdateStateStatement(Commit *c)
{
	Datum		values[15];
	char		nulls[16] = "               ";
	bool		isnull;

	values[0] = PointerGetDatum(c->wf);
	values[1] = PointerGetDatum(c->run);
	values[2] = Int32GetDatum(c->expected);
	values[3] = JsonbPGetDatum(c->output);
	values[4] = Int32GetDatum(c->ev.count);
	VeristPartsArrays(&c->ev, &values[5], &values[6]);
	values[7] = PointerGetDatum(cstring_to_text_with_len(c->entry_head.data, c->entry_head.len));
	values[8] = PointerGetDatum(cstring_to_text_with_len(c->entry_tail.data, c->entry_tail.len));
	EntryParams(c, values + 9, nulls + 9);

	if (VeristUpdateWithChain(&state_update_ledger, values, nulls, c->ev.hash_hex,
							  c->ev.count) != 1)
		return NULL;
	VeristChainDone(&c->ev, DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
														SPI_fnumber(SPI_tuptable->tupdesc, "chain_seq"),
														&isnull)) - c->ev.count);
	return SPI_tuptable->vals[0];
}

/* verist_state's key, and the columns a commit moves (statement-free path) */
static const char *const state_key[] = {"workflow_id", "run_id"};

typedef enum StateColumn
{
	SC_VERSION, SC_COMPUTED, SC_UPDATED_AT, SC_CHAIN_SEQ, SC_CHAIN_HASH,
	SC_LEDGER_SEQ, SC_LEDGER_HASH, SC_COUNT
} StateColumn;

static const char *const state_moved[SC_COUNT] = {
	"version", "computed", "updated_at", "chain_seq", "chain_hash", "ledger_seq", "ledger_hash"
};

/* state_update_ledger's entry: verist_ledger's columns, in LEDGER_COLUMNS' order */
static const char *const ledger_columns[] = {
	"workflow_id", "run_id", "seq", "kind", "version", "step_id", "block", "change", "input",
	"role", "session_role", "actor", "events_seq", "events_hash", "created_at", "hash"
};

/* A stored head of one of the run's chains, checked as verist_commit_advance checked it. */
static const char *
StoredHead(TupleTableSlot *row, AttrNumber att, const char *name)
{
	text	   *t = row->tts_isnull[att - 1] ? NULL : DatumGetTextPP(row->tts_values[att - 1]);

	if (t == NULL || !VeristIsHashHex(t))
		ereport(ERROR,
				(VeristErrcode(ERRCODE_VERIST_SERIALIZATION),
				 errmsg("argument \"%s\" must be %d lowercase hex characters",
						name, VERIST_HASH_HEX_LEN)));
	return VARDATA_ANY(t);
}

/*
 * The stored version and sequence numbers, checked for room as the
 * statement checked them: version + 1 in SQL, the two heads'
 * verist_commit_advance (same errors).
 */
static void
StoredCounts(TupleTableSlot *row, const AttrNumber *att, int nevents,
			 int32 *version, int32 *chain_seq, int32 *ledger_seq)
{
	*version = DatumGetInt32(row->tts_values[att[SC_VERSION] - 1]);
	*chain_seq = DatumGetInt32(row->tts_values[att[SC_CHAIN_SEQ] - 1]);
	*ledger_seq = DatumGetInt32(row->tts_values[att[SC_LEDGER_SEQ] - 1]);
	if (*version == PG_INT32_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("integer out of range")));
	if (*chain_seq < 0 || *ledger_seq < 0 || *version < 0)
		ereport(ERROR,
				(VeristErrcode(ERRCODE_VERIST_SERIALIZATION),
				 errmsg("invalid ledger extension"),
				 errdetail("Sequence numbers and versions are not negative.")));
	if (*chain_seq > PG_INT32_MAX - nevents)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("a run can hold at most %d events", PG_INT32_MAX),
				 errdetail("The run holds %d events; %d more do not fit.", *chain_seq, nevents)));
	if (*ledger_seq == PG_INT32_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("a run's ledger can hold at most %d entries", PG_INT32_MAX)));
}

/*
 * The commit's ledger entry, as the state statements' INSERT wrote it, from
 * the new state row's values (in state_moved's order).
 */
static void
PutEntry(Commit *c, VeristRowInsert *li, const Datum *state)
{
	Datum		entry[6];		/* step, block, input, role, session_role, actor */
	char		entry_nulls[7] = "      ";
	Datum		row[16] = {PointerGetDatum(c->wf), PointerGetDatum(c->run),
		state[SC_LEDGER_SEQ], CStringGetTextDatum("commit"), state[SC_VERSION]};
	bool		nulls[16] = {false};

	EntryParams(c, entry, entry_nulls);
	for (int i = 0; i < 6; i++)
	{
		int			col = (i < 2) ? 5 + i : 6 + i;	/* change (7) is the output */

		row[col] = entry[i];
		nulls[col] = (entry_nulls[i] == 'n');
	}
	row[7] = JsonbPGetDatum(c->output);
	row[12] = state[SC_CHAIN_SEQ];
	row[13] = state[SC_CHAIN_HASH];
	row[14] = state[SC_UPDATED_AT]; /* = now() */
	row[15] = state[SC_LEDGER_HASH];
	VeristRowInsertPut(li, row, nulls);
}

/*
 * The new state row from the locked one -- version + 1, the output merged
 * in, both heads moved as verist_commit_advance moved them inside the
 * statement -- written with its ledger entry.
 */
static void
AdvanceRow(Commit *c, VeristRowUpdate *ru, VeristRowInsert *li)
{
	const AttrNumber *att = ru->set;	/* in state_moved's order */
	TupleTableSlot *old = ru->found;
	TupleTableSlot *new = ru->slot;
	int			natts = old->tts_tupleDescriptor->natts;
	int32		version;
	int32		chain_seq;
	int32		ledger_seq;
	const char *events_head = StoredHead(old, att[SC_CHAIN_HASH], "events_hash");
	char		ledger[VERIST_HASH_HEX_LEN + 1];
	Datum		moved[SC_COUNT];

	StoredCounts(old, att, c->ev.count, &version, &chain_seq, &ledger_seq);
	if (c->ev.count > 0)
	{
		VeristChainHashParts(events_head, (int64) chain_seq + 1, c->ev.count, c->ev.parts,
							 c->ev.hash_hex, c->sha);
		VeristChainDone(&c->ev, chain_seq);
		events_head = c->ev.hash_hex[c->ev.count - 1];
	}
	VeristLedgerHashParts(StoredHead(old, att[SC_LEDGER_HASH], "ledger_hash"), events_head,
						  ledger_seq + 1, version + 1, c->entry_head.data, c->entry_head.len,
						  c->entry_tail.data, c->entry_tail.len, ledger, c->sha);

	ExecClearTuple(new);
	memcpy(new->tts_values, old->tts_values, sizeof(Datum) * natts);
	memcpy(new->tts_isnull, old->tts_isnull, sizeof(bool) * natts);
	new->tts_values[att[SC_VERSION] - 1] = Int32GetDatum(version + 1);
	new->tts_values[att[SC_COMPUTED] - 1] =
		DirectFunctionCall2(jsonb_concat, old->tts_values[att[SC_COMPUTED] - 1],
							JsonbPGetDatum(c->output));
	new->tts_values[att[SC_UPDATED_AT] - 1] =
		TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());	/* = now() */
	new->tts_values[att[SC_CHAIN_SEQ] - 1] = Int32GetDatum(chain_seq + c->ev.count);
	new->tts_values[att[SC_CHAIN_HASH] - 1] =
		PointerGetDatum(cstring_to_text_with_len(events_head, VERIST_HASH_HEX_LEN));
	new->tts_values[att[SC_LEDGER_SEQ] - 1] = Int32GetDatum(ledger_seq + 1);
	new->tts_values[att[SC_LEDGER_HASH] - 1] =
		PointerGetDatum(cstring_to_text_with_len(ledger, VERIST_HASH_HEX_LEN));
	for (int i = 0; i < SC_COUNT; i++)
		new->tts_isnull[att[i] - 1] = false;
	VeristRowUpdatePut(ru);
	for (int i = 0; i < SC_COUNT; i++)
		moved[i] = new->tts_values[att[i] - 1];
	PutEntry(c, li, moved);
}

/* Is the row found (or locked) at the version the commit expects? */
static bool
AtExpected(Commit *c, VeristRowUpdate *ru)
{
	AttrNumber	version = ru->set[SC_VERSION];

	return !ru->found->tts_isnull[version - 1] &&
		DatumGetInt32(ru->found->tts_values[version - 1]) == c->expected;
}

/*
 * UpdateStateStatement without the statement (rowupdate.c, rowinsert.c):
 * false if it must run; else *row is the new state row, or NULL if none moved.
 */
static bool
UpdateStateDirect(Commit *c, HeapTuple *row)
{
	Datum		keys[2] = {PointerGetDatum(c->wf), PointerGetDatum(c->run)};
	VeristRowUpdate ru;
	VeristRowInsert li;
	VeristRowLock lock;

	if (!VeristRowUpdateBegin(&ru, "verist_state", state_key, lengthof(state_key),
							  state_moved, SC_COUNT))
		return false;
	if (!VeristRowInsertBegin(&li, "verist_ledger", ledger_columns, lengthof(ledger_columns)))
	{
		VeristRowUpdateEnd(&ru);
		return false;
	}

	*row = NULL;
	if (VeristRowUpdateFind(&ru, keys) && AtExpected(c, &ru) &&
		((lock = VeristRowUpdateLock(&ru)) == VERIST_ROW_LOCKED ||
		 (lock == VERIST_ROW_NEWER && AtExpected(c, &ru))))
	{
		AdvanceRow(c, &ru, &li);
		*row = ExecCopySlotHeapTuple(ru.slot);
	}
	VeristRowInsertEnd(&li);
	VeristRowUpdateEnd(&ru);
	return true;
}

/* The statement of CreateStateLedger: the new state row, or NULL if the run exists. */
static HeapTuple
CreateStateStatement(Commit *c, const Datum *moved)
{
	Datum		values[12] = {PointerGetDatum(c->wf), PointerGetDatum(c->run),
		JsonbPGetDatum(c->output), moved[SC_CHAIN_SEQ], moved[SC_CHAIN_HASH],
	moved[SC_LEDGER_HASH]};
	char		nulls[13] = "            ";

	EntryParams(c, values + 6, nulls + 6);
	if (VeristExecute(&state_create_ledger, values, nulls, false, 0) == 1)
		return SPI_tuptable->vals[0];
	return NULL;
}

/* verist_state's columns as state_create_ledger's INSERT gives them */
static const char *const state_columns[] = {
	"workflow_id", "run_id", "version", "computed", "overlay", "created_at", "updated_at",
	"chain_seq", "chain_hash", "ledger_seq", "ledger_hash"
};

/*
 * state_create_ledger without the statement (rowinsert.c): false if it must
 * run; else *row is the new state row, or NULL if the run exists.  moved
 * holds the new row's values that the ledger entry repeats.
 */
static bool
CreateStateDirect(Commit *c, const Datum *moved, HeapTuple *row)
{
	VeristRowInsert si;
	VeristRowInsert li;
	Datum		values[11] = {PointerGetDatum(c->wf), PointerGetDatum(c->run),
		moved[SC_VERSION], moved[SC_COMPUTED], DirectFunctionCall1(jsonb_in, CStringGetDatum("{}")),
		moved[SC_UPDATED_AT], moved[SC_UPDATED_AT], moved[SC_CHAIN_SEQ], moved[SC_CHAIN_HASH],
	moved[SC_LEDGER_SEQ], moved[SC_LEDGER_HASH]};
	bool		nulls[11] = {false};

	if (!VeristRowInsertBeginUnique(&si, "verist_state", state_columns, lengthof(state_columns)))
		return false;
	if (!VeristRowInsertBegin(&li, "verist_ledger", ledger_columns, lengthof(ledger_columns)))
	{
		VeristRowInsertEnd(&si);
		return false;
	}
	*row = NULL;
	if (VeristRowInsertPutUnique(&si, values, nulls))
	{
		*row = ExecCopySlotHeapTuple(si.slot);
		PutEntry(c, &li, moved);
	}
	VeristRowInsertEnd(&li);
	VeristRowInsertEnd(&si);
	return true;
}

/*
 * 0.4.0: create the run with its first ledger entry, or answer a retry of
 * the commit that created it, or raise run_exists.  All hashes are known
 * here: both chains start from their genesis.
 */
static HeapTuple
CreateStateLedger(Commit *c)
{
	char		genesis[VERIST_HASH_HEX_LEN + 1];
	char		ledger[VERIST_HASH_HEX_LEN + 1];
	const char *events_head = genesis;
	Datum		moved[SC_COUNT];
	HeapTuple	row;

	VeristChainGenesis(c->wf, c->run, genesis, c->sha);
	if (c->ev.count > 0)
	{
		VeristChainHashParts(genesis, 1, c->ev.count, c->ev.parts, c->ev.hash_hex, c->sha);
		VeristChainDone(&c->ev, 0);
		events_head = c->ev.hash_hex[c->ev.count - 1];
	}
	VeristLedgerGenesis(c->wf, c->run, ledger, c->sha);
	VeristLedgerHashParts(ledger, events_head, 1, 1, c->entry_head.data, c->entry_head.len,
						  c->entry_tail.data, c->entry_tail.len, ledger, c->sha);

	moved[SC_VERSION] = Int32GetDatum(1);
	moved[SC_COMPUTED] = JsonbPGetDatum(c->output);
	moved[SC_UPDATED_AT] = TimestampTzGetDatum(GetCurrentTransactionStartTimestamp()); /* = now() */
	moved[SC_CHAIN_SEQ] = Int32GetDatum(c->ev.count);
	moved[SC_CHAIN_HASH] = PointerGetDatum(cstring_to_text_with_len(events_head,
																	VERIST_HASH_HEX_LEN));
	moved[SC_LEDGER_SEQ] = Int32GetDatum(1);
	moved[SC_LEDGER_HASH] = PointerGetDatum(cstring_to_text_with_len(ledger, VERIST_HASH_HEX_LEN));
	if (!CreateStateDirect(c, moved, &row))
		row = CreateStateStatement(c, moved);
	if (row != NULL)
		return row;
	if ((row = StoredCommit(c)) != NULL)
	{
		c->replayed = true;
		return row;
	}
	RaiseRunExists(NULL, c);
	pg_unreachable();
}

/*
 * 0.4.0: advance the run from expected to expected + 1 with its ledger
 * entry, or answer a retry of the commit that did, or raise
 * version_mismatch / not_found.
 */
static HeapTuple
UpdateStateLedger(Commit *c)
{
	HeapTuple	row;

	if (!UpdateStateDirect(c, &row))
		row = UpdateStateStatement(c);
	if (row != NULL)
		return row;
	if ((row = StoredCommit(c)) != NULL)
	{
		c->replayed = true;
		return row;
	}
	RaiseNotMoved(c);
	pg_unreachable();
}

/*
 * 0.4.0: the block this commit creates, as its ledger entry records it (the
 * columns of its verist_blocks row): {"id", "payload", "reason",
 * "resumeStep", "type"}.  Its id is taken now, so that the entry can name it.
 */
static void
PrepareBlockEntry(Commit *c)
{
	bool		suspend = (c->cmds.block_kind == VERIST_CMD_SUSPEND);
	JsonbParseState *state = NULL;
	JsonbValue	v;
	JsonbValue *payload = VeristObjectField(c->cmds.block, suspend ? "checkpoint" : "payload");
	JsonbValue *resume = suspend ? VeristObjectField(c->cmds.block, "resumeStep") : NULL;

	c->block_id = DatumGetInt64(DirectFunctionCall1(nextval_oid,
													ObjectIdGetDatum(VeristRelation("verist_blocks_id_seq"))));
	pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	v.type = jbvNumeric;
	v.val.numeric = DatumGetNumeric(DirectFunctionCall1(int8_numeric, Int64GetDatum(c->block_id)));
	VeristPushMember(&state, "id", &v);
	if (payload == NULL)
	{
		v.type = jbvNull;
		payload = &v;
	}
	VeristPushMember(&state, "payload", payload);
	VeristPushMember(&state, "reason", VeristObjectField(c->cmds.block, "reason"));
	if (resume == NULL && suspend)
	{
		v.type = jbvString;
		v.val.string.val = VARDATA_ANY(c->step);
		v.val.string.len = VARSIZE_ANY_EXHDR(c->step);
		resume = &v;
	}
	else if (resume == NULL)
	{
		v.type = jbvNull;
		resume = &v;
	}
	VeristPushMember(&state, "resumeStep", resume);
	v.type = jbvString;
	v.val.string.val = suspend ? "suspend" : "review";
	v.val.string.len = strlen(v.val.string.val);
	VeristPushMember(&state, "type", &v);
	c->block_entry = JsonbValueToJsonb(pushJsonbValue(&state, WJB_END_OBJECT, NULL));
}

/* 0.4.0: lay out the commit's ledger entry around "at" (its seq and version). */
static void
PrepareEntry(Commit *c, Jsonb *events, Jsonb *commands)
{
	VeristLedgerEntry e;

	VeristCommitInput(c->step, c->expected, c->output, events, commands, c->input);
	VeristWhoIsActing(&c->who);
	memset(&e, 0, sizeof(e));
	e.workflow_id = c->wf;
	e.run_id = c->run;
	e.kind = VERIST_ENTRY_COMMIT;
	e.step_id = c->step;
	e.change = &c->output->root;
	e.block = c->block_entry ? &c->block_entry->root : NULL;
	e.input = c->input;
	e.role = c->who.role;
	e.session_role = c->who.session_role;
	e.actor = c->who.actor;
	e.created_at = GetCurrentTransactionStartTimestamp();	/* = now() */
	initStringInfo(&c->entry_head);
	initStringInfo(&c->entry_tail);
	VeristLedgerParts(&e, &c->entry_head, &c->entry_tail);
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

/*
 * Insert the commit's review or suspend gate (with the id its ledger entry
 * names, from 0.4.0), or raise active_block.
 */
static void
InsertBlock(text *wf, text *run, text *step, CommitCommands *cmds, int64 block_id)
{
	bool		suspend = (cmds->block_kind == VERIST_CMD_SUSPEND);
	Datum		values[8];
	char		nulls[9] = "        ";
	bool		payload_null;

	values[0] = PointerGetDatum(wf);
	values[1] = PointerGetDatum(run);
	values[2] = PointerGetDatum(step);
	values[3] = CStringGetTextDatum(suspend ? "suspend" : "review");
	values[4] = FieldText(cmds->block, "reason", NULL, &nulls[4]);
	values[5] = VeristFieldJsonb(VeristObjectField(cmds->block,
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

	values[7] = Int64GetDatum(block_id);
	if (VeristExecute(block_id ? &block_insert_id : &block_insert, values, nulls, false, 0) == 1)
		return;

	ereport(ERROR,
			(VeristErrcode(ERRCODE_VERIST_ACTIVE_BLOCK),
			 errmsg("run \"%s\" of workflow \"%s\" already has an active block",
					text_to_cstring(run), text_to_cstring(wf)),
			 errdetail("A run has at most one unresolved review or suspend block."),
			 errhint("Resolve the active block with verist_resolve_block first.")));
}

/* events_insert_chain's columns, for the simple insert path (rowinsert.c) */
static const char *const event_columns[] = {
	"workflow_id", "run_id", "step_id", "type", "payload", "llm_trace", "created_at",
	"seq", "hash"
};

/* events_insert_chain, row by row without the statement (rowinsert.c). */
static void
PutEvents(Commit *c, VeristRowInsert *ri)
{
	CommitEvents *ev = &c->ev;
	Datum		row[9] = {PointerGetDatum(c->wf), PointerGetDatum(c->run),
		PointerGetDatum(c->step), 0, 0, 0,
	TimestampTzGetDatum(GetCurrentTransactionStartTimestamp())};	/* = now() */
	bool		nulls[9] = {false};

	for (int i = 0; i < ev->count; i++)
	{
		row[3] = PointerGetDatum(ev->type_texts[i]);
		row[4] = ev->payloads[i];
		nulls[4] = ev->payload_nulls[i];
		row[5] = ev->traces[i];
		nulls[5] = ev->trace_nulls[i];
		row[7] = Int32GetDatum(ev->base_seq + i + 1);
		row[8] = PointerGetDatum(cstring_to_text_with_len(ev->hash_hex[i],
														  VERIST_HASH_HEX_LEN));
		VeristRowInsertPut(ri, row, nulls);
	}
}

/* The INSERT statement of the events: the 0.1.0 entry point's, or when rowinsert.c declines. */
static uint64
ExecuteEventsInsert(Commit *c)
{
	Datum		values[8] = {PointerGetDatum(c->wf), PointerGetDatum(c->run),
	PointerGetDatum(c->step)};

	VeristEventArrays(&c->ev, &values[3], &values[4], &values[5], &values[7]);
	values[6] = Int32GetDatum(c->ev.base_seq);
	return VeristExecute(c->chain ? &events_insert_chain : &events_insert, values, NULL,
						 false, 0);
}

/* Insert the events, in array order (with their chain from 0.2.0 on). */
static void
InsertEvents(Commit *c)
{
	VeristRowInsert ri;
	uint64		inserted;

	if (c->chain)
		VeristEventsWriterFloor();
	if (c->chain && VeristRowInsertBegin(&ri, "verist_events", event_columns,
										 lengthof(event_columns)))
	{
		PutEvents(c, &ri);
		VeristRowInsertEnd(&ri);
		inserted = c->ev.count;
	}
	else
		inserted = ExecuteEventsInsert(c);
	if (inserted != (uint64) c->ev.count)
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
			(VeristErrcode(ERRCODE_VERIST_COMMAND_EXISTS),
			 errmsg("command at index %d already exists in the outbox", cmds->indexes[i]),
			 errdetail("Dedupe key %s is already present.", cmds->key_strings[i])));
}

/* Insert the commands into the outbox, or raise command_exists. */
static void
InsertCommands(text *wf, text *run, text *step, CommitCommands *cmds)
{
	if (VeristInsertOutbox(wf, run, step, cmds->commands, cmds->keys, cmds->count, cmds->status,
						   RaiseCommandExists, cmds) != (uint64) cmds->count)
		elog(ERROR, "verist_outbox insert wrote fewer rows than given");
	if (cmds->block == NULL)	/* pending, not deferred */
		VeristNotifyPending(wf);
}

/*
 * The commit of README "The commit", for every entry point: validate and
 * prepare everything, then write state (and, from 0.4.0, the ledger entry),
 * block, events and commands -- or, for an identical retry of a commit that
 * landed, return its row and write nothing.
 */
static Datum
CommitStep(FunctionCallInfo fcinfo, CommitMode mode)
{
	Commit		c;
	Datum		result;
	Jsonb	   *events;
	Jsonb	   *commands;
	HeapTuple	row;

	memset(&c, 0, sizeof(c));
	c.mode = mode;
	c.chain = (mode != COMMIT_PLAIN);
	c.fcinfo = fcinfo;
	c.wf = VeristIdArg(fcinfo, 0, "workflow_id");
	c.run = VeristIdArg(fcinfo, 1, "run_id");
	c.step = VeristIdArg(fcinfo, 2, "step_id");
	VeristRequireArg(fcinfo, 3, "expected_version");
	c.expected = PG_GETARG_INT32(3);
	if (c.expected < 0)
		ereport(ERROR,
				(VeristErrcode(ERRCODE_VERIST_SERIALIZATION),
				 errmsg("argument \"expected_version\" must not be negative"),
				 errdetail("The value given is %d.", c.expected),
				 errhint("Use 0 to create a run, or the version it was loaded at.")));
	c.output = VeristObjectArg(fcinfo, 4, "output");
	c.sha = pg_cryptohash_create(PG_SHA256);	/* freed at the end, or by abort */
	events = VeristArrayArg(fcinfo, 5, "events");
	commands = VeristArrayArg(fcinfo, 6, "commands");
	VeristPrepareEvents(events, &c.ev);
	if (c.chain && c.ev.count > 0)
		VeristPrepareChain(c.wf, c.run, c.step, &c.ev);
	VeristPrepareCommands(commands, text_to_cstring(c.wf), text_to_cstring(c.run),
						  text_to_cstring(c.step), &c.cmds, c.sha);

	VeristConnect(fcinfo);
	if (mode == COMMIT_LEDGER)
	{
		if (c.cmds.block != NULL)
			PrepareBlockEntry(&c);
		PrepareEntry(&c, events, commands);
		row = (c.expected == 0) ? CreateStateLedger(&c) : UpdateStateLedger(&c);
	}
	else
		row = (c.expected == 0) ? CreateState(&c) : UpdateState(&c);
	result = VeristReturnRow(fcinfo, row);
	/* an identical retry returns the stored row and writes nothing more */
	if (!c.replayed)
	{
		if (c.cmds.block != NULL)
			InsertBlock(c.wf, c.run, c.step, &c.cmds, c.block_id);
		if (c.ev.count > 0)
			InsertEvents(&c);
		if (c.cmds.count > 0)
			InsertCommands(c.wf, c.run, c.step, &c.cmds);
	}
	VeristFinish();
	pg_cryptohash_free(c.sha);
	VeristCount(c.replayed ? VERIST_COUNT_REPLAYS :
				(c.expected == 0 ? VERIST_COUNT_CREATES : VERIST_COUNT_COMMITS), 1);
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
	return CommitStep(fcinfo, COMMIT_PLAIN);
}

PG_FUNCTION_INFO_V1(verist_commit_chain);

/* SQL (0.2.0 to 0.3.x): verist_commit, with the events hash-chained per run */
Datum
verist_commit_chain(PG_FUNCTION_ARGS)
{
	return CommitStep(fcinfo, COMMIT_CHAIN);
}

PG_FUNCTION_INFO_V1(verist_commit_ledger);

/*
 * SQL (0.4.0 on): verist_commit, with a ledger entry for the commit and
 * identical retries answered with the stored result
 */
Datum
verist_commit_ledger(PG_FUNCTION_ARGS)
{
	return CommitStep(fcinfo, COMMIT_LEDGER);
}
