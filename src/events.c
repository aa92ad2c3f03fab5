/*
 * events.c
 *		The append-only guard of verist_events.
 *
 * The event log is the audit trail: verist never updates or deletes an event,
 * and this trigger makes the database refuse anyone else who tries, the table
 * owner and superusers included (short of disabling the trigger, which needs
 * ownership of the table and is itself visible in the catalog).
 */
#include "postgres.h"

#include "commands/trigger.h"

#include "errors.h"
#include "verist.h"

PG_FUNCTION_INFO_V1(verist_events_refuse_change);

/* Trigger function: refuse UPDATE, DELETE and TRUNCATE of events. */
Datum
verist_events_refuse_change(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	const char *action;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function can only be called as a trigger")));

	if (TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event))
		action = "update";
	else if (TRIGGER_FIRED_BY_DELETE(trigdata->tg_event))
		action = "delete from";
	else if (TRIGGER_FIRED_BY_TRUNCATE(trigdata->tg_event))
		action = "truncate";
	else
		action = "change";

	ereport(ERROR,
			(errcode(ERRCODE_VERIST_APPEND_ONLY),
			 errmsg("cannot %s table \"%s\"", action,
					RelationGetRelationName(trigdata->tg_relation)),
			 errdetail("The verist event log is append-only: events are never changed or removed."),
			 errhint("Record a correction as a new event.")));
	PG_RETURN_NULL();
}
