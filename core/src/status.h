/* status.h — the calling thread's last error: code, errno and a message that
 * names the file and position. Set at the failure site, read by the public
 * lsmlog_errmsg() / lsmlog_errno(). */
#ifndef LSMLOG_STATUS_H
#define LSMLOG_STATUS_H

#include "lsmlog.h"

#if defined(__GNUC__)
#define LSMLOG_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define LSMLOG_PRINTF(a, b)
/* Appends to the thread's current message, keeping its errno; returns code. */
int st_append(int code, const char *fmt, ...) LSMLOG_PRINTF(2, 3);

#endif

/* Records `code` with a formatted message and no errno; returns code. */
int st_error(int code, const char *fmt, ...) LSMLOG_PRINTF(2, 3);

/* Records LSMLOG_E_IO (or another code) with the current errno appended as
 * ": <strerror>"; returns code. Call it right after the failing syscall. */
int st_errno(int code, const char *fmt, ...) LSMLOG_PRINTF(2, 3);

/* Appends to the thread's current message, keeping its errno; returns code. */
int st_append(int code, const char *fmt, ...) LSMLOG_PRINTF(2, 3);

#endif
