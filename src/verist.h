/*
 * verist.h
 *		Declarations shared by the files of the verist extension.
 */
#ifndef VERIST_H
#define VERIST_H

#include "postgres.h"

#include "executor/spi.h"
#include "fmgr.h"
#include "common/cryptohash.h"
#include "datatype/timestamp.h"
#include "utils/timestamp.h"
#include "lib/stringinfo.h"
#include "utils/jsonb.h"

#if PG_VERSION_NUM < 150000
#error "verist requires PostgreSQL 15 or later"
#endif

#define VERIST_MAX_ARGS 8

/*
 * A statement the C code runs through SPI.  The text names verist's tables as
 * @extschema@.name and everything else as pg_catalog.name; the schema is filled
 * in when the statement is first prepared, and the plan is kept for the life
 * of the backend (re-prepared only if the extension's schema changes).
 */
typedef struct VeristQuery
{
	const char *sql;
	int			nargs;
	Oid			argtypes[VERIST_MAX_ARGS];
	/* filled in by VeristExecute */
	SPIPlanPtr	plan;
	uint64		generation;
} VeristQuery;

/* plans.c */
extern void VeristPlansInit(void);
extern SPIPlanPtr VeristPlan(VeristQuery *query);
extern uint64 VeristExecute(VeristQuery *query, Datum *values, const char *nulls,
							bool read_only, long count);
typedef void (*VeristDuplicate) (const char *detail, void *arg);
extern uint64 VeristExecuteInsert(VeristQuery *query, Datum *values, const char *nulls,
								  const char *unique_index, VeristDuplicate on_duplicate,
								  void *arg);
extern void VeristBeginSetResult(FunctionCallInfo fcinfo);
extern void VeristStoreRows(FunctionCallInfo fcinfo);
extern Datum VeristReturnRow(FunctionCallInfo fcinfo, HeapTuple tuple);
extern void VeristConnect(FunctionCallInfo fcinfo);
extern void VeristConnectExt(FunctionCallInfo fcinfo, int options);
extern Oid	VeristRelation(const char *name);
extern void VeristFinish(void);
extern Datum VeristBuildArray(Datum *elems, bool *nulls, int count, Oid elemtype);

/* What routing does with a command (SPEC 3a: its category). */
typedef enum VeristCommandKind
{
	VERIST_CMD_PLAIN,			/* invoke, fanout, emit: to the outbox */
	VERIST_CMD_REVIEW,			/* blocks the run, defers the others */
	VERIST_CMD_SUSPEND			/* blocks the run, discards the others */
} VeristCommandKind;

/* validate.c: argument checks; each raises serialization_error */
#define VERIST_MAX_ID_BYTES 512	/* three ids must fit one btree entry (2704 bytes) */
extern void VeristRequireArg(FunctionCallInfo fcinfo, int argno, const char *name);
extern text *VeristTextArg(FunctionCallInfo fcinfo, int argno, const char *name);
extern text *VeristIdArg(FunctionCallInfo fcinfo, int argno, const char *name);
extern Jsonb *VeristObjectArg(FunctionCallInfo fcinfo, int argno, const char *name);
/*
 * The longest lease or delay: '100 years' as PostgreSQL compares intervals
 * (a month is 30 days), 36000 days.  Added to any clock reading it stays far
 * inside the timestamp range.
 */
#define VERIST_MAX_INTERVAL_DAYS 36000
extern double VeristIntervalMicros(const Interval *i);
extern int64 VeristDurationArg(FunctionCallInfo fcinfo, int argno, const char *name);
extern int32 VeristCountArg(FunctionCallInfo fcinfo, int argno, const char *name);
extern Jsonb *VeristArrayArg(FunctionCallInfo fcinfo, int argno, const char *name);
extern void VeristValidateEvent(JsonbValue *element, int index);
extern VeristCommandKind VeristValidateCommand(JsonbValue *element, int index);
extern JsonbValue *VeristObjectField(JsonbContainer *object, const char *key);
extern bool VeristIsNonEmptyString(const JsonbValue *v);
extern const char *VeristJsonTypeName(const JsonbValue *v);

/* canonical.c */
#define VERIST_HASH_HEX_LEN 64	/* lowercase hex of a SHA-256 digest */
/*
 * The two forms of canonical JSON: JavaScript's (dedupe keys,
 * verist_canonical_json) and the hash chain's, which differs only where
 * JavaScript would lose data: it keeps "__proto__" members and prints numbers
 * beyond the double range as their exact decimal text.
 */
typedef enum VeristCanonMode
{
	VERIST_CANON_JS,
	VERIST_CANON_CHAIN
} VeristCanonMode;
extern void VeristCanonicalText(StringInfo out, JsonbContainer *container,
								VeristCanonMode mode);
extern void VeristAppendJsString(StringInfo out, const char *s, int len);
extern void VeristAppendJsNumber(StringInfo out, double x);
extern void VeristSha256Hex(pg_cryptohash_ctx *ctx, const char *data, size_t len, char *hex);
extern char *VeristDedupeKey(const char *workflow_id, const char *run_id,
							 const char *step_id, JsonbContainer *command,
							 pg_cryptohash_ctx *ctx);
extern bool VeristJsonNumberToDouble(Numeric num, double *result);

/* chain.c: the per-run hash chain of events (0.2.0) */
typedef struct VeristChainEvent
{
	text	   *workflow_id;
	text	   *run_id;
	text	   *step_id;
	text	   *type;
	JsonbContainer *payload;	/* NULL: JSON null */
	JsonbContainer *trace;		/* NULL: JSON null */
	int32		seq;
	TimestampTz created_at;
} VeristChainEvent;

/* An event's canonical content, split around its sequence number. */
typedef struct VeristChainParts
{
	const char *head;
	int			headlen;
	const char *tail;
	int			taillen;
} VeristChainParts;

extern void VeristChainGenesis(text *workflow_id, text *run_id, char *hex,
							   pg_cryptohash_ctx *ctx);
extern void VeristChainEventParts(const VeristChainEvent *ev, StringInfo head, StringInfo tail);
extern void VeristChainHashParts(const char *prev, int64 first_seq, int n,
								 const VeristChainParts *parts,
								 char (*hashes)[VERIST_HASH_HEX_LEN + 1],
								 pg_cryptohash_ctx *ctx);
extern uint64 VeristUpdateWithChain(VeristQuery *query, Datum *values,
									char (*hashes)[VERIST_HASH_HEX_LEN + 1], int n);
extern void VeristChainEventHash(const char *prev, const VeristChainEvent *ev, char *hex,
								 pg_cryptohash_ctx *ctx);

/* events.c */
extern void VeristEventsWriterFloor(void);

/* verist.c: settings */
extern bool verist_hash_only;
extern bool verist_notify;
typedef enum VeristNotifyPayload
{
	VERIST_NOTIFY_PAYLOAD_NONE,
	VERIST_NOTIFY_PAYLOAD_WORKFLOW_ID
} VeristNotifyPayload;
extern int	verist_notify_payload;

/* outbox.c: used by commit.c and blocks.c */
extern uint64 VeristInsertOutbox(text *workflow_id, text *run_id, text *step_id,
								 Datum commands, Datum keys, const char *status,
								 VeristDuplicate on_duplicate, void *arg);

#define VERIST_NOTIFY_CHANNEL "verist_outbox"
extern void VeristNotifyPending(text *workflow_id);

#endif							/* VERIST_H */
