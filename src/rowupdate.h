/*
 * rowupdate.h
 *		Updating one row of verist's tables, found by its primary key, without
 *		a statement.
 */
#ifndef VERIST_ROWUPDATE_H
#define VERIST_ROWUPDATE_H

#include "postgres.h"

#include "access/skey.h"
#include "nodes/execnodes.h"
#include "utils/relcache.h"

#define VERIST_ROW_MAX_KEYS 4
#define VERIST_ROW_MAX_SET 12

/* What locking the row found: VeristRowUpdateLock */
typedef enum VeristRowLock
{
	VERIST_ROW_LOCKED,			/* the version found, now locked */
	VERIST_ROW_NEWER,			/* a newer version (READ COMMITTED), locked: check it again */
	VERIST_ROW_GONE				/* deleted meanwhile (READ COMMITTED) */
} VeristRowLock;

typedef struct VeristRowUpdate
{
	Relation	rel;
	Relation	pkey;			/* its primary key, one of rri's indexes */
	EState	   *estate;
	ResultRelInfo *rri;
	TupleTableSlot *found;		/* the row as found, then as locked: all columns */
	TupleTableSlot *slot;		/* the new version, filled in by the caller */
	ScanKeyData keys[VERIST_ROW_MAX_KEYS];
	int			nkeys;
	AttrNumber	set[VERIST_ROW_MAX_SET];	/* the columns the caller sets, in order */
} VeristRowUpdate;

extern bool VeristRowUpdateBegin(VeristRowUpdate *ru, const char *relname,
								 const char *const *key_columns, int nkeys,
								 const char *const *set_columns, int nset);
extern bool VeristRowUpdateFind(VeristRowUpdate *ru, const Datum *key_values);
extern VeristRowLock VeristRowUpdateLock(VeristRowUpdate *ru);
extern void VeristRowUpdatePut(VeristRowUpdate *ru);
extern void VeristRowUpdateEnd(VeristRowUpdate *ru);

#endif							/* VERIST_ROWUPDATE_H */
