/*
 * ledger_check.c
 *		Checking a run's ledger (verist 0.4.0): every entry's hash, its
 *		binding to the event chain, and that the run's state row and blocks
 *		are what replaying the ledger gives.
 *
 * Walks the entries in order with a cursor (memory: one batch, the replayed
 * state and the run's blocks) and records the first break, by entry.  Called
 * by verist_verify_run and verist_verify_all after the event chain checked
 * out (audit.c), which also recomputed the event hashes the entries name.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "compat.h"
#include "history.h"
#include "jsonb_util.h"
#include "ledger.h"
#include "plans.h"
#include "verify.h"

#define LEDGER_FETCH 500		/* entries read per cursor fetch */

/* A block as the ledger says it must be. */
typedef struct ExpectedBlock
{
	int64		id;
	char	   *step_id;
	char	   *type;
	char	   *reason;
	Jsonb	   *payload;		/* NULL: SQL NULL */
	char	   *resume_step;	/* NULL: SQL NULL */
	Jsonb	   *resolution;		/* NULL: unresolved */
	TimestampTz created_at;
	TimestampTz resolved_at;
	int32		created_seq;	/* the entry that created (or adopted) it */
	int32		resolved_seq;	/* the entry that resolved it, or 0 */
} ExpectedBlock;

typedef struct ExpectedBlocks
{
	int			count;
	int			size;
	ExpectedBlock *items;
} ExpectedBlocks;

/* Columns of ledger_entries, by position. */
enum
{
	L_SEQ = 1,
	L_KIND,
	L_VERSION,
	L_STEP_ID,
	L_BLOCK,
	L_CHANGE,
	L_INPUT,
	L_ROLE,
	L_SESSION_ROLE,
	L_ACTOR,
	L_EVENTS_SEQ,
	L_EVENTS_HASH,
	L_CREATED_AT,
	L_HASH
};

static VeristQuery ledger_entries = {
	"SELECT l.seq, l.kind, l.version, l.step_id, l.block, l.change, l.input, l.role,"
	" l.session_role, l.actor, l.events_seq, l.events_hash, l.created_at, l.hash"
	" FROM @extschema@.verist_ledger AS l"
	" WHERE l.workflow_id OPERATOR(pg_catalog.=) $1"
	" AND l.run_id OPERATOR(pg_catalog.=) $2"
	" ORDER BY l.seq",
	2, {TEXTOID, TEXTOID}
};

static VeristQuery ledger_marks = {
	"SELECT DISTINCT l.events_seq FROM @extschema@.verist_ledger AS l"
	" WHERE l.workflow_id OPERATOR(pg_catalog.=) $1"
	" AND l.run_id OPERATOR(pg_catalog.=) $2"
	" ORDER BY 1",
	2, {TEXTOID, TEXTOID}
};

/* Columns of run_blocks, by position. */
enum
{
	B_ID = 1,
	B_STEP_ID,
	B_TYPE,
	B_REASON,
	B_PAYLOAD,
	B_RESUME_STEP,
	B_RESOLUTION,
	B_CREATED_AT,
	B_RESOLVED_AT
};

static VeristQuery run_blocks = {
	"SELECT b.id, b.step_id, b.type, b.reason, b.payload, b.resume_step, b.resolution,"
	" b.created_at, b.resolved_at"
	" FROM @extschema@.verist_blocks AS b"
	" WHERE b.workflow_id OPERATOR(pg_catalog.=) $1"
	" AND b.run_id OPERATOR(pg_catalog.=) $2"
	" ORDER BY b.id",
	2, {TEXTOID, TEXTOID}
};

/* Record the first break of a run, once. */
void
VeristCheckBreak(VeristCheck *check, int32 seq, const char *reason)
{
	if (check->reason == NULL)
	{
		check->broken_seq = seq;
		check->reason = reason;
	}
}

/* Load the event sequence numbers the ledger's entries name. */
void
VeristLoadEventMarks(text *wf, text *run, VeristEventMarks *marks)
{
	Datum		ids[2] = {PointerGetDatum(wf), PointerGetDatum(run)};
	uint64		n = VeristExecute(&ledger_marks, ids, NULL, true, 0);
	bool		isnull;

	marks->count = (int) n;
	marks->seqs = palloc(sizeof(int32) * Max(n, 1));
	marks->hashes = palloc0(sizeof(*marks->hashes) * Max(n, 1));
	for (uint64 i = 0; i < n; i++)
		marks->seqs[i] = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[i],
													 SPI_tuptable->tupdesc, 1, &isnull));
}

/* The slot of an event sequence number among the marks, or -1. */
static int
FindMark(const VeristEventMarks *marks, int32 seq)
{
	int			lo = 0;
	int			hi = marks->count - 1;

	while (lo <= hi)
	{
		int			mid = (lo + hi) / 2;

		if (marks->seqs[mid] == seq)
			return mid;
		if (marks->seqs[mid] < seq)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return -1;
}

/* Note the recomputed hash of event seq, if an entry names it. */
void
VeristMarkEvent(VeristEventMarks *marks, int32 seq, const char *hash)
{
	int			i;

	if (marks == NULL || (i = FindMark(marks, seq)) < 0)
		return;
	memcpy(marks->hashes[i], hash, VERIST_HASH_HEX_LEN + 1);
}

/* A text column as a C string, or NULL. */
static char *
ColumnString(HeapTuple row, TupleDesc desc, int column)
{
	return SPI_getvalue(row, desc, column);
}

/* A jsonb column, copied, or NULL. */
static Jsonb *
ColumnJsonbCopy(HeapTuple row, TupleDesc desc, int column)
{
	bool		isnull;
	Datum		d = SPI_getbinval(row, desc, column, &isnull);

	return isnull ? NULL : DatumGetJsonbPCopy(d);
}

/* A string member of an object, or NULL when absent or not a string. */
static char *
MemberString(JsonbContainer *object, const char *key)
{
	JsonbValue *v = VeristObjectField(object, key);

	if (v == NULL || v->type != jbvString)
		return NULL;
	return pnstrdup(v->val.string.val, v->val.string.len);
}

/* A member of an object as jsonb, or NULL when absent or JSON null. */
static Jsonb *
MemberJsonb(JsonbContainer *object, const char *key)
{
	JsonbValue *v = VeristObjectField(object, key);

	if (v == NULL || v->type == jbvNull)
		return NULL;
	return JsonbValueToJsonb(v);
}

/* A numeric member as int64, or 0 when absent. */
static int64
MemberInt64(JsonbContainer *object, const char *key)
{
	JsonbValue *v = VeristObjectField(object, key);

	if (v == NULL || v->type != jbvNumeric)
		return 0;
	return DatumGetInt64(DirectFunctionCall1(numeric_int8, NumericGetDatum(v->val.numeric)));
}

/* A microseconds-since-1970 member as a timestamp, or 0 when absent. */
static TimestampTz
MemberMicros(JsonbContainer *object, const char *key)
{
	int64		micros = MemberInt64(object, key);

	return micros - (int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * USECS_PER_DAY;
}

/* A new expected block. */
static ExpectedBlock *
AddBlock(ExpectedBlocks *blocks)
{
	if (blocks->count == blocks->size)
	{
		blocks->size = Max(8, blocks->size * 2);
		blocks->items = blocks->items ?
			repalloc(blocks->items, sizeof(ExpectedBlock) * blocks->size) :
			palloc(sizeof(ExpectedBlock) * blocks->size);
	}
	memset(&blocks->items[blocks->count], 0, sizeof(ExpectedBlock));
	return &blocks->items[blocks->count++];
}

/* The expected block with an id, or NULL. */
static ExpectedBlock *
FindBlock(ExpectedBlocks *blocks, int64 id)
{
	for (int i = 0; i < blocks->count; i++)
		if (blocks->items[i].id == id)
			return &blocks->items[i];
	return NULL;
}

/* The block a commit created, as its entry records it. */
static void
ExpectCreatedBlock(ExpectedBlocks *blocks, JsonbContainer *block, const char *step,
				   TimestampTz at, int32 seq)
{
	ExpectedBlock *b = AddBlock(blocks);

	b->id = MemberInt64(block, "id");
	b->step_id = pstrdup(step ? step : "");
	b->type = MemberString(block, "type");
	b->reason = MemberString(block, "reason");
	b->payload = MemberJsonb(block, "payload");
	b->resume_step = MemberString(block, "resumeStep");
	b->created_at = at;
	b->created_seq = seq;
}

/* The blocks an adopt entry found, resolved or not. */
static void
ExpectAdoptedBlocks(ExpectedBlocks *blocks, Jsonb *change, int32 seq)
{
	JsonbValue *list = VeristObjectField(&change->root, "blocks");
	int			n;

	if (list == NULL || list->type != jbvBinary || !JsonContainerIsArray(list->val.binary.data))
		return;
	n = JsonContainerSize(list->val.binary.data);
	for (int i = 0; i < n; i++)
	{
		JsonbValue *item = getIthJsonbValueFromContainer(list->val.binary.data, i);
		JsonbContainer *o;
		ExpectedBlock *b;

		if (item->type != jbvBinary || !JsonContainerIsObject(item->val.binary.data))
			continue;
		o = item->val.binary.data;
		b = AddBlock(blocks);
		b->id = MemberInt64(o, "id");
		b->step_id = MemberString(o, "stepId");
		b->type = MemberString(o, "type");
		b->reason = MemberString(o, "reason");
		b->payload = MemberJsonb(o, "payload");
		b->resume_step = MemberString(o, "resumeStep");
		b->resolution = MemberJsonb(o, "resolution");
		b->created_at = MemberMicros(o, "createdAt");
		if (b->resolution != NULL)
			b->resolved_at = MemberMicros(o, "resolvedAt");
		b->created_seq = seq;
		b->resolved_seq = b->resolution ? seq : 0;
	}
}

/* Are two nullable strings equal? */
static bool
SameString(const char *a, const char *b)
{
	return (a == NULL) ? (b == NULL) : (b != NULL && strcmp(a, b) == 0);
}

/* Are two nullable jsonb values equal? */
static bool
SameJsonb(Jsonb *a, Jsonb *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return DatumGetBool(DirectFunctionCall2(jsonb_eq, JsonbPGetDatum(a), JsonbPGetDatum(b)));
}

/* Compare the run's block rows with the ledger's blocks; record the first difference. */
static void
CheckBlocks(text *wf, text *run, ExpectedBlocks *blocks, int32 head_seq, VeristCheck *check)
{
	Datum		ids[2] = {PointerGetDatum(wf), PointerGetDatum(run)};
	uint64		n = VeristExecute(&run_blocks, ids, NULL, true, 0);
	int			matched = 0;

	for (uint64 i = 0; i < n && check->reason == NULL; i++)
	{
		HeapTuple	row = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		bool		rnull;
		int64		id = DatumGetInt64(SPI_getbinval(row, desc, B_ID, &isnull));
		ExpectedBlock *b = FindBlock(blocks, id);
		TimestampTz created;
		TimestampTz resolved;
		Jsonb	   *resolution;

		if (b == NULL)
		{
			VeristCheckBreak(check, head_seq, "ledger: block not in the ledger");
			break;
		}
		matched++;
		created = DatumGetTimestampTz(SPI_getbinval(row, desc, B_CREATED_AT, &isnull));
		resolved = DatumGetTimestampTz(SPI_getbinval(row, desc, B_RESOLVED_AT, &rnull));
		resolution = ColumnJsonbCopy(row, desc, B_RESOLUTION);
		if (!SameString(ColumnString(row, desc, B_STEP_ID), b->step_id) ||
			!SameString(ColumnString(row, desc, B_TYPE), b->type) ||
			!SameString(ColumnString(row, desc, B_REASON), b->reason) ||
			!SameJsonb(ColumnJsonbCopy(row, desc, B_PAYLOAD), b->payload) ||
			!SameString(ColumnString(row, desc, B_RESUME_STEP), b->resume_step) ||
			created != b->created_at)
			VeristCheckBreak(check, b->created_seq, "ledger: block differs");
		else if (!SameJsonb(resolution, b->resolution) ||
				 rnull != (b->resolution == NULL) ||
				 (!rnull && resolved != b->resolved_at))
			VeristCheckBreak(check, b->resolved_seq ? b->resolved_seq : b->created_seq,
							 "ledger: block resolution differs");
	}
	if (check->reason == NULL && matched < blocks->count)
	{
		for (int i = 0; i < blocks->count; i++)
		{
			bool		found = false;

			for (uint64 j = 0; j < n && !found; j++)
			{
				bool		isnull;

				found = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[j], SPI_tuptable->tupdesc,
													B_ID, &isnull)) == blocks->items[i].id;
			}
			if (!found)
			{
				VeristCheckBreak(check, blocks->items[i].created_seq, "ledger: block missing");
				break;
			}
		}
	}
}

/*
 * Check one entry row against the ledger so far: its number, its hash and
 * its binding to the event chain; then apply it to the replay and the
 * expected blocks.  Returns false at the first break.
 */
static bool
CheckEntryRow(HeapTuple row, TupleDesc desc, text *wf, text *run, char *prev,
			  const VeristEventMarks *marks, const char *events_genesis,
			  VeristReplay *replay, ExpectedBlocks *blocks, MemoryContext run_cxt,
			  VeristCheck *check, pg_cryptohash_ctx *sha)
{
	VeristLedgerEntry e;
	bool		isnull;
	char		hex[VERIST_HASH_HEX_LEN + 1];
	char	   *stored;
	char	   *events_hash;
	int32		events_seq;
	int			mark;
	Jsonb	   *change;
	Jsonb	   *block;
	char	   *step;
	MemoryContext old;

	memset(&e, 0, sizeof(e));
	e.seq = DatumGetInt32(SPI_getbinval(row, desc, L_SEQ, &isnull));
	if (e.seq != replay->seq + 1)
	{
		VeristCheckBreak(check, replay->seq + 1,
						 e.seq > replay->seq + 1 ? "ledger: missing entry" :
						 "ledger: duplicate entry");
		return false;
	}
	e.workflow_id = wf;
	e.run_id = run;
	e.kind = ColumnString(row, desc, L_KIND);
	e.version = DatumGetInt32(SPI_getbinval(row, desc, L_VERSION, &isnull));
	step = ColumnString(row, desc, L_STEP_ID);
	e.step_id = step ? cstring_to_text(step) : NULL;
	change = ColumnJsonbCopy(row, desc, L_CHANGE);
	block = ColumnJsonbCopy(row, desc, L_BLOCK);
	e.change = change ? &change->root : NULL;
	e.block = block ? &block->root : NULL;
	e.input = ColumnString(row, desc, L_INPUT);
	e.role = ColumnString(row, desc, L_ROLE);
	e.session_role = ColumnString(row, desc, L_SESSION_ROLE);
	e.actor = ColumnString(row, desc, L_ACTOR);
	e.created_at = DatumGetTimestampTz(SPI_getbinval(row, desc, L_CREATED_AT, &isnull));
	events_seq = DatumGetInt32(SPI_getbinval(row, desc, L_EVENTS_SEQ, &isnull));
	events_hash = ColumnString(row, desc, L_EVENTS_HASH);
	if (e.kind == NULL || e.role == NULL || e.session_role == NULL || events_hash == NULL ||
		strlen(events_hash) != VERIST_HASH_HEX_LEN)
	{
		VeristCheckBreak(check, e.seq, "ledger: hash mismatch");
		return false;
	}

	VeristLedgerEntryHash(prev, events_hash, &e, hex, sha);
	stored = ColumnString(row, desc, L_HASH);
	if (stored == NULL || strcmp(stored, hex) != 0)
	{
		VeristCheckBreak(check, e.seq, "ledger: hash mismatch");
		return false;
	}
	mark = FindMark(marks, events_seq);
	if (events_seq == 0 ? strcmp(events_hash, events_genesis) != 0 :
		(mark < 0 || strcmp(marks->hashes[mark], events_hash) != 0))
	{
		VeristCheckBreak(check, e.seq, "ledger: events head mismatch");
		return false;
	}
	memcpy(prev, hex, VERIST_HASH_HEX_LEN + 1);
	check->entries++;

	old = MemoryContextSwitchTo(run_cxt);
	if (change != NULL)
		change = DatumGetJsonbPCopy(JsonbPGetDatum(change));
	VeristReplayApply(replay, e.kind, e.version, change);
	replay->seq = e.seq;
	if (strcmp(e.kind, VERIST_ENTRY_ADOPT) == 0 && change != NULL)
		ExpectAdoptedBlocks(blocks, change, e.seq);
	else if (strcmp(e.kind, VERIST_ENTRY_COMMIT) == 0 && block != NULL)
		ExpectCreatedBlock(blocks, &block->root, step, e.created_at, e.seq);
	else if (strcmp(e.kind, VERIST_ENTRY_RESOLVE) == 0 && block != NULL)
	{
		ExpectedBlock *b = FindBlock(blocks, MemberInt64(&block->root, "id"));

		if (b == NULL)
		{
			MemoryContextSwitchTo(old);
			VeristCheckBreak(check, e.seq, "ledger: resolution of an unknown block");
			return false;
		}
		b->resolution = change;
		b->resolved_at = e.created_at;
		b->resolved_seq = e.seq;
	}
	MemoryContextSwitchTo(old);
	return true;
}

/*
 * Check a run's ledger: every entry, then the state row and the blocks
 * against the replay.  Breaks are recorded in check by entry number, with
 * reasons that start "ledger:".
 */
void
VeristCheckLedger(text *wf, text *run, const VeristRunRow *row, const VeristEventMarks *marks,
				  const char *events_genesis, VeristCheck *check)
{
	Datum		ids[2] = {PointerGetDatum(wf), PointerGetDatum(run)};
	MemoryContext run_cxt = CurrentMemoryContext;
	MemoryContext batch_cxt;
	Portal		portal;
	char		prev[VERIST_HASH_HEX_LEN + 1];
	VeristReplay replay;
	ExpectedBlocks blocks = {0, 0, NULL};
	bool		going = true;
	pg_cryptohash_ctx *sha = pg_cryptohash_create(PG_SHA256);

	VeristReplayStart(&replay);
	VeristLedgerGenesis(wf, run, prev, sha);
	batch_cxt = AllocSetContextCreate(CurrentMemoryContext, "verist ledger batch",
									  ALLOCSET_DEFAULT_SIZES);
	portal = SPI_cursor_open(NULL, VeristPlan(&ledger_entries), ids, NULL, true);
	while (going)
	{
		SPI_cursor_fetch(portal, true, LEDGER_FETCH);
		if (SPI_processed == 0)
			break;
		MemoryContextSwitchTo(batch_cxt);
		for (uint64 i = 0; i < SPI_processed && going; i++)
			going = CheckEntryRow(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, wf, run, prev,
								  marks, events_genesis, &replay, &blocks, run_cxt, check,
								  sha);
		MemoryContextSwitchTo(run_cxt);
		MemoryContextReset(batch_cxt);
		SPI_freetuptable(SPI_tuptable);
	}
	SPI_cursor_close(portal);
	MemoryContextDelete(batch_cxt);
	pg_cryptohash_free(sha);
	if (!going)
		return;

	VeristReplayFinish(&replay);
	if (replay.seq == 0)
		VeristCheckBreak(check, 1, "ledger: missing entry");
	else if (row->ledger_seq < replay.seq)
		VeristCheckBreak(check, row->ledger_seq + 1, "ledger: entry beyond ledger head");
	else if (row->ledger_seq > replay.seq)
		VeristCheckBreak(check, replay.seq + 1, "ledger: missing entry");
	else if (strcmp(row->ledger_hash, prev) != 0)
		VeristCheckBreak(check, replay.seq, "ledger: head mismatch");
	else if ((row->version != replay.version ||
			  !SameJsonb(row->computed, replay.computed) ||
			  !SameJsonb(row->overlay, replay.overlay)))
		VeristCheckBreak(check, replay.seq, "ledger: state differs");
	else
		CheckBlocks(wf, run, &blocks, replay.seq, check);
}
