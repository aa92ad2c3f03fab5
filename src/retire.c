/*
 * retire.c
 *		Retention that keeps the proof (verist 0.4.0): a run's whole record
 *		as one self-verifying document (verist_export_run), and retiring a
 *		finished run (verist_retire_run): the document is returned for
 *		archiving, its digest sealed, and the run's rows removed.
 *
 * Seals form one chain of their own, so that removing a seal shows:
 *
 *   hash = hex(SHA-256(prev || canonical({"actor", "documentHash",
 *          "events": {"hash", "seq"}, "ledger": {"hash", "seq"}, "retiredAt",
 *          "role", "runId", "seq", "sessionRole", "version", "workflowId"})))
 *
 * with seq 1, 2, ... and prev the previous seal's hash (for the first, the
 * hex SHA-256 of canonical({"chain":"verist-retired/1"})).  A retired run
 * then verifies as "retired", and an anchored run that is gone without a
 * seal is a deleted one (README "Retention that keeps the proof").
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/tuptable.h"
#include "storage/lmgr.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/snapmgr.h"

#include "args.h"
#include "canonical.h"
#include "compat.h"
#include "counters.h"
#include "errors.h"
#include "events.h"
#include "ledger.h"
#include "plans.h"
#include "retire.h"

#define SEALS_NAME "verist-retired/1"	/* names the format in the seal chain's genesis */

/* A timestamp column as integer microseconds since 1970, in SQL. */
#define MICROS(col) \
	"(pg_catalog.extract('epoch', " col ") OPERATOR(pg_catalog.*) 1000000)::pg_catalog.int8"

/*
 * The record of a run as one document (format verist-run/1): everything a
 * verifier needs to recompute both chains, replay the state and check the
 * blocks, with every time as integer microseconds since 1970.
 */
static VeristQuery run_document = {
	"SELECT pg_catalog.jsonb_build_object("
	" 'format', 'verist-run/1', 'workflowId', s.workflow_id, 'runId', s.run_id,"
	" 'state', pg_catalog.jsonb_build_object('version', s.version, 'computed', s.computed,"
	"   'overlay', s.overlay, 'createdAt', " MICROS("s.created_at") ","
	"   'updatedAt', " MICROS("s.updated_at") ", 'eventsSeq', s.chain_seq,"
	"   'eventsHash', s.chain_hash, 'ledgerSeq', s.ledger_seq, 'ledgerHash', s.ledger_hash),"
	" 'events', COALESCE((SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object("
	"   'id', e.id, 'seq', e.seq, 'stepId', e.step_id, 'type', e.type, 'payload', e.payload,"
	"   'llmTrace', e.llm_trace, 'ts', " MICROS("e.created_at") ", 'hash', e.hash)"
	"   ORDER BY e.seq, e.id)"
	"   FROM @extschema@.verist_events AS e"
	"   WHERE e.workflow_id OPERATOR(pg_catalog.=) s.workflow_id"
	"   AND e.run_id OPERATOR(pg_catalog.=) s.run_id), '[]'::pg_catalog.jsonb),"
	" 'ledger', COALESCE((SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object("
	"   'seq', l.seq, 'kind', l.kind, 'version', l.version, 'stepId', l.step_id,"
	"   'block', l.block, 'change', l.change, 'input', l.input, 'role', l.role,"
	"   'sessionRole', l.session_role, 'actor', l.actor, 'eventsSeq', l.events_seq,"
	"   'eventsHash', l.events_hash, 'ts', " MICROS("l.created_at") ", 'hash', l.hash)"
	"   ORDER BY l.seq)"
	"   FROM @extschema@.verist_ledger AS l"
	"   WHERE l.workflow_id OPERATOR(pg_catalog.=) s.workflow_id"
	"   AND l.run_id OPERATOR(pg_catalog.=) s.run_id), '[]'::pg_catalog.jsonb),"
	" 'blocks', COALESCE((SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object("
	"   'id', b.id, 'stepId', b.step_id, 'type', b.type, 'reason', b.reason,"
	"   'payload', b.payload, 'resumeStep', b.resume_step, 'resolution', b.resolution,"
	"   'createdAt', " MICROS("b.created_at") ", 'resolvedAt', " MICROS("b.resolved_at") ")"
	"   ORDER BY b.id)"
	"   FROM @extschema@.verist_blocks AS b"
	"   WHERE b.workflow_id OPERATOR(pg_catalog.=) s.workflow_id"
	"   AND b.run_id OPERATOR(pg_catalog.=) s.run_id), '[]'::pg_catalog.jsonb),"
	" 'outbox', COALESCE((SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object("
	"   'id', o.id, 'stepId', o.step_id, 'command', o.command, 'dedupeKey', o.dedupe_key,"
	"   'status', o.status, 'failures', o.failures, 'lastError', o.last_error,"
	"   'createdAt', " MICROS("o.created_at") ", 'dispatchedAt', " MICROS("o.dispatched_at") ")"
	"   ORDER BY o.id)"
	"   FROM @extschema@.verist_outbox AS o"
	"   WHERE o.workflow_id OPERATOR(pg_catalog.=) s.workflow_id"
	"   AND o.run_id OPERATOR(pg_catalog.=) s.run_id), '[]'::pg_catalog.jsonb))"
	" FROM @extschema@.verist_state AS s"
	" WHERE s.workflow_id OPERATOR(pg_catalog.=) $1"
	" AND s.run_id OPERATOR(pg_catalog.=) $2",
	2, {TEXTOID, TEXTOID}
};

/* Columns of run_lock, by position. */
enum
{
	RL_VERSION = 1,
	RL_CHAIN_SEQ,
	RL_CHAIN_HASH,
	RL_LEDGER_SEQ,
	RL_LEDGER_HASH,
	RL_OPEN_BLOCKS,
	RL_OPEN_COMMANDS
};

/*
 * Lock the run's state row (commits to it wait) and count what keeps it
 * from being finished: unresolved blocks, and commands not yet dispatched,
 * rejected or given up on... a dead letter waits for an operator too.
 */
static VeristQuery run_lock = {
	"SELECT s.version, s.chain_seq, s.chain_hash, s.ledger_seq, s.ledger_hash,"
	" (SELECT pg_catalog.count(*) FROM @extschema@.verist_blocks AS b"
	"   WHERE b.workflow_id OPERATOR(pg_catalog.=) s.workflow_id"
	"   AND b.run_id OPERATOR(pg_catalog.=) s.run_id AND b.resolved_at IS NULL),"
	" (SELECT pg_catalog.count(*) FROM @extschema@.verist_outbox AS o"
	"   WHERE o.workflow_id OPERATOR(pg_catalog.=) s.workflow_id"
	"   AND o.run_id OPERATOR(pg_catalog.=) s.run_id"
	"   AND o.status OPERATOR(pg_catalog.=) ANY"
	"       ('{pending,deferred,leased,failed}'::pg_catalog.text[]))"
	" FROM @extschema@.verist_state AS s"
	" WHERE s.workflow_id OPERATOR(pg_catalog.=) $1"
	" AND s.run_id OPERATOR(pg_catalog.=) $2"
	" FOR UPDATE",
	2, {TEXTOID, TEXTOID}
};

static VeristQuery seal_insert = {
	"INSERT INTO @extschema@.verist_retired"
	" (seq, workflow_id, run_id, version, ledger_seq, ledger_hash, events_seq, events_hash,"
	"  document_hash, role, session_role, actor, retired_at, hash)"
	" VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, pg_catalog.now(), $13)",
	13, {INT8OID, TEXTOID, TEXTOID, INT4OID, INT4OID, TEXTOID, INT4OID, TEXTOID, TEXTOID,
	TEXTOID, TEXTOID, TEXTOID, TEXTOID}
};

/* The run's rows, table by table (the append-only guard lets the first two through). */
static VeristQuery remove_events = {
	"DELETE FROM @extschema@.verist_events AS e"
	" WHERE e.workflow_id OPERATOR(pg_catalog.=) $1 AND e.run_id OPERATOR(pg_catalog.=) $2",
	2, {TEXTOID, TEXTOID}
};

static VeristQuery remove_ledger = {
	"DELETE FROM @extschema@.verist_ledger AS l"
	" WHERE l.workflow_id OPERATOR(pg_catalog.=) $1 AND l.run_id OPERATOR(pg_catalog.=) $2",
	2, {TEXTOID, TEXTOID}
};

static VeristQuery remove_rest = {
	"WITH b AS (DELETE FROM @extschema@.verist_blocks AS b"
	"   WHERE b.workflow_id OPERATOR(pg_catalog.=) $1 AND b.run_id OPERATOR(pg_catalog.=) $2),"
	" o AS (DELETE FROM @extschema@.verist_outbox AS o"
	"   WHERE o.workflow_id OPERATOR(pg_catalog.=) $1 AND o.run_id OPERATOR(pg_catalog.=) $2)"
	" DELETE FROM @extschema@.verist_state AS s"
	" WHERE s.workflow_id OPERATOR(pg_catalog.=) $1 AND s.run_id OPERATOR(pg_catalog.=) $2",
	2, {TEXTOID, TEXTOID}
};

/* Columns of seals_all, by position. */
enum
{
	SL_SEQ = 1,
	SL_WORKFLOW_ID,
	SL_RUN_ID,
	SL_VERSION,
	SL_LEDGER_SEQ,
	SL_LEDGER_HASH,
	SL_EVENTS_SEQ,
	SL_EVENTS_HASH,
	SL_DOCUMENT_HASH,
	SL_ROLE,
	SL_SESSION_ROLE,
	SL_ACTOR,
	SL_RETIRED_AT,
	SL_HASH
};

static VeristQuery seals_all = {
	"SELECT r.seq, r.workflow_id, r.run_id, r.version, r.ledger_seq, r.ledger_hash,"
	" r.events_seq, r.events_hash, r.document_hash, r.role, r.session_role, r.actor,"
	" r.retired_at, r.hash"
	" FROM @extschema@.verist_retired AS r ORDER BY r.seq",
	0, {0}
};

static VeristQuery seal_of_run = {
	"SELECT r.ledger_seq, r.ledger_hash FROM @extschema@.verist_retired AS r"
	" WHERE r.workflow_id OPERATOR(pg_catalog.=) $1 AND r.run_id OPERATOR(pg_catalog.=) $2"
	" ORDER BY r.seq DESC LIMIT 1",
	2, {TEXTOID, TEXTOID}
};

/* One seal, as hashed. */
typedef struct Seal
{
	int64		seq;
	text	   *workflow_id;
	text	   *run_id;
	int32		version;
	int32		ledger_seq;
	const char *ledger_hash;
	int32		events_seq;
	const char *events_hash;
	const char *document_hash;
	const char *role;
	const char *session_role;
	const char *actor;
	TimestampTz retired_at;
} Seal;

/* Append a C string as a JSON string, or null. */
static void
AppendString(StringInfo out, const char *s)
{
	if (s == NULL)
		appendStringInfoString(out, "null");
	else
		VeristAppendJsString(out, s, strlen(s));
}

/* hex(SHA-256(prev || canonical(seal))), into hex. */
static void
SealHash(const char *prev, const Seal *s, char *hex)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfoString(&buf, prev);
	appendStringInfoString(&buf, "{\"actor\":");
	AppendString(&buf, s->actor);
	appendStringInfoString(&buf, ",\"documentHash\":");
	AppendString(&buf, s->document_hash);
	appendStringInfo(&buf, ",\"events\":{\"hash\":\"%s\",\"seq\":%d}", s->events_hash,
					 s->events_seq);
	appendStringInfo(&buf, ",\"ledger\":{\"hash\":\"%s\",\"seq\":%d}", s->ledger_hash,
					 s->ledger_seq);
	appendStringInfoString(&buf, ",\"retiredAt\":");
	VeristAppendJsTimestamp(&buf, s->retired_at);
	appendStringInfoString(&buf, ",\"role\":");
	AppendString(&buf, s->role);
	appendStringInfoString(&buf, ",\"runId\":");
	VeristAppendJsText(&buf, s->run_id);
	appendStringInfoString(&buf, ",\"seq\":");
	VeristAppendJsNumber(&buf, (double) s->seq);
	appendStringInfoString(&buf, ",\"sessionRole\":");
	AppendString(&buf, s->session_role);
	appendStringInfo(&buf, ",\"version\":%d,\"workflowId\":", s->version);
	VeristAppendJsText(&buf, s->workflow_id);
	appendStringInfoChar(&buf, '}');
	VeristSha256Hex(NULL, buf.data, buf.len, hex);
	pfree(buf.data);
}

/* The genesis of the seal chain, into hex. */
static void
SealGenesis(char *hex)
{
	static const char genesis[] = "{\"chain\":\"" SEALS_NAME "\"}";

	VeristSha256Hex(NULL, genesis, strlen(genesis), hex);
}

/* The run's document, built by the statement; NULL if the run has no state row. */
static Jsonb *
RunDocument(Datum *ids, MemoryContext cxt)
{
	bool		isnull;
	Datum		doc;
	MemoryContext old;
	Jsonb	   *copy;

	if (VeristExecute(&run_document, ids, NULL, true, 1) != 1)
		return NULL;
	doc = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	old = MemoryContextSwitchTo(cxt);
	copy = DatumGetJsonbPCopy(doc);
	MemoryContextSwitchTo(old);
	return copy;
}

PG_FUNCTION_INFO_V1(verist_export_run);

/* SQL: verist_export_run(workflow_id, run_id) returns jsonb */
Datum
verist_export_run(PG_FUNCTION_ARGS)
{
	text	   *wf = VeristIdArg(fcinfo, 0, "workflow_id");
	text	   *run = VeristIdArg(fcinfo, 1, "run_id");
	Datum		ids[2] = {PointerGetDatum(wf), PointerGetDatum(run)};
	MemoryContext caller = CurrentMemoryContext;
	Jsonb	   *doc;

	VeristConnect(fcinfo);
	doc = RunDocument(ids, caller);
	VeristFinish();
	if (doc == NULL)
		VeristRaiseRunMissing(wf, run, NULL);
	PG_RETURN_JSONB_P(doc);
}

/* The first seal-chain break, if any; true when the chain is intact. */
bool
VeristCheckSeals(VeristCheck *check, text **workflow_id, text **run_id)
{
	char		prev[VERIST_HASH_HEX_LEN + 1];
	Portal		portal;
	int64		expected = 1;

	memset(check, 0, sizeof(*check));
	check->broken_seq = -1;
	SealGenesis(prev);
	portal = SPI_cursor_open(NULL, VeristPlan(&seals_all), NULL, NULL, true);
	while (check->reason == NULL)
	{
		SPI_cursor_fetch(portal, true, 1000);
		if (SPI_processed == 0)
			break;
		for (uint64 i = 0; i < SPI_processed && check->reason == NULL; i++)
		{
			HeapTuple	row = SPI_tuptable->vals[i];
			TupleDesc	d = SPI_tuptable->tupdesc;
			bool		isnull;
			Seal		s;
			char		hex[VERIST_HASH_HEX_LEN + 1];
			char	   *stored;

			s.seq = DatumGetInt64(SPI_getbinval(row, d, SL_SEQ, &isnull));
			s.workflow_id = DatumGetTextPCopy(SPI_getbinval(row, d, SL_WORKFLOW_ID, &isnull));
			s.run_id = DatumGetTextPCopy(SPI_getbinval(row, d, SL_RUN_ID, &isnull));
			s.version = DatumGetInt32(SPI_getbinval(row, d, SL_VERSION, &isnull));
			s.ledger_seq = DatumGetInt32(SPI_getbinval(row, d, SL_LEDGER_SEQ, &isnull));
			s.ledger_hash = SPI_getvalue(row, d, SL_LEDGER_HASH);
			s.events_seq = DatumGetInt32(SPI_getbinval(row, d, SL_EVENTS_SEQ, &isnull));
			s.events_hash = SPI_getvalue(row, d, SL_EVENTS_HASH);
			s.document_hash = SPI_getvalue(row, d, SL_DOCUMENT_HASH);
			s.role = SPI_getvalue(row, d, SL_ROLE);
			s.session_role = SPI_getvalue(row, d, SL_SESSION_ROLE);
			s.actor = SPI_getvalue(row, d, SL_ACTOR);
			s.retired_at = DatumGetTimestampTz(SPI_getbinval(row, d, SL_RETIRED_AT, &isnull));
			stored = SPI_getvalue(row, d, SL_HASH);
			*workflow_id = s.workflow_id;
			*run_id = s.run_id;
			if (s.seq != expected)
			{
				VeristCheckBreak(check, (int32) Min(expected, PG_INT32_MAX),
								 s.seq > expected ? "seal: missing seal" : "seal: duplicate seal");
				break;
			}
			SealHash(prev, &s, hex);
			if (stored == NULL || strcmp(stored, hex) != 0)
			{
				VeristCheckBreak(check, (int32) Min(s.seq, PG_INT32_MAX), "seal: hash mismatch");
				break;
			}
			memcpy(prev, hex, sizeof(prev));
			expected++;
		}
		SPI_freetuptable(SPI_tuptable);
	}
	SPI_cursor_close(portal);
	return check->reason == NULL;
}

/* Has the run ever been retired? */
bool
VeristRunIsRetired(text *wf, text *run)
{
	Datum		ids[2] = {PointerGetDatum(wf), PointerGetDatum(run)};

	return VeristExecute(&seal_of_run, ids, NULL, true, 1) == 1;
}

/* The ledger head the run's last seal recorded; false if it has none. */
bool
VeristRetiredHead(text *wf, text *run, int32 *seq, char **hash, MemoryContext cxt)
{
	Datum		ids[2] = {PointerGetDatum(wf), PointerGetDatum(run)};
	bool		isnull;

	if (VeristExecute(&seal_of_run, ids, NULL, true, 1) != 1)
		return false;
	*seq = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	*hash = MemoryContextStrdup(cxt, SPI_getvalue(SPI_tuptable->vals[0],
												  SPI_tuptable->tupdesc, 2));
	return true;
}

/* Lock the run and refuse to retire one with work left; fill in what the seal records. */
static void
LockFinishedRun(text *wf, text *run, Datum *ids, Seal *seal)
{
	HeapTuple	row;
	TupleDesc	d;
	bool		isnull;
	int64		blocks;
	int64		commands;

	if (VeristExecute(&run_lock, ids, NULL, false, 1) != 1)
		VeristRaiseRunMissing(wf, run, NULL);
	row = SPI_tuptable->vals[0];
	d = SPI_tuptable->tupdesc;
	blocks = DatumGetInt64(SPI_getbinval(row, d, RL_OPEN_BLOCKS, &isnull));
	commands = DatumGetInt64(SPI_getbinval(row, d, RL_OPEN_COMMANDS, &isnull));
	if (blocks > 0 || commands > 0)
		ereport(ERROR,
				(VeristErrcode(ERRCODE_VERIST_RUN_ACTIVE),
				 errmsg("run \"%s\" of workflow \"%s\" is not finished",
						text_to_cstring(run), text_to_cstring(wf)),
				 errdetail("It has %lld unresolved blocks and %lld commands pending, deferred, leased or failed.",
						   (long long) blocks, (long long) commands),
				 errhint("Resolve its block and dispatch, purge or re-queue its commands first.")));
	seal->version = DatumGetInt32(SPI_getbinval(row, d, RL_VERSION, &isnull));
	seal->events_seq = DatumGetInt32(SPI_getbinval(row, d, RL_CHAIN_SEQ, &isnull));
	seal->events_hash = SPI_getvalue(row, d, RL_CHAIN_HASH);
	seal->ledger_seq = DatumGetInt32(SPI_getbinval(row, d, RL_LEDGER_SEQ, &isnull));
	seal->ledger_hash = SPI_getvalue(row, d, RL_LEDGER_HASH);
}

/*
 * The last seal's number and hash, read backwards from the primary key's
 * index (false when there is none).  Not a planned query: "ORDER BY seq DESC
 * LIMIT 1" got a plan cached while the table was empty -- a sequential scan
 * and a sort -- and kept it as the table grew, so each retirement read every
 * seal (test/bench/ledger.sh: 1,600 runs/s falling to 45).  The latest
 * snapshot, as a sequence would: the caller holds the lock that orders the
 * retirements, so it sees every seal committed before it.
 */
static bool
LastSeal(int64 *seq, char *hash)
{
	Relation	heap = table_open(VeristRelation("verist_retired"), AccessShareLock);
	Relation	index = index_open(VeristRelation("verist_retired_pkey"), AccessShareLock);
	Snapshot	snapshot = RegisterSnapshot(GetLatestSnapshot());
	TupleTableSlot *slot = table_slot_create(heap, NULL);
	IndexScanDesc scan = index_beginscan(heap, index, snapshot, 0, 0);
	bool		found;

	index_rescan(scan, NULL, 0, NULL, 0);
	found = index_getnext_slot(scan, BackwardScanDirection, slot);
	if (found)
	{
		bool		isnull;
		AttrNumber	seq_att = get_attnum(RelationGetRelid(heap), "seq");
		AttrNumber	hash_att = get_attnum(RelationGetRelid(heap), "hash");

		*seq = DatumGetInt64(slot_getattr(slot, seq_att, &isnull));
		text_to_cstring_buffer(DatumGetTextPP(slot_getattr(slot, hash_att, &isnull)),
							   hash, VERIST_HASH_HEX_LEN + 1);
	}
	index_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	UnregisterSnapshot(snapshot);
	index_close(index, AccessShareLock);
	table_close(heap, AccessShareLock);
	return found;
}

/* Append the seal to the seal chain (retirements take turns on it). */
static void
InsertSeal(Seal *seal)
{
	char		prev[VERIST_HASH_HEX_LEN + 1];
	char		hex[VERIST_HASH_HEX_LEN + 1];
	Datum		values[13];
	char		nulls[14] = "             ";

	LockRelationOid(VeristRelation("verist_retired"), ShareRowExclusiveLock);
	if (LastSeal(&seal->seq, prev))
		seal->seq++;
	else
	{
		seal->seq = 1;
		SealGenesis(prev);
	}
	SealHash(prev, seal, hex);

	values[0] = Int64GetDatum(seal->seq);
	values[1] = PointerGetDatum(seal->workflow_id);
	values[2] = PointerGetDatum(seal->run_id);
	values[3] = Int32GetDatum(seal->version);
	values[4] = Int32GetDatum(seal->ledger_seq);
	values[5] = CStringGetTextDatum(seal->ledger_hash);
	values[6] = Int32GetDatum(seal->events_seq);
	values[7] = CStringGetTextDatum(seal->events_hash);
	values[8] = CStringGetTextDatum(seal->document_hash);
	values[9] = CStringGetTextDatum(seal->role);
	values[10] = CStringGetTextDatum(seal->session_role);
	values[11] = seal->actor ? CStringGetTextDatum(seal->actor) : (Datum) 0;
	nulls[11] = seal->actor ? ' ' : 'n';
	values[12] = CStringGetTextDatum(hex);
	VeristExecute(&seal_insert, values, nulls, false, 0);
}

/* Remove the run's rows: events and entries (past the append-only guard), then the rest. */
static void
RemoveRun(Datum *ids)
{
	VeristRetiringEvents(true);
	PG_TRY();
	{
		VeristExecute(&remove_events, ids, NULL, false, 0);
		VeristExecute(&remove_ledger, ids, NULL, false, 0);
	}
	PG_FINALLY();
	{
		VeristRetiringEvents(false);
	}
	PG_END_TRY();
	VeristExecute(&remove_rest, ids, NULL, false, 0);
}

PG_FUNCTION_INFO_V1(verist_retire_run);

/*
 * SQL: verist_retire_run(workflow_id, run_id) returns jsonb
 *
 * Retire a finished run: lock it, refuse one with an unresolved block or
 * open commands (run_active), build its document, seal the document's
 * digest and the run's heads (who, when) into the seal chain, remove the
 * run's rows, and return the document for the caller to archive.  The
 * caller should verify the run first (verist_verify_run); the document
 * verifies offline (test/audit/verify_chain.py --document).
 */
Datum
verist_retire_run(PG_FUNCTION_ARGS)
{
	text	   *wf = VeristIdArg(fcinfo, 0, "workflow_id");
	text	   *run = VeristIdArg(fcinfo, 1, "run_id");
	Datum		ids[2] = {PointerGetDatum(wf), PointerGetDatum(run)};
	MemoryContext caller = CurrentMemoryContext;
	StringInfoData canon;
	char		digest[VERIST_HASH_HEX_LEN + 1];
	VeristWho	who;
	Seal		seal;
	Jsonb	   *doc;

	memset(&seal, 0, sizeof(seal));
	seal.workflow_id = wf;
	seal.run_id = run;
	VeristWhoIsActing(&who);
	seal.role = who.role;
	seal.session_role = who.session_role;
	seal.actor = who.actor;
	seal.retired_at = GetCurrentTransactionStartTimestamp();

	VeristConnect(fcinfo);
	LockFinishedRun(wf, run, ids, &seal);
	doc = RunDocument(ids, caller);
	initStringInfo(&canon);
	VeristCanonicalText(&canon, &doc->root, VERIST_CANON_CHAIN);
	VeristSha256Hex(NULL, canon.data, canon.len, digest);
	seal.document_hash = digest;
	InsertSeal(&seal);
	RemoveRun(ids);
	VeristFinish();
	PG_RETURN_JSONB_P(doc);
}
