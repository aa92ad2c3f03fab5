/*
 * state.c
 *		Reading runs and writing human overlays: verist_load,
 *		verist_effective_state, verist_set_overlay.
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "utils/builtins.h"

#include "args.h"
#include "errors.h"
#include "ledger.h"
#include "plans.h"

static VeristQuery state_load = {
	"SELECT s.* FROM @extschema@.verist_state AS s"
	" WHERE s.workflow_id OPERATOR(pg_catalog.=) $1"
	" AND s.run_id OPERATOR(pg_catalog.=) $2",
	2, {TEXTOID, TEXTOID}
};

static VeristQuery state_effective = {
	"SELECT s.computed OPERATOR(pg_catalog.||) s.overlay"
	" FROM @extschema@.verist_state AS s"
	" WHERE s.workflow_id OPERATOR(pg_catalog.=) $1"
	" AND s.run_id OPERATOR(pg_catalog.=) $2",
	2, {TEXTOID, TEXTOID}
};

static VeristQuery state_overlay = {
	"UPDATE @extschema@.verist_state AS s"
	" SET overlay = s.overlay OPERATOR(pg_catalog.||) $3,"
	" updated_at = pg_catalog.now()"
	" WHERE s.workflow_id OPERATOR(pg_catalog.=) $1"
	" AND s.run_id OPERATOR(pg_catalog.=) $2"
	" RETURNING s.*",
	3, {TEXTOID, TEXTOID, JSONBOID}
};

/* 0.4.0: the overlay and its ledger entry, in one statement. */
static VeristQuery state_overlay_ledger = {
	"WITH s AS ("
	"  UPDATE @extschema@.verist_state AS s"
	"  SET overlay = s.overlay OPERATOR(pg_catalog.||) $3,"
	"  updated_at = pg_catalog.now(),"
	"  ledger_seq = s.ledger_seq OPERATOR(pg_catalog.+) 1,"
	"  ledger_hash = @extschema@.verist_ledger_extend(s.ledger_hash, s.ledger_seq, s.version,"
	"                s.chain_hash, $4, $5)"
	"  WHERE s.workflow_id OPERATOR(pg_catalog.=) $1"
	"  AND s.run_id OPERATOR(pg_catalog.=) $2"
	"  RETURNING s.*"
	"), l AS ("
	"  INSERT INTO @extschema@.verist_ledger"
	"  (workflow_id, run_id, seq, kind, version, change, role, session_role, actor,"
	"   events_seq, events_hash, created_at, hash)"
	"  SELECT s.workflow_id, s.run_id, s.ledger_seq, 'overlay', s.version, $3, $6, $7, $8,"
	"         s.chain_seq, s.chain_hash, pg_catalog.now(), s.ledger_hash FROM s"
	") SELECT * FROM s",
	8, {TEXTOID, TEXTOID, JSONBOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID}
};

PG_FUNCTION_INFO_V1(verist_load);

/* SQL: verist_load(workflow_id, run_id) returns setof verist_state */
Datum
verist_load(PG_FUNCTION_ARGS)
{
	Datum		ids[2];

	ids[0] = PointerGetDatum(VeristIdArg(fcinfo, 0, "workflow_id"));
	ids[1] = PointerGetDatum(VeristIdArg(fcinfo, 1, "run_id"));
	return VeristReturnRows(fcinfo, &state_load, ids);
}

PG_FUNCTION_INFO_V1(verist_effective_state);

/* SQL: verist_effective_state(workflow_id, run_id) returns jsonb */
Datum
verist_effective_state(PG_FUNCTION_ARGS)
{
	Datum		values[2];
	Datum		result = (Datum) 0;
	bool		isnull = true;

	values[0] = PointerGetDatum(VeristIdArg(fcinfo, 0, "workflow_id"));
	values[1] = PointerGetDatum(VeristIdArg(fcinfo, 1, "run_id"));

	VeristConnect(fcinfo);
	if (VeristExecute(&state_effective, values, NULL, true, 1) == 1)
	{
		result = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
		if (!isnull)
			result = SPI_datumTransfer(result, false, -1);
	}
	VeristFinish();

	/* A missing run has no state: NULL, as its signature says. */
	if (isnull)
		PG_RETURN_NULL();
	PG_RETURN_DATUM(result);
}

/*
 * verist_set_overlay for both versions: with ledger (0.4.0 on), the patch is
 * also an entry of the run's ledger, with who made it.
 */
static Datum
SetOverlay(FunctionCallInfo fcinfo, bool ledger)
{
	text	   *wf = VeristIdArg(fcinfo, 0, "workflow_id");
	text	   *run = VeristIdArg(fcinfo, 1, "run_id");
	Jsonb	   *patch = VeristObjectArg(fcinfo, 2, "patch");
	Datum		values[8] = {PointerGetDatum(wf), PointerGetDatum(run),
	JsonbPGetDatum(patch)};
	char		nulls[9] = "        ";
	VeristQuery *query = &state_overlay;
	Datum		result;

	if (ledger)
	{
		VeristLedgerEntry e;
		VeristWho	who;
		StringInfoData head;
		StringInfoData tail;

		VeristWhoIsActing(&who);
		memset(&e, 0, sizeof(e));
		e.workflow_id = wf;
		e.run_id = run;
		e.kind = VERIST_ENTRY_OVERLAY;
		e.change = &patch->root;
		e.role = who.role;
		e.session_role = who.session_role;
		e.actor = who.actor;
		e.created_at = GetCurrentTransactionStartTimestamp();
		initStringInfo(&head);
		initStringInfo(&tail);
		VeristLedgerParts(&e, &head, &tail);
		values[3] = PointerGetDatum(cstring_to_text_with_len(head.data, head.len));
		values[4] = PointerGetDatum(cstring_to_text_with_len(tail.data, tail.len));
		values[5] = CStringGetTextDatum(who.role);
		values[6] = CStringGetTextDatum(who.session_role);
		values[7] = who.actor ? CStringGetTextDatum(who.actor) : (Datum) 0;
		nulls[7] = who.actor ? ' ' : 'n';
		query = &state_overlay_ledger;
	}

	VeristConnect(fcinfo);
	if (VeristExecute(query, values, nulls, false, 0) != 1)
		VeristRaiseRunMissing(wf, run, "An overlay corrects an existing run; commit the run first.");
	result = VeristReturnRow(fcinfo, SPI_tuptable->vals[0]);
	VeristFinish();
	PG_RETURN_DATUM(result);
}

PG_FUNCTION_INFO_V1(verist_set_overlay);

/* SQL (0.1.0 to 0.3.x): verist_set_overlay(workflow_id, run_id, patch jsonb) returns verist_state */
Datum
verist_set_overlay(PG_FUNCTION_ARGS)
{
	return SetOverlay(fcinfo, false);
}

PG_FUNCTION_INFO_V1(verist_set_overlay_ledger);

/* SQL (0.4.0 on): verist_set_overlay, recorded in the run's ledger */
Datum
verist_set_overlay_ledger(PG_FUNCTION_ARGS)
{
	return SetOverlay(fcinfo, true);
}
