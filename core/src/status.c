/* status.c — per-thread error state and the fixed texts of status codes. */
#include "status.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Per thread: a handle may be shared by threads, and a failed open has no
 * handle to hold its message. */
static _Thread_local char tl_msg[1024];
static _Thread_local int tl_errno;

const char *lsmlog_strerror(int code) {
    switch (code) {
    case LSMLOG_OK: return "ok";
    case LSMLOG_NOTFOUND: return "not found";
    case LSMLOG_TIMEOUT: return "timed out";
    case LSMLOG_E_IO: return "I/O error";
    case LSMLOG_E_CORRUPT: return "corruption";
    case LSMLOG_E_NOMEM: return "out of memory";
    case LSMLOG_E_INVALID: return "invalid argument";
    case LSMLOG_E_BUSY: return "busy: the handle has open iterators";
    case LSMLOG_E_LOCKED: return "locked by another writer";
    case LSMLOG_E_CLOSED: return "handle is closed";
    case LSMLOG_E_READONLY: return "handle is read-only";
    case LSMLOG_E_TOOBIG: return "too big";
    case LSMLOG_E_VERSION: return "unsupported format version";
    case LSMLOG_E_NOENT: return "no such file or directory";
    case LSMLOG_E_FAILED: return "handle failed: an earlier fsync failed";
    case LSMLOG_E_CANCELED: return "canceled";
    default: return "unknown status";
    }
}

const char *lsmlog_errmsg(void) { return tl_msg[0] ? tl_msg : "no error"; }

int lsmlog_errno(void) { return tl_errno; }

static int st_vset(int code, int err, const char *fmt, va_list ap) {
    int n = vsnprintf(tl_msg, sizeof tl_msg, fmt, ap);
    if (n < 0) n = 0;
    if ((size_t)n >= sizeof tl_msg) n = (int)sizeof tl_msg - 1;
    if (err) snprintf(tl_msg + n, sizeof tl_msg - (size_t)n, ": %s", strerror(err));
    tl_errno = err;
    return code;
}

int st_error(int code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    st_vset(code, 0, fmt, ap);
    va_end(ap);
    return code;
}

int st_errno(int code, const char *fmt, ...) {
    int err = errno;
    va_list ap;
    va_start(ap, fmt);
    st_vset(code, err, fmt, ap);
    va_end(ap);
    errno = err;
    return code;
}

int st_append(int code, const char *fmt, ...) {
    size_t used = strlen(tl_msg);
    va_list ap;
    va_start(ap, fmt);
    if (used < sizeof tl_msg - 1) vsnprintf(tl_msg + used, sizeof tl_msg - used, fmt, ap);
    va_end(ap);
    return code;
}
