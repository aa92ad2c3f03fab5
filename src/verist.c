/*
 * verist.c
 *		Module entry point of the verist extension.
 *
 * verist keeps the whole storage contract of a Verist workflow in the
 * database: one SQL call commits a step's output, its events and its commands.
 * The work is split by concern: commit.c (the commit), state.c (reading runs
 * and overlays), blocks.c (review/suspend gates), outbox.c (dispatch),
 * canonical.c (canonical JSON and dedupe keys), validate.c (input shapes),
 * events.c (the append-only guard) and plans.c (SPI statements).
 */
#include "postgres.h"

#include "fmgr.h"

#include "verist.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

/* Module load: set up caches. */
void
_PG_init(void)
{
	VeristPlansInit();
}
