/*
 * ledger.c
 *		The run's ledger (verist 0.4.0): the format of its entries and how a
 *		statement appends them.
 *
 * Every action that changes a run is an entry of the run's ledger: a step's
 * commit (its output, and the block it parked the run behind, if any), a
 * human correction of the overlay, a block's resolution, and, for runs that
 * predate 0.4.0, the state an upgrade found ("adopt").  Entry n (1, 2, ...,
 * no gaps) has
 *
 *   hash = hex(SHA-256(prev || events || canonical(content)))
 *
 * where prev is entry n-1's hash (for n = 1, the run's ledger genesis,
 * hex(SHA-256(canonical({"chain": "verist-ledger/1", "runId", "workflowId"})))),
 * events is the run's event-chain head (chain.c) right after the entry, so
 * the ledger also commits to every event, and content is the object
 *
 *   {"actor", "at": {"seq", "version"}, "block", "change", "input", "kind",
 *    "role", "runId", "sessionRole", "stepId", "ts", "workflowId"}
 *
 * in the chain's form of canonical JSON (canonical.h): SQL NULL is JSON null,
 * ts the entry's time in microseconds since 1970.  The run's head (last seq
 * and hash) lives on its verist_state row.
 *
 * A statement that appends an entry knows its seq (and, for an overlay, the
 * version) only from the row it updates, so the content is laid out in C
 * around "at" -- head: {"actor":..,"at":  tail: ,"block":..}  -- and the
 * statement finishes the hash through verist_ledger_extend, or, for a commit
 * that also extends the event chain, verist_commit_advance.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "common/sha2.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"

#include "args.h"
#include "canonical.h"
#include "chain.h"
#include "compat.h"
#include "counters.h"
#include "errors.h"
#include "ledger.h"
#include "verist.h"

#define LEDGER_NAME "verist-ledger/1"	/* names the format inside the genesis hash */

/* The roles of the caller and the application's actor, for an entry. */
void
VeristWhoIsActing(VeristWho *who)
{
	/* current_user as the caller sees it: verist's functions run as their owner */
	who->role = GetUserNameFromId(GetOuterUserId(), false);
	who->session_role = GetUserNameFromId(GetSessionUserId(), false);
	who->actor = (verist_actor != NULL && verist_actor[0] != '\0') ? verist_actor : NULL;
}

/* The genesis hash of a run's ledger, into hex[VERIST_HASH_HEX_LEN + 1]. */
void
VeristLedgerGenesis(text *workflow_id, text *run_id, char *hex, pg_cryptohash_ctx *ctx)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfoString(&buf, "{\"chain\":\"" LEDGER_NAME "\",\"runId\":");
	VeristAppendJsText(&buf, run_id);
	appendStringInfoString(&buf, ",\"workflowId\":");
	VeristAppendJsText(&buf, workflow_id);
	appendStringInfoChar(&buf, '}');
	VeristSha256Hex(ctx, buf.data, buf.len, hex);
	pfree(buf.data);
}

/* Append a C string as a JSON string, or null for NULL. */
static void
AppendCStringOrNull(StringInfo out, const char *s)
{
	if (s == NULL)
		appendStringInfoString(out, "null");
	else
		VeristAppendJsString(out, s, strlen(s));
}

/*
 * The canonical content of an entry, split around "at" (its seq and
 * version): head is {"actor":..,"at":  and tail is ,"block":..,"workflowId":..}
 */
void
VeristLedgerParts(const VeristLedgerEntry *e, StringInfo head, StringInfo tail)
{
	appendStringInfoString(head, "{\"actor\":");
	AppendCStringOrNull(head, e->actor);
	appendStringInfoString(head, ",\"at\":");

	appendStringInfoString(tail, ",\"block\":");
	VeristAppendJsonOrNull(tail, e->block);
	appendStringInfoString(tail, ",\"change\":");
	VeristAppendJsonOrNull(tail, e->change);
	appendStringInfoString(tail, ",\"input\":");
	AppendCStringOrNull(tail, e->input);
	appendStringInfoString(tail, ",\"kind\":");
	AppendCStringOrNull(tail, e->kind);
	appendStringInfoString(tail, ",\"role\":");
	AppendCStringOrNull(tail, e->role);
	appendStringInfoString(tail, ",\"runId\":");
	VeristAppendJsText(tail, e->run_id);
	appendStringInfoString(tail, ",\"sessionRole\":");
	AppendCStringOrNull(tail, e->session_role);
	appendStringInfoString(tail, ",\"stepId\":");
	if (e->step_id == NULL)
		appendStringInfoString(tail, "null");
	else
		VeristAppendJsText(tail, e->step_id);
	appendStringInfoString(tail, ",\"ts\":");
	VeristAppendJsTimestamp(tail, e->created_at);
	appendStringInfoString(tail, ",\"workflowId\":");
	VeristAppendJsText(tail, e->workflow_id);
	appendStringInfoChar(tail, '}');
}

/*
 * hex(SHA-256(prev || events_head || head || {"seq":N,"version":V} || tail)),
 * into hex[VERIST_HASH_HEX_LEN + 1].
 */
void
VeristLedgerHashParts(const char *prev, const char *events_head, int32 seq, int32 version,
					  const char *head, int headlen, const char *tail, int taillen,
					  char *hex, pg_cryptohash_ctx *ctx)
{
	uint8		digest[PG_SHA256_DIGEST_LENGTH];
	char		at[64];
	int			atlen = snprintf(at, sizeof(at), "{\"seq\":%d,\"version\":%d}", seq, version);

	if (pg_cryptohash_init(ctx) < 0 ||
		pg_cryptohash_update(ctx, (const uint8 *) prev, VERIST_HASH_HEX_LEN) < 0 ||
		pg_cryptohash_update(ctx, (const uint8 *) events_head, VERIST_HASH_HEX_LEN) < 0 ||
		pg_cryptohash_update(ctx, (const uint8 *) head, headlen) < 0 ||
		pg_cryptohash_update(ctx, (const uint8 *) at, atlen) < 0 ||
		pg_cryptohash_update(ctx, (const uint8 *) tail, taillen) < 0 ||
		pg_cryptohash_final(ctx, digest, sizeof(digest)) < 0)
		elog(ERROR, "could not compute SHA-256 hash: %s", pg_cryptohash_error(ctx));
	hex_encode((const char *) digest, sizeof(digest), hex);
	hex[VERIST_HASH_HEX_LEN] = '\0';
}

/* The hash of one whole entry chained to prev, into hex. */
void
VeristLedgerEntryHash(const char *prev, const char *events_head, const VeristLedgerEntry *entry,
					  char *hex, pg_cryptohash_ctx *ctx)
{
	StringInfoData head;
	StringInfoData tail;

	initStringInfo(&head);
	initStringInfo(&tail);
	VeristLedgerParts(entry, &head, &tail);
	VeristLedgerHashParts(prev, events_head, entry->seq, entry->version, head.data, head.len,
						  tail.data, tail.len, hex, ctx);
	pfree(head.data);
	pfree(tail.data);
}

/* A required hash argument: 64 lowercase hex characters. */
static text *
HashArg(FunctionCallInfo fcinfo, int argno, const char *name)
{
	text	   *t = VeristTextArg(fcinfo, argno, name);

	if (!VeristIsHashHex(t))
		ereport(ERROR,
				(VeristErrcode(ERRCODE_VERIST_SERIALIZATION),
				 errmsg("argument \"%s\" must be %d lowercase hex characters",
						name, VERIST_HASH_HEX_LEN)));
	return t;
}

/* Where the arguments of a ledger extension are, by number. */
typedef struct LedgerArgs
{
	int			hash;
	int			seq;
	int			version;
	int			head;
	int			tail;
} LedgerArgs;

/*
 * The new ledger head after one entry given by its parts: the work of
 * verist_ledger_extend and of the ledger half of verist_commit_advance.
 */
static char *
ExtendLedger(FunctionCallInfo fcinfo, const LedgerArgs *a, text *events_head)
{
	text	   *prev = HashArg(fcinfo, a->hash, "ledger_hash");
	int32		prev_seq;
	int32		version;
	text	   *head;
	text	   *tail;
	char	   *hex = palloc(VERIST_HASH_HEX_LEN + 1);
	pg_cryptohash_ctx *sha;

	VeristRequireArg(fcinfo, a->seq, "ledger_seq");
	prev_seq = PG_GETARG_INT32(a->seq);
	VeristRequireArg(fcinfo, a->version, "version");
	version = PG_GETARG_INT32(a->version);
	head = VeristTextArg(fcinfo, a->head, "head");
	tail = VeristTextArg(fcinfo, a->tail, "tail");
	if (prev_seq < 0 || version < 0)
		ereport(ERROR,
				(VeristErrcode(ERRCODE_VERIST_SERIALIZATION),
				 errmsg("invalid ledger extension"),
				 errdetail("Sequence numbers and versions are not negative.")));
	if (prev_seq == PG_INT32_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("a run's ledger can hold at most %d entries", PG_INT32_MAX)));
	sha = pg_cryptohash_create(PG_SHA256);
	VeristLedgerHashParts(VARDATA_ANY(prev), VARDATA_ANY(events_head), prev_seq + 1, version,
						  VARDATA_ANY(head), VARSIZE_ANY_EXHDR(head),
						  VARDATA_ANY(tail), VARSIZE_ANY_EXHDR(tail), hex, sha);
	pg_cryptohash_free(sha);
	return hex;
}

PG_FUNCTION_INFO_V1(verist_ledger_extend);

/*
 * SQL: verist_ledger_extend(ledger_hash text, ledger_seq int, version int,
 *							 events_hash text, head text, tail text) returns text
 *
 * Internal (0.4.0): the run's new ledger head after one entry given by its
 * parts, for the statement that appends it (an overlay, a resolution).
 */
Datum
verist_ledger_extend(PG_FUNCTION_ARGS)
{
	static const LedgerArgs args = {0, 1, 2, 4, 5};
	text	   *events_head = HashArg(fcinfo, 3, "events_hash");

	PG_RETURN_TEXT_P(cstring_to_text(ExtendLedger(fcinfo, &args, events_head)));
}

PG_FUNCTION_INFO_V1(verist_commit_advance);

/*
 * SQL: verist_commit_advance(events_hash text, events_seq int, heads text[],
 *							  tails text[], ledger_hash text, ledger_seq int,
 *							  version int, head text, tail text,
 *							  OUT events_hash text, OUT ledger_hash text)
 *
 * Internal (0.4.0): both heads of a run after a commit, inside the commit's
 * state UPDATE -- the event chain extended by the commit's events (their
 * hashes go back to the commit, as with verist_chain_extend), then the ledger
 * by the commit's entry, which covers the new event head.
 */
Datum
verist_commit_advance(PG_FUNCTION_ARGS)
{
	static const LedgerArgs args = {4, 5, 6, 7, 8};
	text	   *ev_prev = HashArg(fcinfo, 0, "events_hash");
	int32		ev_seq;
	char	   *events_head;
	char	   *ledger_head;
	TupleDesc	desc;
	Datum		values[2];
	bool		nulls[2] = {false, false};

	VeristRequireArg(fcinfo, 1, "events_seq");
	ev_seq = PG_GETARG_INT32(1);
	VeristRequireArg(fcinfo, 2, "heads");
	VeristRequireArg(fcinfo, 3, "tails");
	events_head = VeristChainExtendArrays(ev_prev, ev_seq, PG_GETARG_ARRAYTYPE_P(2),
										  PG_GETARG_ARRAYTYPE_P(3));
	ledger_head = ExtendLedger(fcinfo, &args, cstring_to_text(events_head));

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	values[0] = CStringGetTextDatum(events_head);
	values[1] = CStringGetTextDatum(ledger_head);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(desc), values, nulls)));
}

PG_FUNCTION_INFO_V1(verist_ledger_genesis);

/* SQL: verist_ledger_genesis(workflow_id, run_id) returns text (public, pure) */
Datum
verist_ledger_genesis(PG_FUNCTION_ARGS)
{
	char		hex[VERIST_HASH_HEX_LEN + 1];

	VeristLedgerGenesis(VeristIdArg(fcinfo, 0, "workflow_id"),
						VeristIdArg(fcinfo, 1, "run_id"), hex, NULL);
	PG_RETURN_TEXT_P(cstring_to_text(hex));
}

PG_FUNCTION_INFO_V1(verist_ledger_entry_hash);

/*
 * SQL: verist_ledger_entry_hash(prev_hash text, events_hash text, entry jsonb)
 *		returns text (public, pure)
 *
 * hex(SHA-256(prev_hash || events_hash || canonical(entry))), canonical in
 * the chain's form: the documented formula, for anyone re-deriving a hash
 * (and for the upgrade that adopts existing runs).
 */
Datum
verist_ledger_entry_hash(PG_FUNCTION_ARGS)
{
	text	   *prev = HashArg(fcinfo, 0, "prev_hash");
	text	   *events = HashArg(fcinfo, 1, "events_hash");
	Jsonb	   *entry = VeristObjectArg(fcinfo, 2, "entry");
	StringInfoData buf;
	char		hex[VERIST_HASH_HEX_LEN + 1];

	initStringInfo(&buf);
	appendBinaryStringInfo(&buf, VARDATA_ANY(prev), VERIST_HASH_HEX_LEN);
	appendBinaryStringInfo(&buf, VARDATA_ANY(events), VERIST_HASH_HEX_LEN);
	VeristCanonicalText(&buf, &entry->root, VERIST_CANON_CHAIN);
	VeristSha256Hex(NULL, buf.data, buf.len, hex);
	PG_RETURN_TEXT_P(cstring_to_text(hex));
}
