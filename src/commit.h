/*
 * commit.h
 *		What the two halves of a commit share: prepare.c builds these from
 *		the arguments, commit.c writes them.  Internal to those two files.
 */
#ifndef VERIST_COMMIT_H
#define VERIST_COMMIT_H

#include "postgres.h"

#include "common/cryptohash.h"
#include "utils/jsonb.h"

#include "canonical.h"
#include "chain.h"
#include "shapes.h"

/* The events of a commit, laid out for their INSERT. */
typedef struct CommitEvents
{
	int			count;
	text	  **type_texts;		/* each event's type */
	Datum	   *payloads;		/* each payload (jsonb) ... */
	bool	   *payload_nulls;	/* ... or SQL NULL */
	Datum	   *traces;			/* each stored llmTrace (jsonb) ... */
	bool	   *trace_nulls;	/* ... or SQL NULL */
	JsonbContainer **payload_roots; /* each payload, NULL for null */
	JsonbContainer **trace_roots;	/* each stored llmTrace, NULL for null */

	/* the hash chain (0.2.0) */
	VeristChainParts *parts;	/* each event's content, split at its seq */
	char		(*hash_hex)[VERIST_HASH_HEX_LEN + 1];	/* once the head is known */
	int32		base_seq;		/* the head's seq before: events get base + 1 ... */
} CommitEvents;

/* The commands of a commit, routed. */
typedef struct CommitCommands
{
	/* outbox rows to insert */
	int			count;
	Datum	   *commands;		/* each command (jsonb) */
	Datum	   *keys;			/* each dedupe key (text) */
	char	  **key_strings;	/* the same keys, for messages */
	int		   *indexes;		/* each row's index in the commands argument */
	const char *status;			/* "pending" or "deferred" */

	/* the blocking command, if any */
	JsonbContainer *block;
	VeristCommandKind block_kind;
} CommitCommands;

extern Datum VeristFieldJsonb(JsonbValue *v, bool *isnull);
extern void VeristPrepareEvents(Jsonb *events, CommitEvents *ev);
extern void VeristPrepareChain(text *wf, text *run, text *step, CommitEvents *ev);
extern void VeristChainDone(CommitEvents *ev, int32 base_seq);
extern void VeristPartsArrays(CommitEvents *ev, Datum *heads, Datum *tails);
extern void VeristEventArrays(CommitEvents *ev, Datum *types, Datum *payloads, Datum *traces,
							  Datum *hashes);
extern void VeristPrepareCommands(Jsonb *commands, const char *wf, const char *run,
								  const char *step, CommitCommands *cmds,
								  pg_cryptohash_ctx *sha);
extern void VeristCommitInput(text *step, int32 expected, Jsonb *output, Jsonb *events,
							  Jsonb *commands, char *hex);

#endif							/* VERIST_COMMIT_H */
