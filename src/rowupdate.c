/*
 * rowupdate.c
 *		Updating one row of verist's tables, found by its primary key, without
 *		a statement: what the UPDATE of a commit's state row did.
 *
 * A commit moved its run's state row with one prepared UPDATE (and appended
 * the ledger entry in the same statement).  That statement cost about a third
 * of the commit (test/bench/README.md, "The commit path"): an executor start,
 * a subquery calling a SQL function for the two hashes, their arguments
 * packed into arrays and taken apart again.  Here the caller reads the row,
 * computes the new version in C and replaces it; what the UPDATE guaranteed
 * holds, because the steps are the ones its executor takes:
 *
 *	- the row is found through the primary key with a snapshot taken as the
 *	  statement's was (new in READ COMMITTED, the transaction's otherwise);
 *	  in SERIALIZABLE the scan takes the same predicate locks;
 *	- the caller checks its condition (the expected version) on that version;
 *	  only if it holds is the row locked.  If another transaction changed it
 *	  meanwhile, READ COMMITTED locks the newest version and the caller checks
 *	  again (EvalPlanQual's rule); the other levels raise 40001, as the UPDATE
 *	  does;
 *	- the new version goes through ExecSimpleRelationUpdate (what logical
 *	  replication's apply worker uses): constraints, generated columns, and
 *	  index entries unless the update is HOT.
 *
 * Like rowinsert.c, it declines -- and the caller runs its statement -- when
 * anything could make the UPDATE do more: a trigger (a foreign key pointing at
 * the table is one), a rule, row security, inheritance or partitions, or
 * missing privileges; and in a read-only transaction, whose error the
 * statement raises.
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/nbtree.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "executor/executor.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "plans.h"
#include "rowinsert.h"
#include "rowupdate.h"

/* The attribute number of column name, or InvalidAttrNumber. */
static AttrNumber
ColumnNumber(VeristRowUpdate *ru, const char *name)
{
	TupleDesc	desc = RelationGetDescr(ru->rel);

	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (!att->attisdropped && strcmp(NameStr(att->attname), name) == 0)
			return att->attnum;
	}
	return InvalidAttrNumber;
}

/* The open primary key of rel if its key is exactly these columns, in order; else NULL. */
static Relation
FindPrimaryKey(VeristRowUpdate *ru, const char *const *key_columns, int nkeys)
{
	Oid			pkoid = RelationGetPrimaryKeyIndex(ru->rel);
	Relation	pkey = NULL;

	for (int i = 0; i < ru->rri->ri_NumIndices && pkey == NULL; i++)
		if (RelationGetRelid(ru->rri->ri_IndexRelationDescs[i]) == pkoid)
			pkey = ru->rri->ri_IndexRelationDescs[i];
	if (pkey == NULL || pkey->rd_index->indnkeyatts != nkeys)
		return NULL;
	for (int k = 0; k < nkeys; k++)
		if (pkey->rd_index->indkey.values[k] != ColumnNumber(ru, key_columns[k]))
			return NULL;
	return pkey;
}

/* Undo Begin's work so far: the statement will run instead. */
static bool
Decline(VeristRowUpdate *ru)
{
	if (ru->estate != NULL)
	{
		ExecCloseIndices(ru->rri);
		FreeExecutorState(ru->estate);
		PopActiveSnapshot();
	}
	table_close(ru->rel, NoLock);	/* the UPDATE locks it the same way */
	return false;
}

/*
 * The columns the caller sets, into ru->set, and as the statement's updated
 * columns: the executor recomputes the generated columns that depend on them.
 */
static Bitmapset *
SetColumns(VeristRowUpdate *ru, const char *const *set_columns, int nset)
{
	Bitmapset  *updated = NULL;

	for (int i = 0; i < nset; i++)
	{
		ru->set[i] = ColumnNumber(ru, set_columns[i]);
		if (ru->set[i] == InvalidAttrNumber)
			elog(ERROR, "column \"%s\" of relation \"%s\" does not exist",
				 set_columns[i], RelationGetRelationName(ru->rel));
		updated = bms_add_member(updated, ru->set[i] - FirstLowInvalidHeapAttributeNumber);
	}
	return updated;
}

/*
 * Open verist's table relname to set the columns set_columns of one row
 * found by its primary key, which must be key_columns (in order); false
 * (nothing opened) when the statement must run.
 */
bool
VeristRowUpdateBegin(VeristRowUpdate *ru, const char *relname,
					 const char *const *key_columns, int nkeys,
					 const char *const *set_columns, int nset)
{
	Assert(nkeys <= VERIST_ROW_MAX_KEYS && nset <= VERIST_ROW_MAX_SET);
	if (XactReadOnly || IsInParallelMode())
		return false;
	memset(ru, 0, sizeof(*ru));
	ru->rel = table_open(VeristRelation(relname), RowExclusiveLock);
	if (!VeristSimpleWriteApplies(ru->rel, CMD_UPDATE))
		return Decline(ru);

	/* the statement's snapshot: SPI takes one per statement, past the last command */
	PushActiveSnapshot(GetTransactionSnapshot());
	CommandCounterIncrement();
	UpdateActiveSnapshotCommandId();

	ru->estate = VeristWriteState(ru->rel, SetColumns(ru, set_columns, nset), &ru->rri);
	ru->estate->es_snapshot = GetActiveSnapshot();
	ru->estate->es_output_cid = GetCurrentCommandId(true);
	ExecOpenIndices(ru->rri, false);
	ru->pkey = FindPrimaryKey(ru, key_columns, nkeys);
	if (ru->pkey == NULL)
		return Decline(ru);
	ru->nkeys = nkeys;
	ru->found = table_slot_create(ru->rel, &ru->estate->es_tupleTable);
	ru->slot = ExecInitExtraTupleSlot(ru->estate, RelationGetDescr(ru->rel), &TTSOpsVirtual);
	return true;
}

/* The equality of the primary key's column k against value, as an index scan key. */
static void
KeyEquals(VeristRowUpdate *ru, int k, Datum value)
{
	Relation	pkey = ru->pkey;
	Oid			type = pkey->rd_opcintype[k];
	Oid			op = get_opfamily_member(pkey->rd_opfamily[k], type, type,
										 BTEqualStrategyNumber);

	if (!OidIsValid(op))
		elog(ERROR, "missing equality operator for column %d of index \"%s\"",
			 k + 1, RelationGetRelationName(pkey));
	ScanKeyEntryInitialize(&ru->keys[k], 0, k + 1, BTEqualStrategyNumber, type,
						   pkey->rd_indcollation[k], get_opcode(op), value);
}

/*
 * Find the row whose primary key is key_values, as the statement's snapshot
 * sees it, into ru->found (all columns); false if there is none.
 */
bool
VeristRowUpdateFind(VeristRowUpdate *ru, const Datum *key_values)
{
	IndexScanDesc scan;
	bool		found;

	for (int k = 0; k < ru->nkeys; k++)
		KeyEquals(ru, k, key_values[k]);
	scan = index_beginscan(ru->rel, ru->pkey, ru->estate->es_snapshot, ru->nkeys, 0);
	index_rescan(scan, ru->keys, ru->nkeys, NULL, 0);
	found = index_getnext_slot(scan, ForwardScanDirection, ru->found);
	index_endscan(scan);
	if (found)
		slot_getallattrs(ru->found);
	return found;
}

/*
 * Lock the row found, as the UPDATE would before replacing it, waiting for
 * any transaction changing it.
 */
VeristRowLock
VeristRowUpdateLock(VeristRowUpdate *ru)
{
	bool		xact_snapshot = IsolationUsesXactSnapshot();
	TM_FailureData tmfd;
	TM_Result	result;

	result = table_tuple_lock(ru->rel, &ru->found->tts_tid, ru->estate->es_snapshot,
							  ru->found, ru->estate->es_output_cid,
							  LockTupleNoKeyExclusive, LockWaitBlock,
							  xact_snapshot ? 0 : TUPLE_LOCK_FLAG_FIND_LAST_VERSION, &tmfd);
	switch (result)
	{
		case TM_Ok:
			slot_getallattrs(ru->found);
			return tmfd.traversed ? VERIST_ROW_NEWER : VERIST_ROW_LOCKED;
		case TM_Updated:
			if (xact_snapshot)
				ereport(ERROR,
						(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
						 errmsg("could not serialize access due to concurrent update")));
			break;
		case TM_Deleted:
			if (xact_snapshot)
				ereport(ERROR,
						(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
						 errmsg("could not serialize access due to concurrent delete")));
			return VERIST_ROW_GONE;
		default:
			break;
	}
	elog(ERROR, "unexpected table_tuple_lock status: %u", result);
	pg_unreachable();
}

/* Replace the locked row by ru->slot's values (tts_values/tts_isnull, every column). */
void
VeristRowUpdatePut(VeristRowUpdate *ru)
{
	ExecStoreVirtualTuple(ru->slot);
	ExecSimpleRelationUpdate(ru->rri, ru->estate, NULL, ru->found, ru->slot);
}

/*
 * Close what Begin opened (the lock stays until the transaction ends), and
 * make the new version visible to what the call runs next.
 */
void
VeristRowUpdateEnd(VeristRowUpdate *ru)
{
	ExecCloseIndices(ru->rri);
	ExecResetTupleTable(ru->estate->es_tupleTable, false);
	FreeExecutorState(ru->estate);
	PopActiveSnapshot();
	table_close(ru->rel, NoLock);
	CommandCounterIncrement();
}
