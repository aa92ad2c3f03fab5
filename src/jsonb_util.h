/*
 * jsonb_util.h
 *		Small jsonb and JSON-number helpers that argument checks, shape
 *		checks and canonical JSON all need.  They depend on nothing of
 *		verist's.
 */
#ifndef VERIST_JSONB_UTIL_H
#define VERIST_JSONB_UTIL_H

#include "postgres.h"

#include "utils/jsonb.h"
#include "utils/numeric.h"

extern void VeristPushMember(JsonbParseState **state, const char *key,
							 JsonbValue *value);
extern JsonbValue *VeristObjectField(JsonbContainer *object, const char *key);
extern bool VeristJsonNumberToDouble(Numeric num, double *result);
extern const char *VeristJsonTypeName(const JsonbValue *v);
extern const char *VeristJsonbTypeName(Jsonb *jb);

#endif							/* VERIST_JSONB_UTIL_H */
