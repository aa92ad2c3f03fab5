/*
 * retire.h
 *		Retired runs (verist 0.4.0): their seals, and how verification
 *		tells a retired run from a deleted one.
 */
#ifndef VERIST_RETIRE_H
#define VERIST_RETIRE_H

#include "postgres.h"

#include "verify.h"

extern bool VeristRunIsRetired(text *workflow_id, text *run_id);
extern bool VeristRetiredHead(text *workflow_id, text *run_id, int32 *seq, char **hash,
							  MemoryContext cxt);
extern bool VeristCheckSeals(VeristCheck *check, text **workflow_id, text **run_id);

#endif							/* VERIST_RETIRE_H */
