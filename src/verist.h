/*
 * verist.h
 *		The settings of the verist extension (verist.c defines them).
 */
#ifndef VERIST_H
#define VERIST_H

#include "postgres.h"

#include "compat.h"

/* verist.hash_only: drop llmTrace input and output before storing events. */
extern bool verist_hash_only;

/* verist.notify: NOTIFY verist_outbox when commands become pending. */
extern bool verist_notify;

/* verist.notify_payload: what a wake-up names. */
typedef enum VeristNotifyPayload
{
	VERIST_NOTIFY_PAYLOAD_NONE,
	VERIST_NOTIFY_PAYLOAD_WORKFLOW_ID
} VeristNotifyPayload;
extern int	verist_notify_payload;

/* verist.actor (0.4.0): who acts, as the application knows it; recorded in the ledger. */
extern char *verist_actor;

#endif							/* VERIST_H */
