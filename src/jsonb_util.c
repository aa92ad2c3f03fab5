/*
 * jsonb_util.c
 *		Small jsonb and JSON-number helpers (see jsonb_util.h).
 */
#include "postgres.h"

#include <math.h>

#include "utils/builtins.h"
#include "utils/fmgrprotos.h"

#include "jsonb_util.h"

/* Push "key": value into an object under construction. */
void
VeristPushMember(JsonbParseState **state, const char *key, JsonbValue *value)
{
	JsonbValue	k;

	k.type = jbvString;
	k.val.string.val = (char *) key;
	k.val.string.len = strlen(key);
	pushJsonbValue(state, WJB_KEY, &k);
	pushJsonbValue(state, WJB_VALUE, value);
}

/* Look up one key of an object container; NULL when absent. */
JsonbValue *
VeristObjectField(JsonbContainer *object, const char *key)
{
	return getKeyJsonValueFromContainer(object, key, strlen(key), NULL);
}

/*
 * Read a jsonb number as JavaScript would read its JSON text: the nearest
 * double.  Returns false for values beyond the double range.
 */
bool
VeristJsonNumberToDouble(Numeric num, double *result)
{
	char	   *text = DatumGetCString(DirectFunctionCall1(numeric_out,
														   NumericGetDatum(num)));
	double		d = strtod(text, NULL);

	pfree(text);
	if (isnan(d) || isinf(d))
		return false;
	*result = d;
	return true;
}

/* Name the JSON type of a value, for error details. */
const char *
VeristJsonTypeName(const JsonbValue *v)
{
	switch (v->type)
	{
		case jbvNull:
			return "null";
		case jbvString:
			return "string";
		case jbvNumeric:
			return "number";
		case jbvBool:
			return "boolean";
		case jbvArray:
			return "array";
		case jbvObject:
			return "object";
		case jbvBinary:
			if (JsonContainerIsObject(v->val.binary.data))
				return "object";
			return "array";
		default:
			return "unknown";
	}
}

/* Name the JSON type of a whole jsonb datum. */
const char *
VeristJsonbTypeName(Jsonb *jb)
{
	JsonbValue	v;

	if (JB_ROOT_IS_SCALAR(jb))
	{
		JsonbExtractScalar(&jb->root, &v);
		return VeristJsonTypeName(&v);
	}
	return JB_ROOT_IS_OBJECT(jb) ? "object" : "array";
}
