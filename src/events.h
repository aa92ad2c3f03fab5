/*
 * events.h
 *		The writer's side of gap-free reading of the event log, and the
 *		one exception to its append-only guard (retiring a sealed run).
 */
#ifndef VERIST_EVENTS_H
#define VERIST_EVENTS_H

extern void VeristEventsWriterFloor(void);
extern void VeristRetiringEvents(bool on);

#endif							/* VERIST_EVENTS_H */
