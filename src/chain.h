/*
 * chain.h
 *		The per-run hash chain of events (verist 0.2.0): its format and how
 *		a commit extends it.
 */
#ifndef VERIST_CHAIN_H
#define VERIST_CHAIN_H

#include "postgres.h"

#include "common/cryptohash.h"
#include "datatype/timestamp.h"
#include "lib/stringinfo.h"
#include "utils/array.h"
#include "utils/jsonb.h"

#include "canonical.h"
#include "plans.h"

/* One event as the chain sees it. */
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
extern bool VeristIsHashHex(text *t);
extern void VeristChainEventParts(const VeristChainEvent *ev, StringInfo head, StringInfo tail);
extern void VeristChainHashParts(const char *prev, int64 first_seq, int n,
								 const VeristChainParts *parts,
								 char (*hashes)[VERIST_HASH_HEX_LEN + 1],
								 pg_cryptohash_ctx *ctx);
extern void VeristChainEventHash(const char *prev, const VeristChainEvent *ev, char *hex,
								 pg_cryptohash_ctx *ctx);
extern uint64 VeristUpdateWithChain(VeristQuery *query, Datum *values, const char *nulls,
									char (*hashes)[VERIST_HASH_HEX_LEN + 1], int n);
extern char *VeristChainExtendArrays(text *prev, int32 prev_seq, ArrayType *heads,
									 ArrayType *tails);

#endif							/* VERIST_CHAIN_H */
