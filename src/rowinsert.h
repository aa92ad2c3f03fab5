/*
 * rowinsert.h
 *		Inserting rows into one of verist's tables without a statement.
 */
#ifndef VERIST_ROWINSERT_H
#define VERIST_ROWINSERT_H

#include "postgres.h"

#include "nodes/execnodes.h"
#include "utils/relcache.h"

#define VERIST_ROW_MAX_COLUMNS 16

typedef struct VeristRowInsert
{
	Relation	rel;
	EState	   *estate;
	ResultRelInfo *rri;
	TupleTableSlot *slot;
	ExprState **defaults;		/* per attribute not given: its default, or NULL */
	AttrNumber	attnums[VERIST_ROW_MAX_COLUMNS];	/* the columns given, in order */
	int			ncolumns;
} VeristRowInsert;

extern void VeristRowInsertInit(void);
extern bool VeristSimpleWriteApplies(Relation rel, CmdType cmd);
extern EState *VeristWriteState(Relation rel, Bitmapset *updated, ResultRelInfo **rri);
extern bool VeristRowInsertBegin(VeristRowInsert *ri, const char *relname,
								 const char *const *columns, int ncolumns);
extern bool VeristRowInsertBeginUnique(VeristRowInsert *ri, const char *relname,
									   const char *const *columns, int ncolumns);
extern void VeristRowInsertPut(VeristRowInsert *ri, const Datum *values, const bool *nulls);
extern bool VeristRowInsertPutUnique(VeristRowInsert *ri, const Datum *values, const bool *nulls);
extern void VeristRowInsertEnd(VeristRowInsert *ri);

#endif							/* VERIST_ROWINSERT_H */
