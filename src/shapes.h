/*
 * shapes.h
 *		The shapes of events and commands, and how routing treats a command.
 */
#ifndef VERIST_SHAPES_H
#define VERIST_SHAPES_H

#include "postgres.h"

#include "utils/jsonb.h"

/* What routing does with a command (its category). */
typedef enum VeristCommandKind
{
	VERIST_CMD_PLAIN,			/* invoke, fanout, emit: to the outbox */
	VERIST_CMD_REVIEW,			/* blocks the run, defers the others */
	VERIST_CMD_SUSPEND			/* blocks the run, discards the others */
} VeristCommandKind;

extern void VeristValidateEvent(JsonbValue *element, int index);
extern VeristCommandKind VeristValidateCommand(JsonbValue *element, int index);

#endif							/* VERIST_SHAPES_H */
