/*
 * history.c
 *		Reading the record of a run (verist 0.4.0): its state at any version
 *		or time, replayed from its ledger (verist_state_at,
 *		verist_state_as_of), and the ledger itself (verist_run_history).
 *
 * Replay starts from nothing -- or from the snapshot of an "adopt" entry,
 * for runs an upgrade found -- and applies each entry in order: a commit
 * merges its output into computed (a run's first commit sets it), an overlay
 * merges its patch into overlay, a resolution changes neither.  It reads the
 * entries with a cursor, so memory holds one batch and the state so far.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "args.h"
#include "compat.h"
#include "counters.h"
#include "errors.h"
#include "history.h"
#include "jsonb_util.h"
#include "ledger.h"
#include "plans.h"

#define HISTORY_FETCH_FIRST 16	/* entries read by a replay's first fetch... */
#define HISTORY_FETCH 500		/* ...growing to this many per fetch */

/* Columns of ledger_replay, by position. */
enum
{
	R_SEQ = 1,
	R_KIND,
	R_VERSION,
	R_CHANGE,
	R_EVENTS_SEQ,
	R_EVENTS_HASH,
	R_CREATED_AT,
	R_HASH
};

static VeristQuery ledger_replay = {
	"SELECT l.seq, l.kind, l.version, l.change, l.events_seq, l.events_hash, l.created_at, l.hash"
	" FROM @extschema@.verist_ledger AS l"
	" WHERE l.workflow_id OPERATOR(pg_catalog.=) $1"
	" AND l.run_id OPERATOR(pg_catalog.=) $2"
	" ORDER BY l.seq",
	2, {TEXTOID, TEXTOID}
};

static VeristQuery ledger_history = {
	"SELECT l.* FROM @extschema@.verist_ledger AS l"
	" WHERE l.workflow_id OPERATOR(pg_catalog.=) $1"
	" AND l.run_id OPERATOR(pg_catalog.=) $2"
	" ORDER BY l.seq",
	2, {TEXTOID, TEXTOID}
};

static VeristQuery state_created = {
	"SELECT s.created_at FROM @extschema@.verist_state AS s"
	" WHERE s.workflow_id OPERATOR(pg_catalog.=) $1"
	" AND s.run_id OPERATOR(pg_catalog.=) $2",
	2, {TEXTOID, TEXTOID}
};

/* Where a replay stops. */
typedef enum StopRule
{
	STOP_AT_VERSION,			/* after the entry that produced a version */
	STOP_BEFORE_VERSION,		/* before the commit that produced a version */
	STOP_AS_OF					/* after the last entry at or before a time */
} StopRule;

/* A replay before its first entry. */
void
VeristReplayStart(VeristReplay *r)
{
	memset(r, 0, sizeof(*r));
	r->first_version = -1;
}

/* An empty JSON object. */
static Jsonb *
EmptyObject(void)
{
	return DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum("{}")));
}

/* A member of an object as a jsonb of its own; an empty object when absent. */
static Jsonb *
MemberJsonb(Jsonb *object, const char *key)
{
	JsonbValue *v = VeristObjectField(&object->root, key);

	if (v == NULL || v->type == jbvNull)
		return EmptyObject();
	return JsonbValueToJsonb(v);
}

/* Apply one entry to the state so far (the README's replay rule). */
void
VeristReplayApply(VeristReplay *r, const char *kind, int32 version, Jsonb *change)
{
	if (strcmp(kind, VERIST_ENTRY_ADOPT) == 0)
	{
		r->computed_parts = list_make1(MemberJsonb(change, "computed"));
		r->overlay_parts = list_make1(MemberJsonb(change, "overlay"));
		r->has_state = true;
	}
	else if (strcmp(kind, VERIST_ENTRY_COMMIT) == 0)
	{
		if (!r->has_state || version == 1)
		{
			r->computed_parts = list_make1(change);
			if (!r->has_state)
				r->overlay_parts = NIL;
			r->has_state = true;
		}
		else
			r->computed_parts = lappend(r->computed_parts, change);
	}
	else if (strcmp(kind, VERIST_ENTRY_OVERLAY) == 0 && r->has_state)
		r->overlay_parts = lappend(r->overlay_parts, change);
	if (r->first_version < 0)
		r->first_version = version;
	r->version = version;
}

/* One top-level member of one of the objects being merged. */
typedef struct MergeItem
{
	const char *key;
	int			keylen;
	int			part;			/* which object: later ones win */
	JsonbValue	value;
} MergeItem;

/* By key, then the latest object first. */
static int
MergeItemCmp(const void *a, const void *b)
{
	const MergeItem *x = (const MergeItem *) a;
	const MergeItem *y = (const MergeItem *) b;
	int			c = memcmp(x->key, y->key, Min(x->keylen, y->keylen));

	if (c == 0 && x->keylen != y->keylen)
		c = (x->keylen < y->keylen) ? -1 : 1;
	if (c == 0 && x->part != y->part)
		c = (x->part > y->part) ? -1 : 1;
	return c;
}

/*
 * parts[0] || parts[1] || ... for objects, in one pass: every member of
 * every object, sorted by key with the latest first, the first of each key
 * kept.  Values are not copied: they point into the parts.
 */
static Jsonb *
MergeObjects(List *parts)
{
	MergeItem  *items;
	int			n = 0;
	int			size = 64;
	int			part = 0;
	ListCell   *lc;
	JsonbParseState *state = NULL;

	if (parts == NIL)
		return EmptyObject();
	if (list_length(parts) == 1)
		return (Jsonb *) linitial(parts);
	items = palloc(sizeof(MergeItem) * size);
	foreach(lc, parts)
	{
		Jsonb	   *jb = (Jsonb *) lfirst(lc);
		JsonbIterator *it;
		JsonbValue	v;
		JsonbIteratorToken tok;

		if (!JB_ROOT_IS_OBJECT(jb))
			elog(ERROR, "a ledger change to merge is not an object");
		it = JsonbIteratorInit(&jb->root);
		while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
		{
			if (tok == WJB_KEY)
			{
				if (n == size)
				{
					size *= 2;
					items = repalloc(items, sizeof(MergeItem) * size);
				}
				items[n].key = v.val.string.val;
				items[n].keylen = v.val.string.len;
				items[n].part = part;
			}
			else if (tok == WJB_VALUE)
				items[n++].value = v;
		}
		part++;
	}
	qsort(items, n, sizeof(MergeItem), MergeItemCmp);

	pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	for (int i = 0; i < n; i++)
	{
		JsonbValue	k;

		if (i > 0 && items[i].keylen == items[i - 1].keylen &&
			memcmp(items[i].key, items[i - 1].key, items[i].keylen) == 0)
			continue;			/* an earlier object's value, overridden */
		k.type = jbvString;
		k.val.string.val = (char *) items[i].key;
		k.val.string.len = items[i].keylen;
		pushJsonbValue(&state, WJB_KEY, &k);
		pushJsonbValue(&state, WJB_VALUE, &items[i].value);
	}
	return JsonbValueToJsonb(pushJsonbValue(&state, WJB_END_OBJECT, NULL));
}

/*
 * Merge what the replay holds into computed and overlay (NULL before a
 * commit), in the current memory context; the parts collapse to the
 * result, so finishing again is cheap.
 */
void
VeristReplayFinish(VeristReplay *r)
{
	if (!r->has_state)
	{
		r->computed = r->overlay = NULL;
		return;
	}
	r->computed = MergeObjects(r->computed_parts);
	r->overlay = MergeObjects(r->overlay_parts);
	r->computed_parts = list_make1(r->computed);
	r->overlay_parts = list_make1(r->overlay);
}

/* Note one entry's own columns as the replay's position. */
static void
NoteEntry(VeristReplay *r, HeapTuple row, TupleDesc desc)
{
	bool		isnull;
	char	   *s;

	r->seq = DatumGetInt32(SPI_getbinval(row, desc, R_SEQ, &isnull));
	r->events_seq = DatumGetInt32(SPI_getbinval(row, desc, R_EVENTS_SEQ, &isnull));
	r->at = DatumGetTimestampTz(SPI_getbinval(row, desc, R_CREATED_AT, &isnull));
	s = SPI_getvalue(row, desc, R_EVENTS_HASH);
	strlcpy(r->events_hash, s ? s : "", sizeof(r->events_hash));
	s = SPI_getvalue(row, desc, R_HASH);
	strlcpy(r->hash, s ? s : "", sizeof(r->hash));
}

/*
 * Replay a run's ledger until the stop rule says so.  Values are allocated in
 * cxt (so that they outlive the cursor's batches).  Returns whether the stop
 * point exists: the entry that produced the version (a commit, or the adopt
 * entry of an upgraded run), or, for a time, any entry at or before it.
 */
static bool
Replay(text *wf, text *run, StopRule rule, int32 version, TimestampTz as_of,
	   VeristReplay *r, MemoryContext cxt)
{
	Datum		ids[2] = {PointerGetDatum(wf), PointerGetDatum(run)};
	Portal		portal;
	bool		done = false;
	bool		reached = false;
	long		fetch = HISTORY_FETCH_FIRST;	/* an early version stops soon */

	VeristReplayStart(r);
	portal = SPI_cursor_open(NULL, VeristPlan(&ledger_replay), ids, NULL, true);
	while (!done)
	{
		SPI_cursor_fetch(portal, true, fetch);
		fetch = Min(fetch * 4, HISTORY_FETCH);
		if (SPI_processed == 0)
			break;
		for (uint64 i = 0; i < SPI_processed && !done; i++)
		{
			HeapTuple	row = SPI_tuptable->vals[i];
			TupleDesc	desc = SPI_tuptable->tupdesc;
			bool		isnull;
			char	   *kind = SPI_getvalue(row, desc, R_KIND);
			int32		v = DatumGetInt32(SPI_getbinval(row, desc, R_VERSION, &isnull));
			TimestampTz at = DatumGetTimestampTz(SPI_getbinval(row, desc, R_CREATED_AT, &isnull));
			Datum		change = SPI_getbinval(row, desc, R_CHANGE, &isnull);
			MemoryContext old;

			if ((rule == STOP_AS_OF && at > as_of) ||
				(rule == STOP_BEFORE_VERSION && v == version &&
				 strcmp(kind, VERIST_ENTRY_COMMIT) == 0))
			{
				if (rule == STOP_BEFORE_VERSION)
					reached = true;
				done = true;
				break;
			}
			old = MemoryContextSwitchTo(cxt);
			VeristReplayApply(r, kind, v,
							  isnull ? NULL : DatumGetJsonbPCopy(change));
			NoteEntry(r, row, desc);
			MemoryContextSwitchTo(old);
			if (rule == STOP_AS_OF)
				reached = true;
			else if (rule == STOP_BEFORE_VERSION)
				done = (v > version);
			else if (v == version &&
					 (strcmp(kind, VERIST_ENTRY_COMMIT) == 0 ||
					  strcmp(kind, VERIST_ENTRY_ADOPT) == 0))
				reached = done = true;
			else if (v > version)
				done = true;
		}
		SPI_freetuptable(SPI_tuptable);
	}
	SPI_cursor_close(portal);
	return reached;
}

/* The result row of verist_state_at and verist_state_as_of. */
static Datum
StateResult(FunctionCallInfo fcinfo, VeristReplay *r)
{
	TupleDesc	desc;
	Datum		values[6];
	bool		nulls[6] = {false, false, false, false, false, false};

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	VeristReplayFinish(r);
	if (r->computed == NULL)	/* before a run's first commit: nothing yet */
		r->computed = EmptyObject();
	if (r->overlay == NULL)
		r->overlay = EmptyObject();
	values[0] = Int32GetDatum(r->version);
	values[1] = JsonbPGetDatum(r->computed);
	values[2] = JsonbPGetDatum(r->overlay);
	values[3] = DirectFunctionCall2(jsonb_concat, JsonbPGetDatum(r->computed),
									JsonbPGetDatum(r->overlay));
	values[4] = Int32GetDatum(r->seq);
	values[5] = TimestampTzGetDatum(r->at);
	nulls[5] = (r->seq == 0);
	return HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(desc), values, nulls));
}

/* Raise not_found for a point of a run's history that the ledger does not hold. */
static void
RaiseNoSuchPoint(text *wf, text *run, const VeristReplay *r, const char *what)
{
	if (r->first_version < 0)
		VeristRaiseRunMissing(wf, run, NULL);
	ereport(ERROR,
			(VeristErrcode(ERRCODE_VERIST_NOT_FOUND),
			 errmsg("run \"%s\" of workflow \"%s\" has no state %s",
					text_to_cstring(run), text_to_cstring(wf), what),
			 r->first_version > 1 ?
			 errdetail("Its ledger starts at version %d, the state an upgrade to 0.4.0 found.",
					   r->first_version) : 0));
}

/*
 * The body of verist_state_at, verist_step_input and verist_state_as_of:
 * replay the run's ledger up to the point the third argument names (a
 * version, or a time for STOP_AS_OF) and return the state found there.
 */
static Datum
StateAtPoint(FunctionCallInfo fcinfo, StopRule rule)
{
	text	   *wf = VeristIdArg(fcinfo, 0, "workflow_id");
	text	   *run = VeristIdArg(fcinfo, 1, "run_id");
	int32		version = 0;
	TimestampTz as_of = 0;
	VeristReplay r;
	bool		found;

	MemoryContext caller = CurrentMemoryContext;

	if (rule == STOP_AS_OF)
	{
		VeristRequireArg(fcinfo, 2, "as_of");
		as_of = PG_GETARG_TIMESTAMPTZ(2);
	}
	else
		version = VeristCountArg(fcinfo, 2, "version");
	VeristConnect(fcinfo);
	found = Replay(wf, run, rule, version, as_of, &r, caller);
	VeristFinish();
	if (!found)
		RaiseNoSuchPoint(wf, run, &r,
						 rule == STOP_AS_OF ? "at that time" :
						 psprintf("%s version %d",
								  rule == STOP_AT_VERSION ? "at" : "before",
								  version));
	if (rule == STOP_BEFORE_VERSION && r.seq == 0)
		r.version = 0;			/* the empty run before its first commit */
	return StateResult(fcinfo, &r);
}

PG_FUNCTION_INFO_V1(verist_state_at);

/*
 * SQL: verist_state_at(workflow_id, run_id, version int, OUT version int,
 *		OUT computed jsonb, OUT overlay jsonb, OUT effective jsonb,
 *		OUT ledger_seq int, OUT at timestamptz)
 *
 * The run as it was right after the commit that produced version: its
 * computed state, its overlay with every correction made before that
 * commit, and the effective state.
 */
Datum
verist_state_at(PG_FUNCTION_ARGS)
{
	return StateAtPoint(fcinfo, STOP_AT_VERSION);
}

PG_FUNCTION_INFO_V1(verist_step_input);

/*
 * SQL: verist_step_input(workflow_id, run_id, version int, OUT ...)
 *
 * The run as the commit that produced version found it: every entry before
 * that commit applied, the corrections made since the previous commit
 * included -- the input of that step, for replay and diff.  For version 1,
 * the empty run before its first commit (version 0, no entry).
 */
Datum
verist_step_input(PG_FUNCTION_ARGS)
{
	return StateAtPoint(fcinfo, STOP_BEFORE_VERSION);
}

PG_FUNCTION_INFO_V1(verist_state_as_of);

/*
 * SQL: verist_state_as_of(workflow_id, run_id, as_of timestamptz, OUT ...)
 *
 * The run as it was at a moment: every entry made at or before as_of
 * applied (entries of one transaction share its time).
 */
Datum
verist_state_as_of(PG_FUNCTION_ARGS)
{
	return StateAtPoint(fcinfo, STOP_AS_OF);
}

PG_FUNCTION_INFO_V1(verist_run_history);

/* SQL: verist_run_history(workflow_id, run_id) returns setof verist_ledger */
Datum
verist_run_history(PG_FUNCTION_ARGS)
{
	Datum		ids[2];

	ids[0] = PointerGetDatum(VeristIdArg(fcinfo, 0, "workflow_id"));
	ids[1] = PointerGetDatum(VeristIdArg(fcinfo, 1, "run_id"));
	return VeristReturnRows(fcinfo, &ledger_history, ids);
}

/* Set a column of a row being built, by name. */
static void
SetColumn(TupleDesc desc, Datum *values, bool *nulls, const char *name, Datum value, bool isnull)
{
	for (int i = 0; i < desc->natts; i++)
	{
		if (strcmp(NameStr(TupleDescAttr(desc, i)->attname), name) == 0)
		{
			values[i] = value;
			nulls[i] = isnull;
			return;
		}
	}
	elog(ERROR, "verist_state has no column \"%s\"", name);
}

/*
 * The verist_state row a commit returned, rebuilt from the ledger: what a
 * retry of exactly that commit gets back (the run may have moved on since).
 * Runs inside the caller's SPI connection; NULL if the ledger has no such
 * commit.
 */
HeapTuple
VeristStateAfterCommit(text *wf, text *run, int32 version, TupleDesc desc)
{
	Datum		ids[2] = {PointerGetDatum(wf), PointerGetDatum(run)};
	Datum	   *values = palloc0(sizeof(Datum) * desc->natts);
	bool	   *nulls = palloc0(sizeof(bool) * desc->natts);
	VeristReplay r;
	bool		isnull;
	Datum		created;

	if (!Replay(wf, run, STOP_AT_VERSION, version, 0, &r, CurrentMemoryContext))
		return NULL;
	if (VeristExecute(&state_created, ids, NULL, false, 1) != 1)
		return NULL;
	created = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	VeristReplayFinish(&r);

	SetColumn(desc, values, nulls, "workflow_id", PointerGetDatum(wf), false);
	SetColumn(desc, values, nulls, "run_id", PointerGetDatum(run), false);
	SetColumn(desc, values, nulls, "version", Int32GetDatum(r.version), false);
	SetColumn(desc, values, nulls, "computed", JsonbPGetDatum(r.computed), false);
	SetColumn(desc, values, nulls, "overlay", JsonbPGetDatum(r.overlay), false);
	SetColumn(desc, values, nulls, "created_at", created, isnull);
	SetColumn(desc, values, nulls, "updated_at", TimestampTzGetDatum(r.at), false);
	SetColumn(desc, values, nulls, "chain_seq", Int32GetDatum(r.events_seq), false);
	SetColumn(desc, values, nulls, "chain_hash", CStringGetTextDatum(r.events_hash), false);
	SetColumn(desc, values, nulls, "ledger_seq", Int32GetDatum(r.seq), false);
	SetColumn(desc, values, nulls, "ledger_hash", CStringGetTextDatum(r.hash), false);
	return heap_form_tuple(desc, values, nulls);
}
