/*
 * outbox.h
 *		Inserting commands into the outbox, and wake-ups.
 */
#ifndef VERIST_OUTBOX_H
#define VERIST_OUTBOX_H

#include "postgres.h"

#include "plans.h"

#define VERIST_NOTIFY_CHANNEL "verist_outbox"

extern uint64 VeristInsertOutbox(text *workflow_id, text *run_id, text *step_id,
								 Datum *commands, Datum *keys, int count,
								 const char *status,
								 VeristDuplicate on_duplicate, void *arg);
extern void VeristNotifyPending(text *workflow_id);

#endif							/* VERIST_OUTBOX_H */
