/*
 * args.h
 *		Fetching and checking the arguments of verist's SQL functions.
 *
 * None of verist's functions is STRICT: a NULL required argument, like every
 * other malformed argument, is a serialization_error (VRS01) naming the
 * argument, raised before anything is written.
 */
#ifndef VERIST_ARGS_H
#define VERIST_ARGS_H

#include "postgres.h"

#include "fmgr.h"
#include "datatype/timestamp.h"
#include "utils/jsonb.h"

/* Three ids must fit one btree entry (2704 bytes). */
#define VERIST_MAX_ID_BYTES 512

/*
 * The longest lease, delay or age: '100 years' as PostgreSQL compares
 * intervals (a month is 30 days), 36000 days.  Added to or taken from any
 * clock reading it stays far inside the timestamp range.
 */
#define VERIST_MAX_INTERVAL_DAYS 36000

extern void VeristRequireArg(FunctionCallInfo fcinfo, int argno, const char *name);
extern text *VeristTextArg(FunctionCallInfo fcinfo, int argno, const char *name);
extern text *VeristIdArg(FunctionCallInfo fcinfo, int argno, const char *name);
extern Jsonb *VeristObjectArg(FunctionCallInfo fcinfo, int argno, const char *name);
extern Jsonb *VeristArrayArg(FunctionCallInfo fcinfo, int argno, const char *name);
extern int32 VeristCountArg(FunctionCallInfo fcinfo, int argno, const char *name);
extern int64 VeristDurationArg(FunctionCallInfo fcinfo, int argno, const char *name);
extern Interval *VeristAgeArg(FunctionCallInfo fcinfo, int argno, const char *name);

#endif							/* VERIST_ARGS_H */
