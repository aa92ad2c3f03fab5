/*
 * canonical.c
 *		Canonical JSON text and dedupe keys, byte-compatible with the
 *		TypeScript adapter (README "Dedupe keys and canonical JSON").
 *
 * The adapter computes a dedupe key as SHA-256 of JSON.stringify applied to
 * the command after rebuilding every object with Object.keys(o).sort().  To
 * match it byte for byte we walk the jsonb tree ourselves and print what
 * JavaScript would:
 *
 * - object keys sort by UTF-16 code units, except that keys which are array
 *   indices (canonical integers up to 2^32 - 2) come first in numeric order,
 *   as JavaScript enumerates them;
 * - every number is read as the nearest double and printed the way
 *   Number.prototype.toString does, from the shortest digits that read back
 *   as that double (PostgreSQL's Ryu code, corrected where it is not the
 *   shortest: see ShortestDigits);
 * - strings are escaped the way JSON.stringify escapes them.
 */
#include "postgres.h"

#include <math.h>

#include "common/cryptohash.h"
#include "common/sha2.h"
#include "common/shortest_dec.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"

#include "canonical.h"
#include "compat.h"
#include "counters.h"
#include "errors.h"
#include "jsonb_util.h"

/* One member of an object, with its key as UTF-8. */
typedef struct CanonMember
{
	const char *key;
	int			keylen;
	bool		is_index;		/* an array index: sorts first, numerically */
	JsonbValue	value;
} CanonMember;


/* Room for the digits of a double, however printed (17 significant at most). */
#define DIGITS_LEN 32

/*
 * Read a decimal in plain or exponent notation ("0.00123", "1.5e+22",
 * "9.990e-07") as its significant digits (no leading or trailing zeros) and
 * the exponent n with value = 0.<digits> * 10^n.  Returns the digit count.
 */
static int
ParseDecimal(const char *text, char *digits, int *n)
{
	int			k = 0;
	int			point = -1;
	const char *p;

	*n = 0;
	for (p = text; *p != '\0' && *p != 'e' && *p != 'E'; p++)
	{
		if (*p == '.')
			point = k;
		else if (*p >= '0' && *p <= '9')
		{
			if (k == 0 && *p == '0')
			{
				/* leading zero: 0.00ddd means a smaller exponent */
				if (point >= 0)
					(*n)--;
				continue;
			}
			if (k < DIGITS_LEN)
				digits[k++] = *p;
		}
	}
	*n += (point >= 0 ? point : k);
	if (*p == 'e' || *p == 'E')
		*n += atoi(p + 1);
	while (k > 1 && digits[k - 1] == '0')
		k--;
	return k;
}

/*
 * Does some decimal of p significant digits read back as x?  The closest one
 * does if any does; printf rounds correctly (ties to even) and strtod reads
 * correctly, so this asks exactly that.  Its text is left in buf.
 */
static bool
ReadsBackWith(double x, int p, char *buf, size_t len)
{
	snprintf(buf, len, "%.*e", p - 1, x);
	return strtod(buf, NULL) == x;
}

/* 2^53: below it every integer is a double, and doubles are 1 apart or closer. */
#define EXACT_INTEGER_LIMIT 9007199254740992.0

/*
 * The digits ECMAScript Number::toString prints for a finite, positive x:
 * the fewest significant digits that read back as x, the closest to x of
 * those (ties to even).  Returns their count; sets *n (x = 0.digits * 10^n).
 *
 * An integer below 2^53 is its own decimal digits.  Other numbers go to
 * PostgreSQL's Ryu, which is fast but treats the rounding interval of x as
 * open: where a shorter decimal lies exactly on its boundary (1e23, or
 * 23021599592181310) it answers with more digits than JavaScript.  A
 * boundary is halfway between x and a neighbour; below 2^53 those midpoints
 * have at least 17 significant digits (x.5 next to a 16-digit integer, and
 * one more fractional digit for every halving of x), so they are never
 * shorter than Ryu's answer.  From 2^53 up, Ryu's count is still an upper
 * bound: if one digit fewer also reads back, search the fewest with printf.
 * Reading back is monotonic in the number of digits (the closest p+1-digit
 * decimal is no farther than the closest p-digit one), so a binary search
 * finds it.
 */
static int
ShortestDigits(double x, char *digits, int *n)
{
	char		ryu[DOUBLE_SHORTEST_DECIMAL_LEN];
	char		buf[DIGITS_LEN + 16];
	int			k;
	int			lo = 1;
	int			hi;

	if (x < EXACT_INTEGER_LIMIT && x == floor(x))
	{
		pg_lltoa((int64) x, buf);
		return ParseDecimal(buf, digits, n);
	}
	double_to_shortest_decimal_buf(x, ryu);
	k = ParseDecimal(ryu, digits, n);
	if (x < EXACT_INTEGER_LIMIT || k == 1 || !ReadsBackWith(x, k - 1, buf, sizeof(buf)))
		return k;

	hi = k - 1;					/* reads back; find the fewest that does */
	while (lo < hi)
	{
		int			mid = (lo + hi) / 2;

		if (ReadsBackWith(x, mid, buf, sizeof(buf)))
			hi = mid;
		else
			lo = mid + 1;
	}
	ReadsBackWith(x, hi, buf, sizeof(buf));
	return ParseDecimal(buf, digits, n);
}

/*
 * Print a finite double as ECMAScript Number::toString does: its shortest
 * digits d (k of them) with x = 0.d * 10^n, laid out by the rules of the
 * ECMAScript specification.
 */
void
VeristAppendJsNumber(StringInfo out, double x)
{
	char		digits[DIGITS_LEN];
	int			k;
	int			n;

	if (x == 0)
	{
		appendStringInfoChar(out, '0');	/* also -0 */
		return;
	}
	if (x < 0)
		appendStringInfoChar(out, '-');
	k = ShortestDigits(fabs(x), digits, &n);

	if (k <= n && n <= 21)
	{
		appendBinaryStringInfo(out, digits, k);
		for (int i = 0; i < n - k; i++)
			appendStringInfoChar(out, '0');
	}
	else if (0 < n && n <= 21)
	{
		appendBinaryStringInfo(out, digits, n);
		appendStringInfoChar(out, '.');
		appendBinaryStringInfo(out, digits + n, k - n);
	}
	else if (-6 < n && n <= 0)
	{
		appendStringInfoString(out, "0.");
		for (int i = 0; i < -n; i++)
			appendStringInfoChar(out, '0');
		appendBinaryStringInfo(out, digits, k);
	}
	else
	{
		appendStringInfoChar(out, digits[0]);
		if (k > 1)
		{
			appendStringInfoChar(out, '.');
			appendBinaryStringInfo(out, digits + 1, k - 1);
		}
		appendStringInfo(out, "e%c%d", n - 1 >= 0 ? '+' : '-', abs(n - 1));
	}
}

/*
 * Print a jsonb number.  A number beyond the double range cannot come from
 * JavaScript: the JavaScript form refuses it; the chain's form prints it as
 * PostgreSQL's exact decimal text (only events stored before 0.2.0 can hold
 * one, and the chain must take every event an older version accepted).
 */
static void
AppendNumber(StringInfo out, Numeric num, VeristCanonMode mode)
{
	double		d;

	if (VeristJsonNumberToDouble(num, &d))
	{
		VeristAppendJsNumber(out, d);
		return;
	}
	if (mode == VERIST_CANON_CHAIN)
	{
		char	   *text = DatumGetCString(DirectFunctionCall1(numeric_out,
															   NumericGetDatum(num)));

		appendStringInfoString(out, text);
		pfree(text);
		return;
	}
	ereport(ERROR,
			(VeristErrcode(ERRCODE_VERIST_SERIALIZATION),
			 errmsg("JSON number is out of range for canonical JSON"),
			 errdetail("Canonical JSON holds only numbers a JavaScript double can represent.")));
}

/* Convert a string from the server encoding to UTF-8 (no copy if UTF-8). */
static const char *
ToUtf8(const char *s, int len, int *outlen)
{
	char	   *u;

	if (GetDatabaseEncoding() == PG_UTF8)
	{
		*outlen = len;
		return s;
	}
	u = pg_server_to_any(s, len, PG_UTF8);
	*outlen = (u == s) ? len : (int) strlen(u);
	return u;
}

/* Append the JSON.stringify escape of one byte that needs one. */
static void
AppendEscape(StringInfo out, unsigned char c)
{
	static const char hex[] = "0123456789abcdef";

	switch (c)
	{
		case '"':
			appendStringInfoString(out, "\\\"");
			break;
		case '\\':
			appendStringInfoString(out, "\\\\");
			break;
		case '\b':
			appendStringInfoString(out, "\\b");
			break;
		case '\f':
			appendStringInfoString(out, "\\f");
			break;
		case '\n':
			appendStringInfoString(out, "\\n");
			break;
		case '\r':
			appendStringInfoString(out, "\\r");
			break;
		case '\t':
			appendStringInfoString(out, "\\t");
			break;
		default:
			appendStringInfoString(out, "\\u00");
			appendStringInfoChar(out, hex[c >> 4]);
			appendStringInfoChar(out, hex[c & 0xf]);
	}
}

/*
 * Does any byte of an 8-byte word need escaping: below 0x20, '"' or '\\'?
 * (The classic "has a zero byte" and "has a byte less than n" tests: exact
 * for the question "any?".)
 */
static inline bool
WordNeedsEscape(uint64 w)
{
	const uint64 ones = UINT64CONST(0x0101010101010101);
	const uint64 highs = UINT64CONST(0x8080808080808080);
	uint64		quote = w ^ (ones * '"');
	uint64		backslash = w ^ (ones * '\\');

	return (((w - ones * 0x20) & ~w) |
			((quote - ones) & ~quote) |
			((backslash - ones) & ~backslash)) & highs;
}

/*
 * Print a string quoted and escaped as JSON.stringify does: '"', '\\' and
 * bytes below 0x20 escaped, everything else (UTF-8 included) as it is.  The
 * bytes between escapes are appended as whole runs, found eight at a time.
 */
void
VeristAppendJsString(StringInfo out, const char *s, int len)
{
	const char *u;
	int			ulen;
	int			start = 0;

	u = ToUtf8(s, len, &ulen);
	enlargeStringInfo(out, ulen + 2);
	appendStringInfoCharMacro(out, '"');
	for (int i = 0; i < ulen; i++)
	{
		unsigned char c;

		if (i + 8 <= ulen)
		{
			uint64		w;

			memcpy(&w, u + i, sizeof(w));
			if (!WordNeedsEscape(w))
			{
				i += 7;
				continue;
			}
		}
		c = (unsigned char) u[i];
		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		appendBinaryStringInfo(out, u + start, i - start);
		AppendEscape(out, c);
		start = i + 1;
	}
	appendBinaryStringInfo(out, u + start, ulen - start);
	appendStringInfoCharMacro(out, '"');
}

/* Is a key an ECMAScript array index: "0" or [1-9][0-9]* up to 2^32 - 2? */
static bool
IsArrayIndex(const char *key, int len)
{
	uint64		value = 0;

	if (len < 1 || len > 10 || (len > 1 && key[0] == '0'))
		return false;
	for (int i = 0; i < len; i++)
	{
		if (key[i] < '0' || key[i] > '9')
			return false;
		value = value * 10 + (key[i] - '0');
	}
	return value <= UINT64CONST(4294967294);
}

/*
 * Compare two UTF-8 strings by UTF-16 code units, as JavaScript's sort does.
 * UTF-8 byte order is code point order, which differs from UTF-16 order in
 * one case only: a supplementary character (4 UTF-8 bytes, a surrogate pair
 * from 0xD800 in UTF-16) against one of U+E000..U+FFFF (3 bytes led by 0xEE
 * or 0xEF), which UTF-16 puts after it.  So compare bytes, and correct that
 * case at the first character that differs.
 */
static int
CompareUtf16(const char *x, int xlen, const char *y, int ylen)
{
	const unsigned char *a = (const unsigned char *) x;
	const unsigned char *b = (const unsigned char *) y;
	int			n = Min(xlen, ylen);
	int			d = 0;
	int			lead;

	while (d < n && a[d] == b[d])
		d++;
	if (d == n)
		return (xlen > ylen) - (xlen < ylen);
	/* the lead byte of the differing character: the prefix is shared */
	for (lead = d; lead > 0 && (a[lead] & 0xC0) == 0x80; lead--)
		;
	if (a[lead] >= 0xF0 && (b[lead] == 0xEE || b[lead] == 0xEF))
		return -1;
	if (b[lead] >= 0xF0 && (a[lead] == 0xEE || a[lead] == 0xEF))
		return 1;
	return a[d] < b[d] ? -1 : 1;
}

/* Array-index keys first by value, then the others in UTF-16 order. */
static int
CompareMembers(const CanonMember *a, const CanonMember *b)
{
	if (a->is_index && b->is_index)
	{
		/* canonical integers: the shorter is the smaller */
		if (a->keylen != b->keylen)
			return a->keylen < b->keylen ? -1 : 1;
		return memcmp(a->key, b->key, a->keylen);
	}
	if (a->is_index != b->is_index)
		return a->is_index ? -1 : 1;
	return CompareUtf16(a->key, a->keylen, b->key, b->keylen);
}

static int
CompareMembersQsort(const void *x, const void *y)
{
	return CompareMembers((const CanonMember *) x, (const CanonMember *) y);
}

/*
 * Sort the members of an object.  Objects are small and jsonb keeps their
 * keys sorted already (by length, then bytes), often close to JavaScript's
 * order: an insertion sort beats qsort's calls there.
 */
static void
SortMembers(CanonMember *m, int n)
{
	if (n > 24)
	{
		qsort(m, n, sizeof(CanonMember), CompareMembersQsort);
		return;
	}
	for (int i = 1; i < n; i++)
	{
		CanonMember x = m[i];
		int			j = i - 1;

		while (j >= 0 && CompareMembers(&m[j], &x) > 0)
		{
			m[j + 1] = m[j];
			j--;
		}
		m[j + 1] = x;
	}
}

/* Print a scalar value. */
static void
CanonScalar(StringInfo out, JsonbValue *v, VeristCanonMode mode)
{
	switch (v->type)
	{
		case jbvNull:
			appendBinaryStringInfo(out, "null", 4);
			break;
		case jbvBool:
			if (v->val.boolean)
				appendBinaryStringInfo(out, "true", 4);
			else
				appendBinaryStringInfo(out, "false", 5);
			break;
		case jbvNumeric:
			AppendNumber(out, v->val.numeric, mode);
			break;
		case jbvString:
			VeristAppendJsString(out, v->val.string.val, v->val.string.len);
			break;
		default:
			elog(ERROR, "unexpected jsonb value type %d", (int) v->type);
	}
}

/*
 * Is this key JavaScript's "__proto__"?  Assigning it to a plain object sets
 * the object's prototype instead of a member, so the rebuilt object that
 * JSON.stringify prints has no such member.
 */
static inline bool
IsProtoKey(const char *key, int len)
{
	return len == 9 && memcmp(key, "__proto__", 9) == 0;
}

/*
 * One open container of the walk: an object's members, sorted, and the next
 * to print; or an array's iterator.
 */
typedef struct CanonFrame
{
	bool		is_object;
	CanonMember *members;		/* kept for the next object at this depth */
	int			capacity;
	int			count;
	int			next;
	JsonbIterator *it;
} CanonFrame;

/* Open an object: collect and sort its members, print the brace. */
static void
OpenObject(StringInfo out, CanonFrame *f, JsonbContainer *container, VeristCanonMode mode)
{
	JsonbIterator *it = JsonbIteratorInit(container);
	JsonbIteratorToken tok;
	JsonbValue	v;
	int			n = 0;
	int			size = Max(JsonContainerSize(container), 1);

	if (f->capacity < size)
	{
		if (f->members != NULL)
			pfree(f->members);
		f->capacity = Max(size, 16);
		f->members = palloc(sizeof(CanonMember) * f->capacity);
	}
	f->is_object = true;
	f->next = 0;
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok == WJB_KEY)
		{
			f->members[n].key = ToUtf8(v.val.string.val, v.val.string.len,
									   &f->members[n].keylen);
			f->members[n].is_index = IsArrayIndex(f->members[n].key, f->members[n].keylen);
		}
		else if (tok == WJB_VALUE)
		{
			/* JavaScript drops "__proto__"; the chain keeps every member */
			if (mode == VERIST_CANON_JS &&
				IsProtoKey(f->members[n].key, f->members[n].keylen))
				continue;
			f->members[n++].value = v;
		}
	}
	f->count = n;
	SortMembers(f->members, n);
	appendStringInfoCharMacro(out, '{');
}

/*
 * The next child of an open container, with its separator (and key) already
 * printed; false, with the closing bracket printed, when there is none.
 */
static bool
NextChild(StringInfo out, CanonFrame *f, JsonbValue *child)
{
	if (f->is_object)
	{
		CanonMember *m;

		if (f->next == f->count)
		{
			appendStringInfoCharMacro(out, '}');
			return false;
		}
		m = &f->members[f->next];
		if (f->next++ > 0)
			appendStringInfoCharMacro(out, ',');
		VeristAppendJsString(out, m->key, m->keylen);
		appendStringInfoCharMacro(out, ':');
		*child = m->value;
		return true;
	}
	for (;;)
	{
		JsonbIteratorToken tok = JsonbIteratorNext(&f->it, child, true);

		if (tok == WJB_ELEM)
		{
			if (f->next++ > 0)
				appendStringInfoCharMacro(out, ',');
			return true;
		}
		if (tok == WJB_DONE || tok == WJB_END_ARRAY)
		{
			appendStringInfoCharMacro(out, ']');
			return false;
		}
	}
}

/*
 * Append the canonical JSON text of a jsonb container to out, in one of its
 * forms.  Iterative: an explicit stack of open containers instead of
 * recursion, so any depth jsonb can store (about 13,000 levels at the default
 * max_stack_depth) prints, with no stack limit of its own.
 */
void
VeristCanonicalText(StringInfo out, JsonbContainer *root, VeristCanonMode mode)
{
	CanonFrame *stack;
	int			size = 16;
	int			depth = 0;
	JsonbValue	v;

	if (JsonContainerIsScalar(root))
	{
		JsonbExtractScalar(root, &v);
		CanonScalar(out, &v, mode);
		return;
	}

	stack = palloc0(sizeof(CanonFrame) * size);
	v.type = jbvBinary;
	v.val.binary.data = root;
	for (;;)
	{
		if (v.type == jbvBinary)
		{
			CanonFrame *f;

			CHECK_FOR_INTERRUPTS();
			if (depth == size)
			{
				stack = repalloc(stack, sizeof(CanonFrame) * size * 2);
				memset(&stack[size], 0, sizeof(CanonFrame) * size);
				size *= 2;
			}
			f = &stack[depth++];
			if (JsonContainerIsObject(v.val.binary.data))
				OpenObject(out, f, v.val.binary.data, mode);
			else
			{
				f->is_object = false;
				f->next = 0;
				f->it = JsonbIteratorInit(v.val.binary.data);
				appendStringInfoCharMacro(out, '[');
			}
		}
		else
			CanonScalar(out, &v, mode);

		/* the next value to print: the next child of the innermost open container */
		while (depth > 0 && !NextChild(out, &stack[depth - 1], &v))
			depth--;
		if (depth == 0)
			break;
	}
	for (int i = 0; i < size; i++)
		if (stack[i].members != NULL)
			pfree(stack[i].members);
	pfree(stack);
}


/*
 * Lowercase hex SHA-256 of a byte string, into hex[VERIST_HASH_HEX_LEN + 1].
 * ctx: a SHA-256 context to reuse, since a commit hashes several things and
 * creating one costs more than hashing a short text; or NULL for a fresh one.
 */
void
VeristSha256Hex(pg_cryptohash_ctx *ctx, const char *data, size_t len, char *hex)
{
	uint8		digest[PG_SHA256_DIGEST_LENGTH];
	pg_cryptohash_ctx *use = ctx ? ctx : pg_cryptohash_create(PG_SHA256);

	if (pg_cryptohash_init(use) < 0 ||
		pg_cryptohash_update(use, (const uint8 *) data, len) < 0 ||
		pg_cryptohash_final(use, digest, sizeof(digest)) < 0)
		elog(ERROR, "could not compute SHA-256 hash: %s", pg_cryptohash_error(use));
	if (ctx == NULL)
		pg_cryptohash_free(use);

	hex_encode((const char *) digest, sizeof(digest), hex);
	hex[VERIST_HASH_HEX_LEN] = '\0';
}

/*
 * The dedupe key of a command: SHA-256 of the canonical text of
 * {workflowId, runId, stepId, command}.  Those four keys already sort as
 * command < runId < stepId < workflowId, so the object is written directly.
 */
char *
VeristDedupeKey(const char *workflow_id, const char *run_id,
				const char *step_id, JsonbContainer *command, pg_cryptohash_ctx *ctx)
{
	StringInfoData buf;
	char	   *hex = palloc(VERIST_HASH_HEX_LEN + 1);

	initStringInfo(&buf);
	appendStringInfoString(&buf, "{\"command\":");
	VeristCanonicalText(&buf, command, VERIST_CANON_JS);
	appendStringInfoString(&buf, ",\"runId\":");
	VeristAppendJsString(&buf, run_id, strlen(run_id));
	appendStringInfoString(&buf, ",\"stepId\":");
	VeristAppendJsString(&buf, step_id, strlen(step_id));
	appendStringInfoString(&buf, ",\"workflowId\":");
	VeristAppendJsString(&buf, workflow_id, strlen(workflow_id));
	appendStringInfoChar(&buf, '}');

	VeristSha256Hex(ctx, buf.data, buf.len, hex);
	pfree(buf.data);
	return hex;
}

/* Append a text value as a JSON string. */
void
VeristAppendJsText(StringInfo out, text *t)
{
	VeristAppendJsString(out, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
}

/* Append a JSON value in the chain's form, or null for NULL. */
void
VeristAppendJsonOrNull(StringInfo out, JsonbContainer *value)
{
	if (value == NULL)
		appendStringInfoString(out, "null");
	else
		VeristCanonicalText(out, value, VERIST_CANON_CHAIN);
}

/*
 * Append a timestamp as the chains hash it: microseconds since the Unix
 * epoch, a JSON number, so read as a double like every other (exact until
 * 2255).
 */
void
VeristAppendJsTimestamp(StringInfo out, TimestampTz ts)
{
	int64		micros = ts + (int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * USECS_PER_DAY;

	VeristAppendJsNumber(out, (double) micros);
}
