/*
 * canonical.h
 *		Canonical JSON, SHA-256 and dedupe keys.
 */
#ifndef VERIST_CANONICAL_H
#define VERIST_CANONICAL_H

#include "postgres.h"

#include "common/cryptohash.h"
#include "datatype/timestamp.h"
#include "lib/stringinfo.h"
#include "utils/jsonb.h"

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
extern void VeristAppendJsText(StringInfo out, text *t);
extern void VeristAppendJsonOrNull(StringInfo out, JsonbContainer *value);
extern void VeristAppendJsTimestamp(StringInfo out, TimestampTz ts);
extern void VeristSha256Hex(pg_cryptohash_ctx *ctx, const char *data, size_t len, char *hex);
extern char *VeristDedupeKey(const char *workflow_id, const char *run_id,
							 const char *step_id, JsonbContainer *command,
							 pg_cryptohash_ctx *ctx);

#endif							/* VERIST_CANONICAL_H */
