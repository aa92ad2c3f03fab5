/*
 * state.c
 *		Reading runs and writing human overlays: verist_load,
 *		verist_effective_state, verist_set_overlay.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "utils/builtins.h"

#include "args.h"
#include "errors.h"
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

PG_FUNCTION_INFO_V1(verist_set_overlay);

/* SQL: verist_set_overlay(workflow_id, run_id, patch jsonb) returns verist_state */
Datum
verist_set_overlay(PG_FUNCTION_ARGS)
{
	text	   *wf = VeristIdArg(fcinfo, 0, "workflow_id");
	text	   *run = VeristIdArg(fcinfo, 1, "run_id");
	Jsonb	   *patch = VeristObjectArg(fcinfo, 2, "patch");
	Datum		values[3] = {PointerGetDatum(wf), PointerGetDatum(run),
	JsonbPGetDatum(patch)};
	Datum		result;

	VeristConnect(fcinfo);
	if (VeristExecute(&state_overlay, values, NULL, false, 0) != 1)
		VeristRaiseRunMissing(wf, run, "An overlay corrects an existing run; commit the run first.");
	result = VeristReturnRow(fcinfo, SPI_tuptable->vals[0]);
	VeristFinish();
	PG_RETURN_DATUM(result);
}
