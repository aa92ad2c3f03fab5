/*
 * plans.h
 *		The extension's schema, the statements verist runs through SPI
 *		(prepared once per backend), and helpers for their results.
 */
#ifndef VERIST_PLANS_H
#define VERIST_PLANS_H

#include "postgres.h"

#include "executor/spi.h"
#include "fmgr.h"

#define VERIST_MAX_ARGS 16

/*
 * How a statement is planned.
 *
 * VERIST_PLAN_GENERIC: once, for any arguments (CURSOR_OPT_GENERIC_PLAN), for
 * statements called in a loop whose best plan does not depend on the values.
 * Left to choose, the plan cache re-plans a statement on every call as long
 * as its generic plan looks dearer than the custom ones (a lease's "LIMIT $2"
 * is guessed at a tenth of the table): 0.1-0.2 ms a lease.  Such a statement
 * must be written so that its generic plan is good.
 *
 * VERIST_PLAN_CUSTOM: for the arguments of each call, even when the session
 * sets plan_cache_mode = force_generic_plan, for statements whose best plan
 * does depend on them (a purge's "LIMIT $2" over a filter no index serves:
 * guessed at a tenth of the table, the generic plan sorts the whole outbox).
 *
 * VERIST_PLAN_AUTO: the plan cache's own choice, and the session's setting.
 */
typedef enum VeristPlanMode
{
	VERIST_PLAN_AUTO = 0,
	VERIST_PLAN_GENERIC,
	VERIST_PLAN_CUSTOM
} VeristPlanMode;

/*
 * A statement the C code runs through SPI.  The text names verist's tables as
 * @extschema@.name and everything else as pg_catalog.name; the schema is filled
 * in when the statement is first prepared, and the plan is kept for the life
 * of the backend (re-prepared only if the extension's schema changes).  Every
 * statement verist runs is one of these (the lint suite checks it).
 */
typedef struct VeristQuery
{
	const char *sql;
	int			nargs;
	Oid			argtypes[VERIST_MAX_ARGS];

	/*
	 * How the plan cache plans it (VeristPlanMode); positional initializers
	 * that stop before it leave it VERIST_PLAN_AUTO.
	 */
	int			plan_mode;
	/* filled in by VeristPlan */
	SPIPlanPtr	plan;
	uint64		generation;
} VeristQuery;

/* A handler for a duplicate key: raises verist's own error, never returns. */
typedef void (*VeristDuplicate) (const char *detail, void *arg);

/* A write that may meet a duplicate key: returns the number of rows written. */
typedef uint64 (*VeristWriter) (void *arg);

extern void VeristPlansInit(void);

/* A call's SPI connection: the schema it runs in is fixed for the whole call. */
extern void VeristConnect(FunctionCallInfo fcinfo);
extern void VeristConnectExt(FunctionCallInfo fcinfo, int options);
extern void VeristFinish(void);
extern Oid	VeristRelation(const char *name);

extern SPIPlanPtr VeristPlan(VeristQuery *query);
extern uint64 VeristExecute(VeristQuery *query, Datum *values, const char *nulls,
							bool read_only, long count);
extern uint64 VeristExecuteInsert(VeristQuery *query, Datum *values, const char *nulls,
								  const char *unique_index, VeristDuplicate on_duplicate,
								  void *arg);
extern uint64 VeristCatchDuplicate(VeristWriter write, void *write_arg,
								   const char *unique_index, VeristDuplicate on_duplicate,
								   void *arg);

/* Results: rows into a set result (InitMaterializedSRF first), or one row. */
extern void VeristStoreRows(FunctionCallInfo fcinfo);
extern Datum VeristReturnRow(FunctionCallInfo fcinfo, HeapTuple tuple);
extern Datum VeristReturnRows(FunctionCallInfo fcinfo, VeristQuery *query, Datum *values);

extern Datum VeristBuildArray(Datum *elems, bool *nulls, int count, Oid elemtype);

#endif							/* VERIST_PLANS_H */
