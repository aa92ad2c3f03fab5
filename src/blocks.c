/*
 * blocks.c
 *		Review and suspend gates: verist_get_block, verist_resolve_block
 *		(README "Review and suspend").
 *
 * Resolution locks the active block row (SELECT ... FOR UPDATE).  A second
 * resolver waits on that lock; when the first commits, the row no longer
 * satisfies "resolved_at IS NULL", so the second finds nothing and returns no
 * rows: exactly one resolution acts.
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/jsonb.h"

#include "args.h"
#include "canonical.h"
#include "compat.h"
#include "counters.h"
#include "errors.h"
#include "jsonb_util.h"
#include "ledger.h"
#include "outbox.h"
#include "plans.h"

/* Columns of block_lock_active, by position. */
enum
{
	BLOCK_ID = 1,
	BLOCK_STEP_ID,
	BLOCK_TYPE,
	BLOCK_PAYLOAD,
	BLOCK_RESUME_STEP
};

static VeristQuery block_active = {
	"SELECT b.* FROM @extschema@.verist_blocks AS b"
	" WHERE b.workflow_id OPERATOR(pg_catalog.=) $1"
	" AND b.run_id OPERATOR(pg_catalog.=) $2"
	" AND b.resolved_at IS NULL",
	2, {TEXTOID, TEXTOID}
};

/*
 * 0.4.0: a resolution writes the run's state row (its ledger head), so it
 * locks that row after the block and before changing anything.  A commit
 * holds the row while it inserts a block: it waits for a block another
 * transaction has already changed (and so would deadlock with a resolution
 * that changed its block before locking the row -- the stress suite found
 * that order), but it is refused at once by one that is only locked.
 * Locking the block first keeps a resolver from acting on a block that
 * landed while it waited (block-race).
 */
static VeristQuery state_lock = {
	"SELECT 1 FROM @extschema@.verist_state AS s"
	" WHERE s.workflow_id OPERATOR(pg_catalog.=) $1"
	" AND s.run_id OPERATOR(pg_catalog.=) $2"
	" FOR NO KEY UPDATE",
	2, {TEXTOID, TEXTOID}
};

static VeristQuery block_lock_active = {
	"SELECT b.id, b.step_id, b.type, b.payload, b.resume_step"
	" FROM @extschema@.verist_blocks AS b"
	" WHERE b.workflow_id OPERATOR(pg_catalog.=) $1"
	" AND b.run_id OPERATOR(pg_catalog.=) $2"
	" AND b.resolved_at IS NULL"
	" FOR UPDATE",
	2, {TEXTOID, TEXTOID}
};

static VeristQuery outbox_release_deferred = {
	"UPDATE @extschema@.verist_outbox AS o"
	" SET status = $4, lease_owner = NULL, lease_expires_at = NULL"
	" WHERE o.workflow_id OPERATOR(pg_catalog.=) $1"
	" AND o.run_id OPERATOR(pg_catalog.=) $2"
	" AND o.step_id OPERATOR(pg_catalog.=) $3"
	" AND o.status OPERATOR(pg_catalog.=) 'deferred'",
	4, {TEXTOID, TEXTOID, TEXTOID, TEXTOID}
};

static VeristQuery block_resolve = {
	"UPDATE @extschema@.verist_blocks AS b"
	" SET resolution = $2, resolved_at = pg_catalog.now()"
	" WHERE b.id OPERATOR(pg_catalog.=) $1"
	" RETURNING b.*",
	2, {INT8OID, JSONBOID}
};

/* 0.4.0: the resolution's ledger entry, appended to the run's ledger. */
static VeristQuery ledger_resolve = {
	"WITH s AS ("
	"  UPDATE @extschema@.verist_state AS s"
	"  SET ledger_seq = s.ledger_seq OPERATOR(pg_catalog.+) 1,"
	"  ledger_hash = @extschema@.verist_ledger_extend(s.ledger_hash, s.ledger_seq, s.version,"
	"                s.chain_hash, $3, $4)"
	"  WHERE s.workflow_id OPERATOR(pg_catalog.=) $1"
	"  AND s.run_id OPERATOR(pg_catalog.=) $2"
	"  RETURNING s.*"
	"), l AS ("
	"  INSERT INTO @extschema@.verist_ledger"
	"  (workflow_id, run_id, seq, kind, version, step_id, block, change, role, session_role,"
	"   actor, events_seq, events_hash, created_at, hash)"
	"  SELECT s.workflow_id, s.run_id, s.ledger_seq, 'resolve', s.version, $5, $6, $7, $8, $9,"
	"         $10, s.chain_seq, s.chain_hash, pg_catalog.now(), s.ledger_hash FROM s"
	") SELECT s.ledger_seq FROM s",
	10, {TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, JSONBOID, JSONBOID, TEXTOID, TEXTOID,
	TEXTOID}
};

PG_FUNCTION_INFO_V1(verist_get_block);

/* SQL: verist_get_block(workflow_id, run_id) returns setof verist_blocks */
Datum
verist_get_block(PG_FUNCTION_ARGS)
{
	Datum		ids[2];

	ids[0] = PointerGetDatum(VeristIdArg(fcinfo, 0, "workflow_id"));
	ids[1] = PointerGetDatum(VeristIdArg(fcinfo, 1, "run_id"));
	return VeristReturnRows(fcinfo, &block_active, ids);
}

/* A JsonbValue standing for a stored jsonb, or JSON null for SQL NULL. */
static JsonbValue *
StoredJsonb(Datum datum, bool isnull)
{
	JsonbValue *v = palloc(sizeof(JsonbValue));

	if (isnull)
		v->type = jbvNull;
	else
	{
		Jsonb	   *jb = DatumGetJsonbP(datum);

		v->type = jbvBinary;
		v->val.binary.data = &jb->root;
		v->val.binary.len = VARSIZE(jb) - VARHDRSZ;
	}
	return v;
}

/* Read the required key of a resolution, or raise serialization_error. */
static JsonbValue *
ResolutionField(Jsonb *resolution, const char *key, bool must_be_bool,
				const char *block_type)
{
	JsonbValue *v = VeristObjectField(&resolution->root, key);

	if (v == NULL || (must_be_bool && v->type != jbvBool))
		ereport(ERROR,
				(VeristErrcode(ERRCODE_VERIST_SERIALIZATION),
				 errmsg("invalid resolution of a %s block", block_type),
				 must_be_bool ?
				 errdetail("Key \"%s\" must be a boolean.", key) :
				 errdetail("Key \"%s\" is required (its value may be null).", key)));
	return v;
}

/*
 * Resolve a review: release the block step's deferred commands as pending
 * (approved) or mark them rejected.  Returns the cleaned resolution.
 */
static Jsonb *
ResolveReview(Datum *ids, Datum step, Jsonb *resolution)
{
	JsonbValue *approved = ResolutionField(resolution, "approved", true, "review");
	JsonbParseState *state = NULL;
	Datum		values[4] = {ids[0], ids[1], step,
		CStringGetTextDatum(approved->val.boolean ? "pending" : "rejected")};

	if (VeristExecute(&outbox_release_deferred, values, NULL, false, 0) > 0 &&
		approved->val.boolean)
		VeristNotifyPending(DatumGetTextPP(ids[0]));

	pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	VeristPushMember(&state, "approved", approved);
	return JsonbValueToJsonb(pushJsonbValue(&state, WJB_END_OBJECT, NULL));
}

/*
 * Resolve a suspend: queue the command that resumes the run,
 *   {"type":"invoke","step":<resume step>,"input":{"checkpoint":..,"resumeData":..}}
 * under step id "resume:<block id>".  Returns the cleaned resolution.
 */
static Jsonb *
ResolveSuspend(Datum *ids, HeapTuple block, TupleDesc desc, Jsonb *resolution)
{
	JsonbValue *resume_data = ResolutionField(resolution, "resumeData", false, "suspend");
	JsonbParseState *state = NULL;
	JsonbValue	v;
	bool		isnull;
	int64		block_id;
	char	   *resume_step;
	char	   *step_id;
	Jsonb	   *command;
	Datum		payload;
	char	   *key;
	Datum		cmd_elem;
	Datum		key_elem;

	block_id = DatumGetInt64(SPI_getbinval(block, desc, BLOCK_ID, &isnull));
	resume_step = SPI_getvalue(block, desc, BLOCK_RESUME_STEP);
	if (resume_step == NULL)
		resume_step = SPI_getvalue(block, desc, BLOCK_STEP_ID);
	step_id = psprintf("resume:" INT64_FORMAT, block_id);
	payload = SPI_getbinval(block, desc, BLOCK_PAYLOAD, &isnull);

	pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	v.type = jbvString;
	v.val.string.val = "invoke";
	v.val.string.len = 6;
	VeristPushMember(&state, "type", &v);
	v.val.string.val = resume_step;
	v.val.string.len = strlen(resume_step);
	VeristPushMember(&state, "step", &v);
	v.type = jbvString;
	v.val.string.val = "input";
	v.val.string.len = 5;
	pushJsonbValue(&state, WJB_KEY, &v);
	pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	VeristPushMember(&state, "checkpoint", StoredJsonb(payload, isnull));
	VeristPushMember(&state, "resumeData", resume_data);
	pushJsonbValue(&state, WJB_END_OBJECT, NULL);
	command = JsonbValueToJsonb(pushJsonbValue(&state, WJB_END_OBJECT, NULL));

	key = VeristDedupeKey(TextDatumGetCString(ids[0]), TextDatumGetCString(ids[1]),
						  step_id, &command->root, NULL);
	cmd_elem = JsonbPGetDatum(command);
	key_elem = CStringGetTextDatum(key);

	/* Already queued (say, by a restored copy of this block)?  Keep that one. */
	if (VeristInsertOutbox(DatumGetTextPP(ids[0]), DatumGetTextPP(ids[1]),
						   cstring_to_text(step_id),
						   &cmd_elem, &key_elem, 1,
						   "pending", NULL, NULL) > 0)
		VeristNotifyPending(DatumGetTextPP(ids[0]));

	state = NULL;
	pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	VeristPushMember(&state, "resumeData", resume_data);
	return JsonbValueToJsonb(pushJsonbValue(&state, WJB_END_OBJECT, NULL));
}

/*
 * 0.4.0: append the resolution to the run's ledger: who resolved which block
 * (by id) of which step, and the cleaned resolution.
 */
static void
RecordResolution(Datum *ids, Datum block_id, Datum step, Jsonb *cleaned)
{
	VeristLedgerEntry e;
	VeristWho	who;
	StringInfoData head;
	StringInfoData tail;
	JsonbParseState *state = NULL;
	JsonbValue	v;
	Jsonb	   *block;
	Datum		values[10];
	char		nulls[11] = "          ";

	pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	v.type = jbvNumeric;
	v.val.numeric = DatumGetNumeric(DirectFunctionCall1(int8_numeric, block_id));
	VeristPushMember(&state, "id", &v);
	block = JsonbValueToJsonb(pushJsonbValue(&state, WJB_END_OBJECT, NULL));

	VeristWhoIsActing(&who);
	memset(&e, 0, sizeof(e));
	e.workflow_id = DatumGetTextPP(ids[0]);
	e.run_id = DatumGetTextPP(ids[1]);
	e.kind = VERIST_ENTRY_RESOLVE;
	e.step_id = DatumGetTextPP(step);
	e.block = &block->root;
	e.change = &cleaned->root;
	e.role = who.role;
	e.session_role = who.session_role;
	e.actor = who.actor;
	e.created_at = GetCurrentTransactionStartTimestamp();
	initStringInfo(&head);
	initStringInfo(&tail);
	VeristLedgerParts(&e, &head, &tail);

	values[0] = ids[0];
	values[1] = ids[1];
	values[2] = PointerGetDatum(cstring_to_text_with_len(head.data, head.len));
	values[3] = PointerGetDatum(cstring_to_text_with_len(tail.data, tail.len));
	values[4] = step;
	values[5] = JsonbPGetDatum(block);
	values[6] = JsonbPGetDatum(cleaned);
	values[7] = CStringGetTextDatum(who.role);
	values[8] = CStringGetTextDatum(who.session_role);
	values[9] = who.actor ? CStringGetTextDatum(who.actor) : (Datum) 0;
	nulls[9] = who.actor ? ' ' : 'n';
	if (VeristExecute(&ledger_resolve, values, nulls, false, 0) != 1)
		elog(ERROR, "the run of a resolved block has no state row");
}


/*
 * verist_resolve_block for both versions: with ledger (0.4.0 on) the
 * resolution is also an entry of the run's ledger.
 */
static Datum
ResolveBlock(FunctionCallInfo fcinfo, bool ledger)
{
	Datum		ids[2];
	Jsonb	   *resolution;
	HeapTuple	block;
	TupleDesc	desc;
	char	   *type;
	bool		isnull;
	Jsonb	   *cleaned;
	Datum		values[2];
	Datum		step;

	ids[0] = PointerGetDatum(VeristIdArg(fcinfo, 0, "workflow_id"));
	ids[1] = PointerGetDatum(VeristIdArg(fcinfo, 1, "run_id"));
	resolution = VeristObjectArg(fcinfo, 2, "resolution");

	InitMaterializedSRF(fcinfo, 0);
	VeristConnect(fcinfo);

	/* No active block: nothing to do, no rows (repeats are harmless). */
	if (VeristExecute(&block_lock_active, ids, NULL, false, 1) == 0)
	{
		VeristFinish();
		return (Datum) 0;
	}
	block = SPI_copytuple(SPI_tuptable->vals[0]);
	desc = CreateTupleDescCopy(SPI_tuptable->tupdesc);
	if (ledger && VeristExecute(&state_lock, ids, NULL, false, 1) == 0)
		elog(ERROR, "the run of an active block has no state row");
	type = SPI_getvalue(block, desc, BLOCK_TYPE);

	if (strcmp(type, "review") == 0)
		cleaned = ResolveReview(ids, SPI_getbinval(block, desc, BLOCK_STEP_ID, &isnull),
								resolution);
	else
		cleaned = ResolveSuspend(ids, block, desc, resolution);

	values[0] = SPI_getbinval(block, desc, BLOCK_ID, &isnull);
	values[1] = JsonbPGetDatum(cleaned);
	step = SPI_getbinval(block, desc, BLOCK_STEP_ID, &isnull);
	VeristExecute(&block_resolve, values, NULL, false, 0);
	VeristStoreRows(fcinfo);
	if (ledger)
		RecordResolution(ids, values[0], step, cleaned);
	VeristFinish();
	return (Datum) 0;
}

PG_FUNCTION_INFO_V1(verist_resolve_block);

/* SQL (0.1.0 to 0.3.x): verist_resolve_block(workflow_id, run_id, resolution jsonb) returns setof verist_blocks */
Datum
verist_resolve_block(PG_FUNCTION_ARGS)
{
	return ResolveBlock(fcinfo, false);
}

PG_FUNCTION_INFO_V1(verist_resolve_block_ledger);

/* SQL (0.4.0 on): verist_resolve_block, recorded in the run's ledger */
Datum
verist_resolve_block_ledger(PG_FUNCTION_ARGS)
{
	return ResolveBlock(fcinfo, true);
}
