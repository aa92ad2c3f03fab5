/*
 * compat.h
 *		What differs between the PostgreSQL majors verist builds on.
 *
 * verist is built and tested on PostgreSQL 15.  It is written to build on 16
 * and 17 as well; the API changes between them that touch verist are shimmed
 * here, next to nothing else.
 */
#ifndef VERIST_COMPAT_H
#define VERIST_COMPAT_H

#include "postgres.h"

#include "storage/lock.h"

#if PG_VERSION_NUM < 150000
#error "verist requires PostgreSQL 15 or later"
#endif

/* 16 moved the varlena macros (VARDATA_ANY, VARSIZE_ANY_EXHDR) out of postgres.h. */
#if PG_VERSION_NUM >= 160000
#include "varatt.h"
#endif

/* 17 added "orstronger" to LockHeldByMe. */
#if PG_VERSION_NUM >= 170000
#define VeristLockHeldByMe(tag, mode) LockHeldByMe((tag), (mode), false)
#else
#define VeristLockHeldByMe(tag, mode) LockHeldByMe((tag), (mode))
#endif

#endif							/* VERIST_COMPAT_H */
