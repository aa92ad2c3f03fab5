/*
 * args.c
 *		Fetching and checking the arguments of verist's SQL functions (see
 *		args.h).  Each check raises serialization_error with a message that
 *		names the argument.
 */
#include "postgres.h"

#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "args.h"
#include "compat.h"
#include "counters.h"
#include "errors.h"
#include "jsonb_util.h"

/* Raise serialization_error if argument argno is NULL. */
void
VeristRequireArg(FunctionCallInfo fcinfo, int argno, const char *name)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(VeristErrcode(ERRCODE_VERIST_SERIALIZATION),
				 errmsg("argument \"%s\" must not be null", name)));
}

/* Fetch a required text argument, of any length. */
text *
VeristTextArg(FunctionCallInfo fcinfo, int argno, const char *name)
{
	VeristRequireArg(fcinfo, argno, name);
	return PG_GETARG_TEXT_PP(argno);
}

/*
 * Fetch a required, non-empty text argument (an id or owner) of at most
 * VERIST_MAX_ID_BYTES: ids are index keys, up to three of them in one index
 * entry, and a longer one would fail deep in a btree with "index row size"
 * after rows were written.
 */
text *
VeristIdArg(FunctionCallInfo fcinfo, int argno, const char *name)
{
	text	   *t = VeristTextArg(fcinfo, argno, name);

	if (VARSIZE_ANY_EXHDR(t) == 0)
		ereport(ERROR,
				(VeristErrcode(ERRCODE_VERIST_SERIALIZATION),
				 errmsg("argument \"%s\" must not be empty", name)));
	if (VARSIZE_ANY_EXHDR(t) > VERIST_MAX_ID_BYTES)
		ereport(ERROR,
				(VeristErrcode(ERRCODE_VERIST_SERIALIZATION),
				 errmsg("argument \"%s\" is too long", name),
				 errdetail("It has %d bytes; ids have at most %d.",
						   (int) VARSIZE_ANY_EXHDR(t), VERIST_MAX_ID_BYTES)));
	return t;
}

/* Fetch a required jsonb argument of one JSON type ("object" or "array"). */
static Jsonb *
JsonbArgOfType(FunctionCallInfo fcinfo, int argno, const char *name, bool object)
{
	Jsonb	   *jb;

	VeristRequireArg(fcinfo, argno, name);
	jb = PG_GETARG_JSONB_P(argno);
	if (JB_ROOT_IS_SCALAR(jb) || (object ? !JB_ROOT_IS_OBJECT(jb) : !JB_ROOT_IS_ARRAY(jb)))
		ereport(ERROR,
				(VeristErrcode(ERRCODE_VERIST_SERIALIZATION),
				 errmsg("argument \"%s\" must be a JSON %s", name, object ? "object" : "array"),
				 errdetail("The value given is a JSON %s.", VeristJsonbTypeName(jb))));
	return jb;
}

/* Fetch a required jsonb argument that must be an object. */
Jsonb *
VeristObjectArg(FunctionCallInfo fcinfo, int argno, const char *name)
{
	return JsonbArgOfType(fcinfo, argno, name, true);
}

/* Fetch a required jsonb argument that must be an array. */
Jsonb *
VeristArrayArg(FunctionCallInfo fcinfo, int argno, const char *name)
{
	return JsonbArgOfType(fcinfo, argno, name, false);
}

/* Fetch a required integer argument that must be at least 1 (a count, a limit). */
int32
VeristCountArg(FunctionCallInfo fcinfo, int argno, const char *name)
{
	int32		n;

	VeristRequireArg(fcinfo, argno, name);
	n = PG_GETARG_INT32(argno);
	if (n < 1)
		ereport(ERROR,
				(VeristErrcode(ERRCODE_VERIST_SERIALIZATION),
				 errmsg("argument \"%s\" must be at least 1", name),
				 errdetail("The value given is %d.", n)));
	return n;
}

/* An interval as microseconds, months counted as 30 days (as interval comparison does). */
static double
IntervalMicros(const Interval *i)
{
	return (double) i->time + (double) i->day * USECS_PER_DAY +
		(double) i->month * DAYS_PER_MONTH * USECS_PER_DAY;
}

/* Raise serialization_error for an interval argument out of its range. */
static void
RaiseBadInterval(const char *name, const char *rule, Interval *i)
{
	ereport(ERROR,
			(VeristErrcode(ERRCODE_VERIST_SERIALIZATION),
			 errmsg("argument \"%s\" %s", name, rule),
			 errdetail("The value given is %s.",
					   DatumGetCString(DirectFunctionCall1(interval_out,
														   IntervalPGetDatum(i))))));
}

/*
 * Fetch a required interval argument that is a duration to add to the clock
 * (a lease, a retry delay) and return it as microseconds.  It must be
 * positive and at most VERIST_MAX_INTERVAL_DAYS: anything longer could take
 * a timestamp beyond its range, which PostgreSQL reports as 22008 in the
 * middle of a call.
 */
int64
VeristDurationArg(FunctionCallInfo fcinfo, int argno, const char *name)
{
	Interval   *i;
	double		us;

	VeristRequireArg(fcinfo, argno, name);
	i = PG_GETARG_INTERVAL_P(argno);
	us = IntervalMicros(i);
	if (us <= 0 || us > (double) VERIST_MAX_INTERVAL_DAYS * USECS_PER_DAY)
		RaiseBadInterval(name, "must be positive and at most 100 years", i);
	return (int64) us;
}

/*
 * Fetch a required interval argument that is an age to take from the clock
 * (purging what finished longer ago).  It must not be negative; an age
 * beyond VERIST_MAX_INTERVAL_DAYS is taken as that (nothing verist wrote is
 * older), so that the clock minus it cannot leave the timestamp range.
 */
Interval *
VeristAgeArg(FunctionCallInfo fcinfo, int argno, const char *name)
{
	Interval   *i;
	double		us;

	VeristRequireArg(fcinfo, argno, name);
	i = PG_GETARG_INTERVAL_P(argno);
	us = IntervalMicros(i);
	if (us < 0)
		RaiseBadInterval(name, "must not be negative", i);
	if (us > (double) VERIST_MAX_INTERVAL_DAYS * USECS_PER_DAY)
	{
		i = palloc0(sizeof(Interval));
		i->day = VERIST_MAX_INTERVAL_DAYS;
	}
	return i;
}
