/*
 * chain.c
 *		The tamper-evident event log: the format of a run's hash chain, and
 *		how a commit extends it (verist 0.2.0).  Reading and verifying the
 *		chain is audit.c's.
 *
 * Each event of a run carries a gapless sequence number (1, 2, ...) and
 *
 *   hash = hex(SHA-256(prev || canonical(content)))
 *
 * where prev is the 64 hex characters of the previous event's hash (for the
 * first event, the run's genesis hash) and content is the object
 *
 *   {"llmTrace", "payload", "runId", "seq", "stepId", "ts", "type",
 *    "workflowId"}
 *
 * printed in the chain's form of canonical JSON (canonical.h; these keys
 * appear in exactly that order), with ts the event's created_at in microseconds since the Unix
 * epoch (a JSON number: a double, like every number there) and SQL NULL
 * printed as JSON null.  The genesis hash of a run is
 * hex(SHA-256(canonical({"chain": "verist/1", "runId", "workflowId"}))).
 *
 * The run's chain head (its last sequence number and hash) is kept on its
 * verist_state row, so extending the chain reads nothing but that row.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "common/sha2.h"
#include "utils/array.h"
#include "utils/builtins.h"

#include "args.h"
#include "canonical.h"
#include "chain.h"
#include "compat.h"
#include "counters.h"
#include "errors.h"
#include "plans.h"

#define CHAIN_NAME "verist/1"	/* names the format inside the genesis hash */

/* The genesis hash of a run, into hex[VERIST_HASH_HEX_LEN + 1]. */
void
VeristChainGenesis(text *workflow_id, text *run_id, char *hex, pg_cryptohash_ctx *ctx)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfoString(&buf, "{\"chain\":\"" CHAIN_NAME "\",\"runId\":");
	VeristAppendJsText(&buf, run_id);
	appendStringInfoString(&buf, ",\"workflowId\":");
	VeristAppendJsText(&buf, workflow_id);
	appendStringInfoChar(&buf, '}');
	VeristSha256Hex(ctx, buf.data, buf.len, hex);
	pfree(buf.data);
}

/* Is a text exactly VERIST_HASH_HEX_LEN lowercase hex digits? */
bool
VeristIsHashHex(text *t)
{
	const char *p = VARDATA_ANY(t);

	if (VARSIZE_ANY_EXHDR(t) != VERIST_HASH_HEX_LEN)
		return false;
	for (int i = 0; i < VERIST_HASH_HEX_LEN; i++)
		if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f')))
			return false;
	return true;
}

/*
 * The canonical content of an event, split around its sequence number, the
 * one part a commit may learn only from its run's chain head:
 *   head: {"llmTrace":..,"payload":..,"runId":..,"seq":
 *   tail: ,"stepId":..,"ts":..,"type":..,"workflowId":..}
 * ev->seq is not used.  payload and trace are NULL for JSON null.
 */
void
VeristChainEventParts(const VeristChainEvent *ev, StringInfo head, StringInfo tail)
{
	appendStringInfoString(head, "{\"llmTrace\":");
	VeristAppendJsonOrNull(head, ev->trace);
	appendStringInfoString(head, ",\"payload\":");
	VeristAppendJsonOrNull(head, ev->payload);
	appendStringInfoString(head, ",\"runId\":");
	VeristAppendJsText(head, ev->run_id);
	appendStringInfoString(head, ",\"seq\":");

	appendStringInfoString(tail, ",\"stepId\":");
	VeristAppendJsText(tail, ev->step_id);
	appendStringInfoString(tail, ",\"ts\":");
	VeristAppendJsTimestamp(tail, ev->created_at);
	appendStringInfoString(tail, ",\"type\":");
	VeristAppendJsText(tail, ev->type);
	appendStringInfoString(tail, ",\"workflowId\":");
	VeristAppendJsText(tail, ev->workflow_id);
	appendStringInfoChar(tail, '}');
}

/*
 * Chain n events, given by their parts, onto prev (VERIST_HASH_HEX_LEN hex
 * characters) with sequence numbers first_seq, first_seq + 1 ...: hashes[i]
 * gets hex(SHA-256(hash before + head + seq + tail)).  The callers keep the
 * numbers within int32 (64 bits here only so that no sum can overflow).
 */
void
VeristChainHashParts(const char *prev, int64 first_seq, int n, const VeristChainParts *parts,
					 char (*hashes)[VERIST_HASH_HEX_LEN + 1], pg_cryptohash_ctx *ctx)
{
	const char *before = prev;

	for (int i = 0; i < n; i++)
	{
		char		seq[MAXINT8LEN + 1];
		uint8		digest[PG_SHA256_DIGEST_LENGTH];
		int			seqlen = pg_lltoa(first_seq + i, seq);

		if (pg_cryptohash_init(ctx) < 0 ||
			pg_cryptohash_update(ctx, (const uint8 *) before, VERIST_HASH_HEX_LEN) < 0 ||
			pg_cryptohash_update(ctx, (const uint8 *) parts[i].head, parts[i].headlen) < 0 ||
			pg_cryptohash_update(ctx, (const uint8 *) seq, seqlen) < 0 ||
			pg_cryptohash_update(ctx, (const uint8 *) parts[i].tail, parts[i].taillen) < 0 ||
			pg_cryptohash_final(ctx, digest, sizeof(digest)) < 0)
			elog(ERROR, "could not compute SHA-256 hash: %s", pg_cryptohash_error(ctx));
		hex_encode((const char *) digest, sizeof(digest), hashes[i]);
		hashes[i][VERIST_HASH_HEX_LEN] = '\0';
		before = hashes[i];
	}
}

/*
 * The hash of one event chained to prev (both VERIST_HASH_HEX_LEN hex
 * characters), into hex.
 */
void
VeristChainEventHash(const char *prev, const VeristChainEvent *ev, char *hex,
					 pg_cryptohash_ctx *ctx)
{
	StringInfoData head;
	StringInfoData tail;
	VeristChainParts parts;
	char		hash[1][VERIST_HASH_HEX_LEN + 1];

	initStringInfo(&head);
	initStringInfo(&tail);
	VeristChainEventParts(ev, &head, &tail);
	parts.head = head.data;
	parts.headlen = head.len;
	parts.tail = tail.data;
	parts.taillen = tail.len;
	if (ctx != NULL)
		VeristChainHashParts(prev, ev->seq, 1, &parts, hash, ctx);
	else
	{
		pg_cryptohash_ctx *sha = pg_cryptohash_create(PG_SHA256);

		VeristChainHashParts(prev, ev->seq, 1, &parts, hash, sha);
		pg_cryptohash_free(sha);
	}
	memcpy(hex, hash[0], VERIST_HASH_HEX_LEN + 1);
	pfree(head.data);
	pfree(tail.data);
}

/*
 * Where verist_chain_extend leaves the hashes it computes, while a commit's
 * state UPDATE runs it (VeristUpdateWithChain); NULL otherwise.
 */
static char (*extend_out)[VERIST_HASH_HEX_LEN + 1] = NULL;
static int	extend_out_count = 0;

/*
 * Run the statement of a commit that moves a run's chain head through
 * verist_chain_extend, collecting the events' hashes into hashes[0..n-1].
 *
 * Why: the new head depends on the old, which only the UPDATE that moves the
 * version reads (and locks).  Computing the chain inside that UPDATE saves a
 * statement that would read the head first; the hashes come back through
 * extend_out.  The UPDATE evaluates the function once per row it updates
 * (again, with the same head, if a concurrent overlay made it re-check the
 * row), and never when no row matched.
 */
uint64
VeristUpdateWithChain(VeristQuery *query, Datum *values, const char *nulls,
					  char (*hashes)[VERIST_HASH_HEX_LEN + 1], int n)
{
	char		(*saved_out)[VERIST_HASH_HEX_LEN + 1] = extend_out;
	int			saved_count = extend_out_count;
	uint64		moved;

	/* saved and restored: a trigger on verist_state could commit too */
	extend_out = hashes;
	extend_out_count = n;
	PG_TRY();
	{
		moved = VeristExecute(query, values, nulls, false, 0);
	}
	PG_FINALLY();
	{
		extend_out = saved_out;
		extend_out_count = saved_count;
	}
	PG_END_TRY();
	return moved;
}

/*
 * The chain head after the events whose content parts (see
 * VeristChainEventParts) are given as two text[] Datums, chained onto prev at
 * prev_seq; the events' hashes go to the stash of VeristUpdateWithChain when
 * a commit's UPDATE is running.  Checks its arguments like any SQL function:
 * it is called from SQL, inside that UPDATE (verist_chain_extend, and from
 * 0.4.0 verist_commit_advance).  Returns a palloc'd hex string.
 */
char *
VeristChainExtendArrays(text *prev, int32 prev_seq, ArrayType *heads_arr, ArrayType *tails_arr)
{
	Datum	   *heads;
	Datum	   *tails;
	int			n;
	int			ntails;
	VeristChainParts *parts;
	char		(*hashes)[VERIST_HASH_HEX_LEN + 1];
	pg_cryptohash_ctx *sha;

	if (array_contains_nulls(heads_arr) || array_contains_nulls(tails_arr))
		ereport(ERROR,
				(VeristErrcode(ERRCODE_VERIST_SERIALIZATION),
				 errmsg("invalid chain extension"),
				 errdetail("The heads and tails must not hold nulls.")));
	deconstruct_array(heads_arr, TEXTOID, -1, false, TYPALIGN_INT, &heads, NULL, &n);
	deconstruct_array(tails_arr, TEXTOID, -1, false, TYPALIGN_INT, &tails, NULL, &ntails);
	if (!VeristIsHashHex(prev) || n != ntails || prev_seq < 0)
		ereport(ERROR,
				(VeristErrcode(ERRCODE_VERIST_SERIALIZATION),
				 errmsg("invalid chain extension"),
				 errdetail("A 64-hex-digit hash, a sequence number and as many heads as tails are needed.")));
	if (prev_seq > PG_INT32_MAX - n)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("a run can hold at most %d events", PG_INT32_MAX),
				 errdetail("The run holds %d events; %d more do not fit.", prev_seq, n)));
	if (n == 0)
		return text_to_cstring(prev);

	parts = palloc(sizeof(VeristChainParts) * n);
	for (int i = 0; i < n; i++)
	{
		text	   *h = DatumGetTextPP(heads[i]);
		text	   *t = DatumGetTextPP(tails[i]);

		parts[i].head = VARDATA_ANY(h);
		parts[i].headlen = VARSIZE_ANY_EXHDR(h);
		parts[i].tail = VARDATA_ANY(t);
		parts[i].taillen = VARSIZE_ANY_EXHDR(t);
	}
	hashes = (extend_out != NULL && extend_out_count == n) ? extend_out :
		palloc(sizeof(*hashes) * n);
	sha = pg_cryptohash_create(PG_SHA256);
	VeristChainHashParts(VARDATA_ANY(prev), (int64) prev_seq + 1, n, parts, hashes, sha);
	pg_cryptohash_free(sha);
	return pstrdup(hashes[n - 1]);
}

PG_FUNCTION_INFO_V1(verist_chain_extend);

/*
 * SQL: verist_chain_extend(prev_hash text, prev_seq int, heads text[],
 *							tails text[]) returns text
 *
 * The new chain head after the events whose content parts are given: for use
 * inside a commit's state UPDATE (0.2.0 to 0.3.x).
 */
Datum
verist_chain_extend(PG_FUNCTION_ARGS)
{
	text	   *prev = VeristTextArg(fcinfo, 0, "prev_hash");
	int32		prev_seq;

	VeristRequireArg(fcinfo, 1, "prev_seq");
	prev_seq = PG_GETARG_INT32(1);
	VeristRequireArg(fcinfo, 2, "heads");
	VeristRequireArg(fcinfo, 3, "tails");
	PG_RETURN_TEXT_P(cstring_to_text(VeristChainExtendArrays(prev, prev_seq,
															 PG_GETARG_ARRAYTYPE_P(2),
															 PG_GETARG_ARRAYTYPE_P(3))));
}
