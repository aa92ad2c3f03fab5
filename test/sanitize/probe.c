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

#include <stdlib.h>

#include "fmgr.h"

PG_MODULE_MAGIC;

PG_FUNCTION_INFO_V1(sanitize_probe_heap);

/*
 * Write one byte past the end of an n-byte malloc'd block.  The size comes
 * from the argument: with a constant size UBSan's object-size check would
 * catch the store first (and abort) before ASan could report it.
 */
Datum
sanitize_probe_heap(PG_FUNCTION_ARGS)
{
	int32		n = PG_GETARG_INT32(0);
	volatile char *p = malloc(n);
	char		c;

	p[n] = 1;
	c = p[n];
	free((void *) p);
	PG_RETURN_INT32(c);
}

PG_FUNCTION_INFO_V1(sanitize_probe_shift);

/*
 * Shift by n >= 32 bits, undefined behaviour UBSan reports.  (Not a signed
 * overflow: PostgreSQL compiles with -fwrapv, which defines it, so UBSan does
 * not instrument it at all.)
 */
Datum
sanitize_probe_shift(PG_FUNCTION_ARGS)
{
	volatile int32 n = PG_GETARG_INT32(0);

	PG_RETURN_INT32(1 << n);
}
