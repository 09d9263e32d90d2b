/* log_read.c — reading a Log: get by offset, iterators (zero-copy, following
 * new appends), lookup by time, waiting for growth, and full verification.
 * Every batch is checked (header and body CRC32C) before any record of it is
 * handed out. */
#include "log_internal.h"

#include "alloc.h"
#include "env.h"
#include "index.h"
#include "status.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

struct lsmlog_log_iter {
    lsmlog_log *log;
    segment *seg;     /* a reference, or NULL before the first step */
    uint64_t pos;     /* file position of the next batch in seg */
    batch_cursor cur; /* the records left in the current batch */
    uint64_t want;    /* records below this offset are skipped */
    uint64_t stop;
    int64_t until;
    int finished;     /* a bound was met: no more records, ever */
};

/* Makes what this handle knows as fresh as it can be before a read at
 * `offset`: flushes its own buffered records, or catches up with another
 * process's writes. */
static int freshen(lsmlog_log *log, uint64_t offset) {
    pthread_mutex_lock(&log->mu);
    int behind = offset >= log->visible_end;
    pthread_mutex_unlock(&log->mu);
    if (!behind) return LSMLOG_OK;
    return log->o.readonly ? log_refresh(log) : log_flush_for_readers(log);
}

/* Takes a reference to segs[i] and maps it; with log->mu held. */
static int grab(lsmlog_log *log, segment *s) {
    int rc = seg_map(s);
    if (rc == LSMLOG_OK) s->refs++;
    (void)log;
    return rc;
}

/* With log->mu held: pins s (NULL: nothing to read) for a read below its
 * current size, *limit, and unlocks. LSMLOG_NOTFOUND when s is NULL. */
static int pin_and_unlock(lsmlog_log *log, segment *s, uint64_t *limit) {
    int rc = s ? grab(log, s) : LSMLOG_NOTFOUND;
    if (rc == LSMLOG_OK) *limit = s->size;
    pthread_mutex_unlock(&log->mu);
    return rc;
}

static void release(lsmlog_log *log, segment *s) {
    pthread_mutex_lock(&log->mu);
    log_seg_unref(log, s);
    pthread_mutex_unlock(&log->mu);
}

static int damaged(const segment *s, uint64_t pos, const char *what) {
    return st_error(LSMLOG_E_CORRUPT, "%s: %s at byte %llu", s->path, what, (unsigned long long)pos);
}

/* Checks the batch at *pos, below limit: LSMLOG_OK and *h/body, or CORRUPT. */
static int load_batch(const segment *s, uint64_t pos, uint64_t limit, batch_hdr *h, int64_t *max_ts) {
    const char *what = NULL;
    int v = seg_check_batch(s, pos, limit, 0, h, max_ts, &what);
    return v == 1 ? LSMLOG_OK : damaged(s, pos, what);
}

int lsmlog_log_bounds(lsmlog_log *log, uint64_t *start, uint64_t *end) {
    int rc = log_check(log);
    if (rc) return rc;
    if (log->o.readonly && (rc = log_refresh(log)) != LSMLOG_OK) return rc;
    pthread_mutex_lock(&log->mu);
    uint64_t e = log->assigned_end, s = e;
    for (size_t i = 0; i < log->nsegs; i++)
        if (log->segs[i]->first_off != log->segs[i]->end) {
            s = log->segs[i]->first_off;
            break;
        }
    pthread_mutex_unlock(&log->mu);
    if (start) *start = s;
    if (end) *end = e;
    return LSMLOG_OK;
}

int lsmlog_log_stat(lsmlog_log *log, lsmlog_log_info *info) {
    if (!info) return st_error(LSMLOG_E_INVALID, "lsmlog_log_stat: NULL info");
    memset(info, 0, sizeof *info);
    int rc = lsmlog_log_bounds(log, &info->start, &info->end);
    if (rc) return rc;
    pthread_mutex_lock(&log->mu);
    int any = 0;
    info->segments = log->nsegs;
    for (size_t i = 0; i < log->nsegs; i++) {
        const segment *s = log->segs[i];
        info->bytes += s->size;
        if (s->first_off == s->end) continue;
        if (!any) info->first_ts = s->first_ts;
        if (!any || s->max_ts > info->max_ts) info->max_ts = s->max_ts;
        any = 1;
    }
    pthread_mutex_unlock(&log->mu);
    return LSMLOG_OK;
}

const lsmlog_recovery *lsmlog_log_recovery(lsmlog_log *log) { return log ? &log->rec : NULL; }

int lsmlog_log_get(lsmlog_log *log, uint64_t offset, int64_t *ts, void **value, size_t *len) {
    int rc = log_check(log);
    if (rc || (rc = freshen(log, offset)) != LSMLOG_OK) return rc;
    pthread_mutex_lock(&log->mu);
    segment *s = NULL;
    if (log->nsegs && offset < log->visible_end) {
        s = log->segs[log_seg_index(log, offset)];
        if (offset < s->first_off || offset >= s->end) s = NULL;
    }
    uint64_t pos = s ? idx_pos_for_offset(s, offset) : 0, limit;
    if ((rc = pin_and_unlock(log, s, &limit)) != LSMLOG_OK) return rc;
    rc = LSMLOG_NOTFOUND;
    while (pos < limit) {
        batch_hdr h;
        const char *what = NULL;
        if (seg_check_batch_once(s, pos, limit, &h, &what) != 1) {
            rc = damaged(s, pos, what);
            break;
        }
        if (h.base > offset) break; /* a gap left by repair */
        if (offset < h.base + h.count) {
            batch_cursor c;
            lsmlog_record rec = {0, 0, NULL, 0};
            batch_cursor_init(&c, &h, s->map + pos + BATCH_HEADER_SIZE);
            while (batch_cursor_next(&c, &rec) == 1 && rec.offset < offset) {
            }
            if (rec.offset != offset) {
                rc = damaged(s, pos, "malformed record in a checked batch");
                break;
            }
            void *copy = lm_malloc(rec.len);
            if (!copy) {
                rc = st_error(LSMLOG_E_NOMEM, "out of memory for a %zu-byte value", rec.len);
                break;
            }
            if (rec.len) memcpy(copy, rec.value, rec.len);
            if (ts) *ts = rec.timestamp;
            if (len) *len = rec.len;
            if (value) *value = copy;
            else lm_free(copy);
            rc = LSMLOG_OK;
            break;
        }
        pos += BATCH_HEADER_SIZE + h.body_len;
    }
    release(log, s);
    return rc;
}

int lsmlog_log_offset_for_time(lsmlog_log *log, int64_t ts, uint64_t *offset) {
    int rc = log_check(log);
    if (rc || (rc = freshen(log, UINT64_MAX)) != LSMLOG_OK) return rc;
    if (!offset) return st_error(LSMLOG_E_INVALID, "offset_for_time: NULL offset");
    pthread_mutex_lock(&log->mu);
    segment *s = NULL;
    /* the first segment holding a timestamp >= ts holds the answer: every
     * record before it is older */
    for (size_t i = 0; i < log->nsegs && !s; i++)
        if (log->segs[i]->first_off != log->segs[i]->end && log->segs[i]->max_ts >= ts) s = log->segs[i];
    uint64_t pos = s ? idx_pos_for_time(s, ts) : 0, limit;
    if ((rc = pin_and_unlock(log, s, &limit)) != LSMLOG_OK) return rc;
    rc = LSMLOG_NOTFOUND;
    while (pos < limit && rc == LSMLOG_NOTFOUND) {
        batch_hdr h;
        int64_t mx;
        int r = load_batch(s, pos, limit, &h, &mx);
        if (r) {
            rc = r;
            break;
        }
        if (mx >= ts) {
            batch_cursor c;
            lsmlog_record rec;
            batch_cursor_init(&c, &h, s->map + pos + BATCH_HEADER_SIZE);
            while (batch_cursor_next(&c, &rec) == 1)
                if (rec.timestamp >= ts) {
                    *offset = rec.offset;
                    rc = LSMLOG_OK;
                    break;
                }
        }
        pos += BATCH_HEADER_SIZE + h.body_len;
    }
    release(log, s);
    return rc;
}

/* ---- iterators ---------------------------------------------------------- */

void lsmlog_iter_opts_init(lsmlog_iter_opts *o) {
    o->start = 0;
    o->stop = UINT64_MAX;
    o->since = INT64_MIN;
    o->until = INT64_MAX;
}

int lsmlog_log_iter_open(lsmlog_log *log, const lsmlog_iter_opts *opts, lsmlog_log_iter **out) {
    int rc = log_check(log);
    if (rc) return rc;
    if (!out) return st_error(LSMLOG_E_INVALID, "iter_open: NULL out");
    *out = NULL;
    lsmlog_iter_opts o;
    if (opts) o = *opts;
    else lsmlog_iter_opts_init(&o);
    uint64_t start = o.start;
    if (o.since != INT64_MIN) {
        uint64_t t;
        rc = lsmlog_log_offset_for_time(log, o.since, &t);
        if (rc == LSMLOG_NOTFOUND) rc = lsmlog_log_bounds(log, NULL, &t); /* none yet: from the end */
        if (rc) return rc;
        if (t > start) start = t;
    }
    lsmlog_log_iter *it = lm_calloc(1, sizeof *it);
    if (!it) return st_error(LSMLOG_E_NOMEM, "out of memory");
    it->log = log;
    it->want = start;
    it->stop = o.stop;
    it->until = o.until;
    pthread_mutex_lock(&log->mu);
    log->iters++;
    pthread_mutex_unlock(&log->mu);
    *out = it;
    return LSMLOG_OK;
}

void lsmlog_log_iter_close(lsmlog_log_iter *it) {
    if (!it) return;
    lsmlog_log *log = it->log;
    pthread_mutex_lock(&log->mu);
    if (it->seg) log_seg_unref(log, it->seg);
    log->iters--;
    pthread_mutex_unlock(&log->mu);
    lm_free(it);
}

/* Moves the iterator to the next batch: LSMLOG_OK (cur filled), NOTFOUND (no
 * more for now), or an error. */
static int next_batch(lsmlog_log_iter *it) {
    lsmlog_log *log = it->log;
    int tried_fresh = 0;
    for (;;) {
        pthread_mutex_lock(&log->mu);
        if (!it->seg) { /* position at want */
            if (log->nsegs == 0) goto at_end;
            segment *s = log->segs[log_seg_index(log, it->want)];
            int rc = grab(log, s);
            if (rc) {
                pthread_mutex_unlock(&log->mu);
                return rc;
            }
            it->seg = s;
            it->pos = idx_pos_for_offset(s, it->want);
        }
        segment *s = it->seg;
        if (it->pos < s->size) {
            uint64_t limit = s->size, pos = it->pos;
            pthread_mutex_unlock(&log->mu);
            batch_hdr h;
            int rc = load_batch(s, pos, limit, &h, NULL);
            if (rc) return rc;
            it->pos = pos + BATCH_HEADER_SIZE + h.body_len;
            if (h.base + h.count <= it->want) continue; /* wholly before want */
            batch_cursor_init(&it->cur, &h, s->map + pos + BATCH_HEADER_SIZE);
            return LSMLOG_OK;
        }
        if (s->sealed) {
            /* the next segment in the list; retention may have dropped some,
             * and then the iterator moves on to the new start */
            size_t i = log_seg_index(log, s->base);
            segment *n = NULL;
            if (log->segs[i]->base <= s->base) i++;
            if (i < log->nsegs) n = log->segs[i];
            else if (log->nsegs && log->segs[0]->base > s->base) n = log->segs[0];
            if (n) {
                int rc = grab(log, n);
                if (rc) {
                    pthread_mutex_unlock(&log->mu);
                    return rc;
                }
                /* done with it: let the kernel drop its pages from our RSS
                 * (they stay in the page cache) */
                if (s->refs > 1 && s->map) madvise(s->map, s->size, MADV_DONTNEED);
                log_seg_unref(log, s);
                it->seg = n;
                it->pos = SEG_HEADER_SIZE;
                pthread_mutex_unlock(&log->mu);
                continue;
            }
        }
    at_end:
        pthread_mutex_unlock(&log->mu);
        if (tried_fresh) return LSMLOG_NOTFOUND;
        tried_fresh = 1;
        int rc = freshen(log, it->want);
        if (rc) return rc;
    }
}

int lsmlog_log_iter_next(lsmlog_log_iter *it, lsmlog_record *rec) {
    if (!it || !rec) return st_error(LSMLOG_E_INVALID, "iter_next: NULL argument");
    if (it->log->closing) return st_error(LSMLOG_E_CLOSED, "iterator: its log is closed");
    for (;;) {
        if (it->finished) return LSMLOG_NOTFOUND;
        if (it->cur.left) {
            if (batch_cursor_next(&it->cur, rec) != 1)
                return damaged(it->seg, it->pos, "malformed record in a checked batch");
            if (rec->offset < it->want) continue;
            if (rec->offset >= it->stop || (rec->timestamp >= it->until && it->until != INT64_MAX)) {
                it->finished = 1;
                it->cur.left = 0;
                return LSMLOG_NOTFOUND;
            }
            it->want = rec->offset + 1;
            return LSMLOG_OK;
        }
        if (it->want >= it->stop) {
            it->finished = 1;
            return LSMLOG_NOTFOUND;
        }
        int rc = next_batch(it);
        if (rc) return rc;
    }
}

/* ---- waiting ------------------------------------------------------------ */

static void deadline_after(struct timespec *ts, int64_t ms) {
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (ms % 1000) * 1000000;
    if (ts->tv_nsec >= 1000000000) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000;
    }
}

/* Read-only: sleeps until the directory changes (inotify) or `ms` pass. */
static void sleep_for_change(lsmlog_log *log, int64_t ms) {
    pthread_mutex_lock(&log->refresh_mu);
    if (log->notify_fd < 0) {
        int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
        if (fd >= 0 && inotify_add_watch(fd, log->dir, IN_MODIFY | IN_CREATE | IN_MOVED_TO | IN_CLOSE_WRITE) < 0) {
            close(fd);
            fd = -1;
        }
        log->notify_fd = fd;
    }
    int fd = log->notify_fd;
    pthread_mutex_unlock(&log->refresh_mu);
    /* Without inotify, poll the files every 10 ms; with it, still wake every
     * 100 ms, as another thread may have drained the event. */
    int slice = (int)(ms < 0 || ms > 100 ? 100 : ms);
    if (fd < 0) {
        struct timespec t = {0, (slice < 10 ? slice : 10) * 1000000L};
        nanosleep(&t, NULL);
        return;
    }
    struct pollfd p = {fd, POLLIN, 0};
    if (poll(&p, 1, slice) > 0) {
        char buf[4096];
        while (read(fd, buf, sizeof buf) > 0) {
        }
    }
}

int lsmlog_log_wait(lsmlog_log *log, uint64_t offset, int64_t timeout_ms) {
    int rc = log_check(log);
    if (rc) return rc;
    int64_t deadline = timeout_ms < 0 ? INT64_MAX : env_mono_ms() + timeout_ms;
    if (log->o.readonly) {
        for (;;) {
            if ((rc = log_refresh(log)) != LSMLOG_OK) return rc;
            pthread_mutex_lock(&log->mu);
            int grown = log->visible_end > offset;
            pthread_mutex_unlock(&log->mu);
            if (grown) return LSMLOG_OK;
            if (log->closing) return st_error(LSMLOG_E_CLOSED, "%s: log closed while waiting", log->dir);
            int64_t left = deadline == INT64_MAX ? -1 : deadline - env_mono_ms();
            if (deadline != INT64_MAX && left <= 0) return LSMLOG_TIMEOUT;
            sleep_for_change(log, left);
        }
    }
    pthread_mutex_lock(&log->mu);
    for (;;) {
        if (log->visible_end > offset) break;
        if (log->closing) {
            pthread_mutex_unlock(&log->mu);
            return st_error(LSMLOG_E_CLOSED, "%s: log closed while waiting", log->dir);
        }
        if (log->assigned_end > offset) { /* buffered here: hand it to the OS */
            pthread_mutex_unlock(&log->mu);
            if ((rc = lsmlog_log_flush(log)) != LSMLOG_OK) return rc;
            pthread_mutex_lock(&log->mu);
            continue;
        }
        int64_t left = deadline == INT64_MAX ? 1000 : deadline - env_mono_ms();
        if (left <= 0) {
            pthread_mutex_unlock(&log->mu);
            return LSMLOG_TIMEOUT;
        }
        struct timespec ts;
        deadline_after(&ts, left > 1000 ? 1000 : left);
        pthread_cond_timedwait(&log->grow, &log->mu, &ts);
    }
    pthread_mutex_unlock(&log->mu);
    return LSMLOG_OK;
}

/* ---- verification ------------------------------------------------------- */

int lsmlog_log_verify(lsmlog_log *log, uint64_t *records) {
    int rc = log_check(log);
    if (rc || (rc = freshen(log, UINT64_MAX)) != LSMLOG_OK) return rc;
    uint64_t n = 0, done_base = 0;
    int first = 1;
    for (;;) {
        /* one segment at a time, by base, so retention may run meanwhile */
        pthread_mutex_lock(&log->mu);
        segment *s = NULL;
        for (size_t i = 0; i < log->nsegs && !s; i++)
            if (first || log->segs[i]->base > done_base) s = log->segs[i];
        if (s && (rc = grab(log, s)) != LSMLOG_OK) s = NULL;
        uint64_t limit = s ? s->size : 0, file_size = 0;
        pthread_mutex_unlock(&log->mu);
        if (!s) break;
        first = 0;
        done_base = s->base;
        if (s->sealed && (rc = env_file_size(s->fd, &file_size, s->path)) == LSMLOG_OK && file_size != limit)
            rc = damaged(s, limit, "file size differs from its index");
        uint64_t pos = SEG_HEADER_SIZE, min = s->base;
        while (rc == LSMLOG_OK && pos < limit) {
            batch_hdr h;
            const char *what = NULL;
            int64_t mx;
            if (seg_check_batch(s, pos, limit, min, &h, &mx, &what) != 1) {
                rc = damaged(s, pos, what);
                break;
            }
            n += h.count;
            min = h.base + h.count;
            pos += BATCH_HEADER_SIZE + h.body_len;
        }
        release(log, s);
        if (rc) break;
    }
    if (records) *records = n;
    return rc;
}
