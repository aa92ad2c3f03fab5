/*
 * events.h
 *		The writer's side of gap-free reading of the event log.
 */
#ifndef VERIST_EVENTS_H
#define VERIST_EVENTS_H

extern void VeristEventsWriterFloor(void);

#endif							/* VERIST_EVENTS_H */
