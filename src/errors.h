/*
 * errors.h
 *		SQLSTATEs of verist, one per StorageError {code, reason}, and the
 *		errors raised from more than one place.
 *
 * All live in the class "VR", which no standard SQLSTATE uses, so a driver can
 * branch on the code alone.  The third character tells the TypeScript code:
 * C = conflict, N = not_found, S = serialization_error; the table in README.md
 * maps each to its {code, reason}.
 */
#ifndef VERIST_ERRORS_H
#define VERIST_ERRORS_H

#include "postgres.h"

#include "utils/elog.h"

#define ERRCODE_VERIST_RUN_EXISTS			MAKE_SQLSTATE('V','R','C','0','1')
#define ERRCODE_VERIST_VERSION_MISMATCH		MAKE_SQLSTATE('V','R','C','0','2')
#define ERRCODE_VERIST_ACTIVE_BLOCK			MAKE_SQLSTATE('V','R','C','0','3')
#define ERRCODE_VERIST_COMMAND_EXISTS		MAKE_SQLSTATE('V','R','C','0','4')
#define ERRCODE_VERIST_LEASE_MISMATCH		MAKE_SQLSTATE('V','R','C','0','5')
/* 0.3.0: re-queueing an outbox entry that is not a dead letter */
#define ERRCODE_VERIST_NOT_FAILED			MAKE_SQLSTATE('V','R','C','0','6')
/* 0.4.0: retiring a run that still has work: an active block, open commands */
#define ERRCODE_VERIST_RUN_ACTIVE			MAKE_SQLSTATE('V','R','C','0','7')
#define ERRCODE_VERIST_NOT_FOUND			MAKE_SQLSTATE('V','R','N','0','1')
#define ERRCODE_VERIST_SERIALIZATION		MAKE_SQLSTATE('V','R','S','0','1')
/* 0.3.1, not a StorageError: gap-free reading asked of a hot standby. */
#define ERRCODE_VERIST_STANDBY				MAKE_SQLSTATE('V','R','R','0','1')
/* Not a StorageError: a write the append-only event log refuses. */
#define ERRCODE_VERIST_APPEND_ONLY			MAKE_SQLSTATE('V','R','A','0','1')

/* errors.c */
extern void VeristRaiseRunMissing(text *workflow_id, text *run_id, const char *hint)
			pg_attribute_noreturn();

#endif							/* VERIST_ERRORS_H */
