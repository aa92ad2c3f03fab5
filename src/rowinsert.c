/*
 * rowinsert.c
 *		Writing a commit's rows without a statement: the executor's simple
 *		insert path, as logical replication's apply worker uses it.
 *
 * A commit's rows -- its events, commands and ledger entry, and a new run's
 * state row -- used to go in through prepared INSERTs run by SPI.  Each such
 * statement starts and ends an executor, takes a snapshot and unpacks its
 * arrays through set-returning functions: for two or three rows that costs
 * more than the rows (test/bench/README.md, "The commit path").  Here the rows go straight to the table: the tuple and its
 * index entries, with the stored generated columns computed, the CHECK and
 * NOT NULL constraints checked and the columns not given filled from their
 * defaults, exactly what the INSERT did.  A new run's row goes in as
 * INSERT ... ON CONFLICT DO NOTHING put it: by speculative insertion
 * (VeristRowInsertPutUnique), so that a run that exists is an answer, not an
 * error.
 *
 * What the INSERT's plan holds for the life of the backend, this path keeps
 * too: the planned expressions of the table's defaults, generated columns
 * and CHECK constraints (a RowShape), which an executor would otherwise read
 * back from their stored text on every call.  A shape is rebuilt after any
 * invalidation of its relation (ALTER TABLE, a new constraint, ANALYZE).
 *
 * The INSERT also does what this path does not: row and statement triggers,
 * rules, row security, inheritance and partition routing, and its own
 * permission and read-only checks with their errors.  None of these apply to
 * verist's tables as installed, but an operator may add a trigger (an audit
 * copy, a foreign key), so VeristRowInsertBegin declines whenever any of them
 * could matter, and the caller runs its statement instead.  The lock taken
 * here is the one the statement takes; it keeps CREATE TRIGGER, CREATE RULE
 * and ALTER TABLE out until the transaction ends, so what was checked holds
 * while the rows go in.
 */
#include "postgres.h"

#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "commands/trigger.h"
#include "executor/executor.h"
#include "executor/nodeModifyTable.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "optimizer/optimizer.h"
#include "rewrite/rewriteHandler.h"
#include "storage/lmgr.h"
#include "utils/acl.h"
#include "utils/inval.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "plans.h"
#include "rowinsert.h"

/* Could an INSERT (or an UPDATE) of rel fire anything, or be rewritten? */
static bool
HasActions(Relation rel, CmdType cmd)
{
	TriggerDesc *t = rel->trigdesc;

	if (rel->rd_rules != NULL)
		return true;
	if (t == NULL)
		return false;
	if (cmd == CMD_INSERT)
		return t->trig_insert_before_row || t->trig_insert_after_row ||
			t->trig_insert_instead_row || t->trig_insert_before_statement ||
			t->trig_insert_after_statement || t->trig_insert_new_table;
	return t->trig_update_before_row || t->trig_update_after_row ||
		t->trig_update_instead_row || t->trig_update_before_statement ||
		t->trig_update_after_statement || t->trig_update_old_table ||
		t->trig_update_new_table;
}

/*
 * May an INSERT (or UPDATE) of rel go without its statement, or must the
 * statement run?  Also rowupdate.c's test.
 */
bool
VeristSimpleWriteApplies(Relation rel, CmdType cmd)
{
	AclMode		needed = (cmd == CMD_INSERT) ? ACL_INSERT : (ACL_UPDATE | ACL_SELECT);

	Assert(cmd == CMD_INSERT || cmd == CMD_UPDATE);
	return rel->rd_rel->relkind == RELKIND_RELATION &&
		!rel->rd_rel->relispartition &&
		!rel->rd_rel->relhassubclass &&
		!rel->rd_rel->relrowsecurity &&
		!HasActions(rel, cmd) &&
		pg_class_aclmask(RelationGetRelid(rel), GetUserId(), needed, ACLMASK_ALL) == needed;
}

/*
 * A table's INSERT of one column list, as planned expressions: the given
 * columns' attribute numbers, the defaults of all the other columns, the
 * generation expressions and the CHECK constraints (in the relation's order).
 */
typedef struct RowShape
{
	Oid			relid;
	const char *const *columns; /* the column list (a static array) */
	bool		valid;			/* cleared by any invalidation of relid */
	MemoryContext cxt;			/* holds the expressions */
	int			natts;
	AttrNumber	attnums[VERIST_ROW_MAX_COLUMNS];
	Expr	  **defaults;		/* per attribute not given: NULL or its default */
	Expr	  **generated;		/* per stored generated attribute */
	int			ngenerated;
	int			ncheck;
	Expr	  **checks;
} RowShape;

#define VERIST_ROW_SHAPES 8		/* events, outbox, ledger, state, and room */

static RowShape row_shapes[VERIST_ROW_SHAPES];

/* Inserts begun and not yet ended in this transaction (an error ends them all). */
static int	open_inserts = 0;

static void
RowInsertXactCallback(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT ||
		event == XACT_EVENT_COMMIT || event == XACT_EVENT_PARALLEL_COMMIT ||
		event == XACT_EVENT_PREPARE)
		open_inserts = 0;
}

/* A relation changed (or all did: InvalidOid): rebuild its shapes when next used. */
static void
RowShapeInvalidate(Datum arg, Oid relid)
{
	for (int i = 0; i < VERIST_ROW_SHAPES; i++)
		if (relid == InvalidOid || row_shapes[i].relid == relid)
			row_shapes[i].valid = false;
}

/* Register the invalidation and transaction callbacks (from _PG_init). */
void
VeristRowInsertInit(void)
{
	CacheRegisterRelcacheCallback(RowShapeInvalidate, (Datum) 0);
	RegisterXactCallback(RowInsertXactCallback, NULL);
}

/* Find the given columns; plan every other column's default. */
static void
ShapeColumns(RowShape *shape, Relation rel, const char *const *columns, int ncolumns)
{
	TupleDesc	desc = RelationGetDescr(rel);

	for (int c = 0; c < ncolumns; c++)
		shape->attnums[c] = InvalidAttrNumber;
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		bool		given = false;

		if (att->attisdropped || att->attgenerated)
			continue;
		for (int c = 0; c < ncolumns && !given; c++)
		{
			if (strcmp(NameStr(att->attname), columns[c]) == 0)
			{
				shape->attnums[c] = att->attnum;
				given = true;
			}
		}
		if (!given)
		{
			Expr	   *def = (Expr *) build_column_default(rel, att->attnum);

			if (def != NULL)
				shape->defaults[i] = expression_planner(def);
		}
	}
	for (int c = 0; c < ncolumns; c++)
		if (shape->attnums[c] == InvalidAttrNumber)
			elog(ERROR, "column \"%s\" of relation \"%s\" does not exist",
				 columns[c], RelationGetRelationName(rel));
}

/* Plan the generation expressions and the CHECK constraints, as the executor does. */
static void
ShapeConstraints(RowShape *shape, Relation rel)
{
	TupleConstr *constr = RelationGetDescr(rel)->constr;

	if (constr == NULL)
		return;
	for (int i = 0; i < shape->natts && constr->has_generated_stored; i++)
	{
		if (TupleDescAttr(RelationGetDescr(rel), i)->attgenerated != ATTRIBUTE_GENERATED_STORED)
			continue;
		shape->generated[i] = expression_planner((Expr *) build_column_default(rel, i + 1));
		if (shape->generated[i] == NULL)
			elog(ERROR, "no generation expression for column %d of relation \"%s\"",
				 i + 1, RelationGetRelationName(rel));
		shape->ngenerated++;
	}
	shape->ncheck = constr->num_check;
	shape->checks = palloc(sizeof(Expr *) * Max(constr->num_check, 1));
	for (int i = 0; i < constr->num_check; i++)
		shape->checks[i] = expression_planner(stringToNode(constr->check[i].ccbin));
}

/* Build a shape in its context; on an error it stays invalid. */
static void
FillShape(RowShape *shape, Relation rel, const char *const *columns, int ncolumns)
{
	MemoryContext old = MemoryContextSwitchTo(shape->cxt);

	shape->defaults = palloc0(sizeof(Expr *) * shape->natts);
	shape->generated = palloc0(sizeof(Expr *) * shape->natts);
	PG_TRY();
	{
		ShapeColumns(shape, rel, columns, ncolumns);
		ShapeConstraints(shape, rel);
	}
	PG_CATCH();
	{
		shape->valid = false;
		PG_RE_THROW();
	}
	PG_END_TRY();
	MemoryContextSwitchTo(old);
}

/*
 * The shape of rel for this column list, rebuilt if the relation changed.
 * Called with the relation locked, so no DDL can change it meanwhile; an
 * invalidation that still arrives while building (ANALYZE's, say) only
 * marks the shape for rebuilding next time.
 */
static RowShape *
GetRowShape(Relation rel, const char *const *columns, int ncolumns)
{
	RowShape   *shape = NULL;

	for (int i = 0; i < VERIST_ROW_SHAPES && shape == NULL; i++)
		if (row_shapes[i].relid == RelationGetRelid(rel) && row_shapes[i].columns == columns)
			shape = &row_shapes[i];
	if (shape != NULL && shape->valid && shape->natts == RelationGetDescr(rel)->natts)
		return shape;
	/* or any shape not valid: unused, or of a relation changed or dropped since */
	for (int i = 0; i < VERIST_ROW_SHAPES && shape == NULL; i++)
		if (!row_shapes[i].valid)
			shape = &row_shapes[i];
	if (shape == NULL)
		elog(ERROR, "no room for the row shape of relation \"%s\"",
			 RelationGetRelationName(rel));

	/*
	 * While an insert is open further up the stack (a default calling a
	 * function that commits, say), it may still use the old expressions:
	 * they go away with the transaction, not now.
	 */
	if (shape->cxt != NULL && open_inserts > 0)
	{
		MemoryContextSetParent(shape->cxt, TopTransactionContext);
		shape->cxt = NULL;
	}
	if (shape->cxt == NULL)
		shape->cxt = AllocSetContextCreate(CacheMemoryContext, "verist row shape",
										   ALLOCSET_SMALL_SIZES);
	MemoryContextReset(shape->cxt);
	shape->relid = RelationGetRelid(rel);
	shape->columns = columns;
	shape->valid = true;
	shape->natts = RelationGetDescr(rel)->natts;
	shape->ngenerated = 0;
	shape->ncheck = 0;
	FillShape(shape, rel, columns, ncolumns);
	return shape;
}

/* This call's executable expressions, from the shape. */
static void
InitExpressions(VeristRowInsert *ri, RowShape *shape)
{
	ResultRelInfo *rri = ri->rri;
	MemoryContext old = MemoryContextSwitchTo(ri->estate->es_query_cxt);

	ri->defaults = palloc0(sizeof(ExprState *) * shape->natts);
	for (int i = 0; i < shape->natts; i++)
		if (shape->defaults[i] != NULL)
			ri->defaults[i] = ExecInitExpr(shape->defaults[i], NULL);
	/* what ExecInitStoredGenerated and ExecRelCheck would build for an INSERT */
	if (shape->ngenerated > 0)
	{
		rri->ri_GeneratedExprs = palloc0(sizeof(ExprState *) * shape->natts);
		for (int i = 0; i < shape->natts; i++)
			if (shape->generated[i] != NULL)
				rri->ri_GeneratedExprs[i] = ExecInitExpr(shape->generated[i], NULL);
		rri->ri_NumGeneratedNeeded = shape->ngenerated;
	}
	if (shape->ncheck > 0 && shape->ncheck == RelationGetDescr(ri->rel)->constr->num_check)
	{
		rri->ri_ConstraintExprs = palloc(sizeof(ExprState *) * shape->ncheck);
		for (int i = 0; i < shape->ncheck; i++)
			rri->ri_ConstraintExprs[i] = ExecInitExpr(shape->checks[i], NULL);
	}
	MemoryContextSwitchTo(old);
}

/*
 * An executor state whose one result relation is rel (locked by the caller
 * with RowExclusiveLock), as a statement writing rel would have; updated:
 * the columns an update sets (NULL for an insert).  Also rowupdate.c's.
 */
EState *
VeristWriteState(Relation rel, Bitmapset *updated, ResultRelInfo **rri)
{
	EState	   *estate = CreateExecutorState();
	RangeTblEntry *rte = makeNode(RangeTblEntry);

	rte->rtekind = RTE_RELATION;
	rte->relid = RelationGetRelid(rel);
	rte->relkind = RELKIND_RELATION;
	rte->rellockmode = RowExclusiveLock;
	rte->updatedCols = updated;
	ExecInitRangeTable(estate, list_make1(rte));
	*rri = makeNode(ResultRelInfo);
	InitResultRelInfo(*rri, rel, 1, NULL, 0);
	return estate;
}

/*
 * Open verist's table relname for inserting rows of the given columns, in this
 * order; false (nothing opened, nothing locked) when the full INSERT must run.
 * With unique, the rows go in through VeristRowInsertPutUnique.
 */
static bool
BeginInsert(VeristRowInsert *ri, const char *relname,
			const char *const *columns, int ncolumns, bool unique)
{
	RowShape   *shape;

	Assert(ncolumns <= VERIST_ROW_MAX_COLUMNS);
	/* the INSERT raises the read-only errors (and a standby's) itself */
	if (XactReadOnly || IsInParallelMode())
		return false;
	ri->rel = table_open(VeristRelation(relname), RowExclusiveLock);
	if (!VeristSimpleWriteApplies(ri->rel, CMD_INSERT))
	{
		table_close(ri->rel, NoLock);	/* the INSERT locks it the same way */
		return false;
	}

	ri->estate = VeristWriteState(ri->rel, NULL, &ri->rri);
	ri->estate->es_output_cid = GetCurrentCommandId(true);
	ExecOpenIndices(ri->rri, unique);	/* unique: what a conflict check needs */
	ri->slot = ExecInitExtraTupleSlot(ri->estate, RelationGetDescr(ri->rel),
									  &TTSOpsVirtual);
	shape = GetRowShape(ri->rel, columns, ncolumns);
	InitExpressions(ri, shape);
	memcpy(ri->attnums, shape->attnums, sizeof(AttrNumber) * ncolumns);
	ri->ncolumns = ncolumns;
	open_inserts++;
	return true;
}

bool
VeristRowInsertBegin(VeristRowInsert *ri, const char *relname,
					 const char *const *columns, int ncolumns)
{
	return BeginInsert(ri, relname, columns, ncolumns, false);
}

/* VeristRowInsertBegin for rows that go in through VeristRowInsertPutUnique. */
bool
VeristRowInsertBeginUnique(VeristRowInsert *ri, const char *relname,
						   const char *const *columns, int ncolumns)
{
	return BeginInsert(ri, relname, columns, ncolumns, true);
}

/* The row to insert, in ri->slot: the values given, the defaults for the rest. */
static TupleTableSlot *
FillRow(VeristRowInsert *ri, const Datum *values, const bool *nulls)
{
	TupleTableSlot *slot = ri->slot;
	ExprContext *econtext = GetPerTupleExprContext(ri->estate);
	int			natts = slot->tts_tupleDescriptor->natts;

	ExecClearTuple(slot);
	for (int i = 0; i < natts; i++)
	{
		slot->tts_values[i] = (Datum) 0;
		slot->tts_isnull[i] = true;
		if (ri->defaults[i] != NULL)
			slot->tts_values[i] = ExecEvalExpr(ri->defaults[i], econtext,
											   &slot->tts_isnull[i]);
	}
	for (int c = 0; c < ri->ncolumns; c++)
	{
		slot->tts_values[ri->attnums[c] - 1] = values[c];
		slot->tts_isnull[ri->attnums[c] - 1] = nulls[c];
	}
	return ExecStoreVirtualTuple(slot);
}

/* Insert one row: values and nulls of the columns given to Begin, in order. */
void
VeristRowInsertPut(VeristRowInsert *ri, const Datum *values, const bool *nulls)
{
	/* generated columns, constraints, the tuple, its index entries */
	ExecSimpleRelationInsert(ri->rri, ri->estate, FillRow(ri, values, nulls));
	ResetPerTupleExprContext(ri->estate);
}

/*
 * In REPEATABLE READ and SERIALIZABLE, the row a conflict was found with must
 * be visible to the transaction, as for INSERT ... ON CONFLICT DO NOTHING:
 * else the transaction has missed a concurrent change, and fails.
 */
static void
CheckConflictVisible(VeristRowInsert *ri, ItemPointer tid)
{
	TupleTableSlot *found;
	bool		isnull;

	if (!IsolationUsesXactSnapshot())
		return;
	found = table_slot_create(ri->rel, &ri->estate->es_tupleTable);
	if (!table_tuple_fetch_row_version(ri->rel, tid, SnapshotAny, found))
		elog(ERROR, "failed to fetch conflicting tuple for ON CONFLICT");
	if (!table_tuple_satisfies_snapshot(ri->rel, found, GetActiveSnapshot()) &&
		!TransactionIdIsCurrentTransactionId(
			DatumGetTransactionId(slot_getsysattr(found, MinTransactionIdAttributeNumber,
												  &isnull))))
		ereport(ERROR,
				(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
				 errmsg("could not serialize access due to concurrent update")));
}

/*
 * Insert one row unless a row with the same key is in one of the table's
 * unique indexes (INSERT ... ON CONFLICT DO NOTHING): false if so, and
 * nothing written.  Begun with VeristRowInsertBeginUnique.  The executor's
 * speculative insertion: check for a conflict (waiting for a transaction
 * inserting the same key), insert speculatively, then the index entries;
 * if a concurrent insert of the same key got in first, take the tuple
 * back and start over.
 */
bool
VeristRowInsertPutUnique(VeristRowInsert *ri, const Datum *values, const bool *nulls)
{
	TupleTableSlot *slot = FillRow(ri, values, nulls);
	Relation	rel = ri->rel;
	bool		clash = true;

	/* what ExecSimpleRelationInsert does before the tuple */
	if (rel->rd_att->constr && rel->rd_att->constr->has_generated_stored)
		ExecComputeStoredGenerated(ri->rri, ri->estate, slot, CMD_INSERT);
	if (rel->rd_att->constr)
		ExecConstraints(ri->rri, slot, ri->estate);
	CheckCmdReplicaIdentity(rel, CMD_INSERT);

	while (clash)
	{
		ItemPointerData conflict;
		uint32		token;

		if (!ExecCheckIndexConstraints(ri->rri, slot, ri->estate, &conflict, NIL))
		{
			CheckConflictVisible(ri, &conflict);
			ResetPerTupleExprContext(ri->estate);
			return false;
		}
		token = SpeculativeInsertionLockAcquire(GetCurrentTransactionId());
		table_tuple_insert_speculative(rel, slot, ri->estate->es_output_cid, 0, NULL, token);
		clash = false;			/* set only when there is one */
		list_free(ExecInsertIndexTuples(ri->rri, slot, ri->estate, false, true, &clash, NIL));
		table_tuple_complete_speculative(rel, slot, token, !clash);
		SpeculativeInsertionLockRelease(GetCurrentTransactionId());
	}
	ResetPerTupleExprContext(ri->estate);
	return true;
}

/*
 * Close what Begin opened (the lock stays until the transaction ends), and
 * make the rows visible to what the call runs next, as a statement would.
 */
void
VeristRowInsertEnd(VeristRowInsert *ri)
{
	ExecCloseIndices(ri->rri);
	ExecResetTupleTable(ri->estate->es_tupleTable, false);
	FreeExecutorState(ri->estate);
	table_close(ri->rel, NoLock);
	CommandCounterIncrement();
	open_inserts--;
}
