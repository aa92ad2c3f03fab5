/*
 * prepare.c
 *		Everything a commit computes before it writes: its events laid out
 *		as arrays (and their chain content), its commands checked, keyed and
 *		routed.  Bad input fails here, before the first statement runs.
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "common/sha2.h"
#include "port/pg_bswap.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

#include "canonical.h"
#include "chain.h"
#include "commit.h"
#include "compat.h"
#include "counters.h"
#include "errors.h"
#include "jsonb_util.h"
#include "plans.h"
#include "shapes.h"
#include "verist.h"

/* A jsonb Datum for a field's value, or SQL NULL when absent or JSON null. */
Datum
VeristFieldJsonb(JsonbValue *v, bool *isnull)
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

/* Validate the events argument and lay it out, event by event. */
void
VeristPrepareEvents(Jsonb *events, CommitEvents *ev)
{
	int			count = JsonContainerSize(&events->root);
	int			n = Max(count, 1);

	ev->type_texts = palloc(sizeof(text *) * n);
	ev->payloads = palloc(sizeof(Datum) * n);
	ev->payload_nulls = palloc(sizeof(bool) * n);
	ev->traces = palloc(sizeof(Datum) * n);
	ev->trace_nulls = palloc(sizeof(bool) * n);
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
		ev->payloads[i] = VeristFieldJsonb(VeristObjectField(e->val.binary.data, "payload"),
										   &ev->payload_nulls[i]);
		ev->traces[i] = VeristFieldJsonb(StoredTrace(VeristObjectField(e->val.binary.data,
																	   "llmTrace")),
										 &ev->trace_nulls[i]);
		ev->payload_roots[i] = DatumRoot(ev->payloads[i], ev->payload_nulls[i]);
		ev->trace_roots[i] = DatumRoot(ev->traces[i], ev->trace_nulls[i]);
	}

	ev->count = count;
	ev->parts = NULL;
	ev->hash_hex = NULL;
	ev->base_seq = 0;
}

/*
 * The events as the parallel arrays their INSERT statement takes: types
 * (text[]), payloads and traces (jsonb[]) and, once chained, hashes (text[]).
 */
void
VeristEventArrays(CommitEvents *ev, Datum *types, Datum *payloads, Datum *traces,
				  Datum *hashes)
{
	Datum	   *t = palloc(sizeof(Datum) * Max(ev->count, 1));

	for (int i = 0; i < ev->count; i++)
		t[i] = PointerGetDatum(ev->type_texts[i]);
	*types = VeristBuildArray(t, NULL, ev->count, TEXTOID);
	*payloads = VeristBuildArray(ev->payloads, ev->payload_nulls, ev->count, JSONBOID);
	*traces = VeristBuildArray(ev->traces, ev->trace_nulls, ev->count, JSONBOID);
	*hashes = (Datum) 0;
	if (ev->hash_hex != NULL)
	{
		Datum	   *h = palloc(sizeof(Datum) * Max(ev->count, 1));

		for (int i = 0; i < ev->count; i++)
			h[i] = PointerGetDatum(cstring_to_text_with_len(ev->hash_hex[i],
															VERIST_HASH_HEX_LEN));
		*hashes = VeristBuildArray(h, NULL, ev->count, TEXTOID);
	}
}

/*
 * Lay out each event's canonical content around its sequence number, which
 * only the run's chain head will tell (chain.c).
 */
void
VeristPrepareChain(text *wf, text *run, text *step, CommitEvents *ev)
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

/* The hashes are known (hash_hex): the events get base_seq + 1, + 2, ... */
void
VeristChainDone(CommitEvents *ev, int32 base_seq)
{
	ev->base_seq = base_seq;
}

/* The events' content parts as two text[] (heads, tails), for verist_chain_extend. */
void
VeristPartsArrays(CommitEvents *ev, Datum *heads, Datum *tails)
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
					(VeristErrcode(ERRCODE_VERIST_SERIALIZATION),
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
void
VeristPrepareCommands(Jsonb *commands, const char *wf, const char *run, const char *step,
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
						(VeristErrcode(ERRCODE_VERIST_SERIALIZATION),
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
	cmds->commands = values;
	cmds->keys = keys;
}

/* Feed one part of a digest, after its length (parts may hold any byte). */
static void
DigestPart(pg_cryptohash_ctx *sha, const char *data, uint32 len)
{
	uint32		n = pg_hton32(len);

	if (pg_cryptohash_update(sha, (const uint8 *) &n, sizeof(n)) < 0 ||
		pg_cryptohash_update(sha, (const uint8 *) data, len) < 0)
		elog(ERROR, "could not compute SHA-256 hash: %s", pg_cryptohash_error(sha));
}

/* Feed a jsonb value's binary form: one per JSON value, as jsonb sees it. */
static void
DigestJsonb(pg_cryptohash_ctx *sha, Jsonb *jb)
{
	DigestPart(sha, (const char *) &jb->root, VARSIZE(jb) - VARHDRSZ);
}

/*
 * The digest of a commit's arguments (0.4.0), into hex: SHA-256 of the step
 * id, the expected version, and the jsonb binary form of output, events and
 * commands, each part after its length.  jsonb stores an object's keys
 * sorted and once, strings decoded and numbers as written (1.0 is not 1.00),
 * so a retry that sends the same request again -- whatever its key order,
 * spacing or escapes -- has the same digest and finds the stored result by
 * it; a commit differing in any value, digits beyond a double's included,
 * does not.  Hashing the binary form costs a fraction of printing canonical
 * JSON (the commit's benchmark found that fingerprint to be a third of
 * 0.4.0's added cost).
 */
void
VeristCommitInput(text *step, int32 expected, Jsonb *output, Jsonb *events, Jsonb *commands,
				  char *hex)
{
	pg_cryptohash_ctx *sha = pg_cryptohash_create(PG_SHA256);
	uint32		version = pg_hton32((uint32) expected);
	uint8		digest[PG_SHA256_DIGEST_LENGTH];

	if (pg_cryptohash_init(sha) < 0)
		elog(ERROR, "could not compute SHA-256 hash: %s", pg_cryptohash_error(sha));
	DigestPart(sha, VARDATA_ANY(step), VARSIZE_ANY_EXHDR(step));
	DigestPart(sha, (const char *) &version, sizeof(version));
	DigestJsonb(sha, output);
	DigestJsonb(sha, events);
	DigestJsonb(sha, commands);
	if (pg_cryptohash_final(sha, digest, sizeof(digest)) < 0)
		elog(ERROR, "could not compute SHA-256 hash: %s", pg_cryptohash_error(sha));
	pg_cryptohash_free(sha);
	hex_encode((const char *) digest, sizeof(digest), hex);
	hex[VERIST_HASH_HEX_LEN] = '\0';
}
