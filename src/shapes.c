/*
 * shapes.c
 *		The shapes of what a Verist step returns: its events and the five
 *		kernel command types (README "Shapes").
 *
 * Each check raises serialization_error (VRS01) with a message that names the
 * event or command by its index, and runs before the first write, so bad
 * input never leaves a partial commit behind.
 */
#include "postgres.h"

#include <math.h>

#include "counters.h"
#include "errors.h"
#include "jsonb_util.h"
#include "shapes.h"

/* Kinds of value a field of an event, trace or command must hold. */
typedef enum FieldKind
{
	FIELD_ANY,					/* any JSON value */
	FIELD_STRING,				/* a string, possibly empty */
	FIELD_NONEMPTY_STRING,
	FIELD_ARRAY,
	FIELD_OBJECT_OR_NULL,
	FIELD_COUNT,				/* a non-negative integer */
	FIELD_DURATION				/* a non-negative number */
} FieldKind;

typedef struct FieldSpec
{
	const char *key;
	FieldKind	kind;
	bool		required;
} FieldSpec;

#define MAX_FIELDS 7

/* The five kernel command types: their fields and their routing. */
typedef struct CommandSpec
{
	const char *type;
	VeristCommandKind kind;
	FieldSpec	fields[MAX_FIELDS];
} CommandSpec;

static const CommandSpec command_specs[] = {
	{"invoke", VERIST_CMD_PLAIN,
	{{"step", FIELD_NONEMPTY_STRING, true}, {"input", FIELD_ANY, false}}},
	{"fanout", VERIST_CMD_PLAIN,
	{{"step", FIELD_NONEMPTY_STRING, true}, {"inputs", FIELD_ARRAY, true}}},
	{"emit", VERIST_CMD_PLAIN,
	{{"topic", FIELD_NONEMPTY_STRING, true}, {"payload", FIELD_ANY, false}}},
	{"review", VERIST_CMD_REVIEW,
	{{"reason", FIELD_NONEMPTY_STRING, true}, {"payload", FIELD_ANY, false}}},
	{"suspend", VERIST_CMD_SUSPEND,
	{{"reason", FIELD_NONEMPTY_STRING, true}, {"checkpoint", FIELD_ANY, false},
	{"resumeStep", FIELD_NONEMPTY_STRING, false}}},
};

static const FieldSpec event_fields[MAX_FIELDS] = {
	{"type", FIELD_NONEMPTY_STRING, true},
	{"payload", FIELD_OBJECT_OR_NULL, false},
	{"llmTrace", FIELD_OBJECT_OR_NULL, false},
};

/* Required keys of an llmTrace; input, output and any other key are kept. */
static const FieldSpec trace_fields[MAX_FIELDS] = {
	{"model", FIELD_STRING, true},
	{"inputHash", FIELD_NONEMPTY_STRING, true},
	{"outputHash", FIELD_NONEMPTY_STRING, true},
	{"promptTokens", FIELD_COUNT, true},
	{"completionTokens", FIELD_COUNT, true},
	{"durationMs", FIELD_DURATION, true},
};

/* Is this value a string of at least one byte? */
static bool
IsNonEmptyString(const JsonbValue *v)
{
	return v != NULL && v->type == jbvString && v->val.string.len > 0;
}

/* Does a value satisfy a field kind?  Sets *want to what it should have been. */
static bool
FieldKindMatches(const JsonbValue *v, FieldKind kind, const char **want)
{
	double		d;

	switch (kind)
	{
		case FIELD_ANY:
			*want = "any JSON value";
			return true;
		case FIELD_STRING:
			*want = "a string";
			return v->type == jbvString;
		case FIELD_NONEMPTY_STRING:
			*want = "a non-empty string";
			return IsNonEmptyString(v);
		case FIELD_ARRAY:
			*want = "an array";
			return v->type == jbvBinary && JsonContainerIsArray(v->val.binary.data);
		case FIELD_OBJECT_OR_NULL:
			*want = "an object or null";
			return v->type == jbvNull ||
				(v->type == jbvBinary && JsonContainerIsObject(v->val.binary.data));
		case FIELD_COUNT:
			*want = "a non-negative integer";
			return v->type == jbvNumeric &&
				VeristJsonNumberToDouble(v->val.numeric, &d) &&
				d >= 0 && d == floor(d);
		case FIELD_DURATION:
			*want = "a non-negative number";
			return v->type == jbvNumeric &&
				VeristJsonNumberToDouble(v->val.numeric, &d) && d >= 0;
	}
	return false;
}

/*
 * Check an object's fields against a spec.  what/index name the object in
 * messages ("event 2", "command 0", "llmTrace of event 1").  With closed set,
 * a key not in the spec is an error too.
 */
static void
CheckFields(JsonbContainer *object, const FieldSpec *fields, bool closed,
			const char *what, int index)
{
	int			i;

	for (i = 0; i < MAX_FIELDS && fields[i].key != NULL; i++)
	{
		JsonbValue *v = VeristObjectField(object, fields[i].key);
		const char *want = NULL;

		if (v == NULL)
		{
			if (fields[i].required)
				ereport(ERROR,
						(VeristErrcode(ERRCODE_VERIST_SERIALIZATION),
						 errmsg("invalid %s at index %d", what, index),
						 errdetail("Key \"%s\" is required.", fields[i].key)));
			continue;
		}
		if (!FieldKindMatches(v, fields[i].kind, &want))
			ereport(ERROR,
					(VeristErrcode(ERRCODE_VERIST_SERIALIZATION),
					 errmsg("invalid %s at index %d", what, index),
					 (v->type == jbvString && v->val.string.len == 0) ?
					 errdetail("Key \"%s\" must be %s, not an empty string.",
							   fields[i].key, want) :
					 errdetail("Key \"%s\" must be %s, not a JSON %s.",
							   fields[i].key, want, VeristJsonTypeName(v))));
	}

	if (closed)
	{
		JsonbIterator *it = JsonbIteratorInit(object);
		JsonbIteratorToken tok;
		JsonbValue	key;

		while ((tok = JsonbIteratorNext(&it, &key, true)) != WJB_DONE)
		{
			bool		known = false;

			if (tok != WJB_KEY)
				continue;
			for (i = 0; i < MAX_FIELDS && fields[i].key != NULL; i++)
			{
				if (key.val.string.len == (int) strlen(fields[i].key) &&
					memcmp(key.val.string.val, fields[i].key, key.val.string.len) == 0)
					known = true;
			}
			if (!known)
				ereport(ERROR,
						(VeristErrcode(ERRCODE_VERIST_SERIALIZATION),
						 errmsg("invalid %s at index %d", what, index),
						 errdetail("Key \"%.*s\" is not allowed here.",
								   key.val.string.len, key.val.string.val)));
		}
	}
}

/* Raise unless an array element is an object; return its container. */
static JsonbContainer *
ElementObject(JsonbValue *element, const char *what, int index)
{
	if (element->type != jbvBinary || !JsonContainerIsObject(element->val.binary.data))
		ereport(ERROR,
				(VeristErrcode(ERRCODE_VERIST_SERIALIZATION),
				 errmsg("invalid %s at index %d", what, index),
				 errdetail("Each %s must be a JSON object, not a JSON %s.",
						   what, VeristJsonTypeName(element))));
	return element->val.binary.data;
}

/* Check one element of the events array against README "Shapes". */
void
VeristValidateEvent(JsonbValue *element, int index)
{
	JsonbContainer *event = ElementObject(element, "event", index);
	JsonbValue *trace;

	CheckFields(event, event_fields, true, "event", index);

	trace = VeristObjectField(event, "llmTrace");
	if (trace != NULL && trace->type == jbvBinary)
		CheckFields(trace->val.binary.data, trace_fields, false, "llmTrace of event", index);
}

/* Check one element of the commands array; return how routing treats it. */
VeristCommandKind
VeristValidateCommand(JsonbValue *element, int index)
{
	JsonbContainer *command = ElementObject(element, "command", index);
	JsonbValue *type = VeristObjectField(command, "type");
	int			i;

	if (type == NULL || type->type != jbvString)
		ereport(ERROR,
				(VeristErrcode(ERRCODE_VERIST_SERIALIZATION),
				 errmsg("invalid command at index %d", index),
				 errdetail("Key \"type\" must be a string."),
				 errhint("Command types are invoke, fanout, emit, review and suspend.")));

	for (i = 0; i < (int) lengthof(command_specs); i++)
	{
		const CommandSpec *spec = &command_specs[i];
		FieldSpec	fields[MAX_FIELDS + 1] = {{"type", FIELD_STRING, true}};

		if (type->val.string.len != (int) strlen(spec->type) ||
			memcmp(type->val.string.val, spec->type, type->val.string.len) != 0)
			continue;

		memcpy(&fields[1], spec->fields, sizeof(FieldSpec) * (MAX_FIELDS - 1));
		CheckFields(command, fields, true, "command", index);
		return spec->kind;
	}

	ereport(ERROR,
			(VeristErrcode(ERRCODE_VERIST_SERIALIZATION),
			 errmsg("invalid command at index %d", index),
			 errdetail("Command type \"%.*s\" is unknown.",
					   type->val.string.len, type->val.string.val),
			 errhint("Command types are invoke, fanout, emit, review and suspend.")));
	pg_unreachable();
}
