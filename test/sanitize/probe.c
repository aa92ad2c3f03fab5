/*
 * probe.c
 *		Planted bugs that prove the sanitizer build can see bugs at all.
 *
 * test/sanitize/run.sh builds this with the same flags as verist, calls each
 * function once at the end of its run, and requires the server log to carry
 * the matching AddressSanitizer / UBSan report.  A sanitizer that is not
 * really loaded, or a log that does not receive its reports, would otherwise
 * pass every other check by seeing nothing.
 */
#include "postgres.h"

#include <limits.h>
#include <stdlib.h>

#include "fmgr.h"

PG_MODULE_MAGIC;

PG_FUNCTION_INFO_V1(sanitize_probe_heap);

/* Write one byte past the end of an 8-byte malloc'd block (n = 8). */
Datum
sanitize_probe_heap(PG_FUNCTION_ARGS)
{
	int32		n = PG_GETARG_INT32(0);
	volatile char *p = malloc(8);
	char		c;

	p[n] = 1;
	c = p[n];
	free((void *) p);
	PG_RETURN_INT32(c);
}

PG_FUNCTION_INFO_V1(sanitize_probe_overflow);

/* Signed integer overflow for any positive argument. */
Datum
sanitize_probe_overflow(PG_FUNCTION_ARGS)
{
	volatile int32 x = PG_GETARG_INT32(0);

	PG_RETURN_INT32(x + INT_MAX);
}
