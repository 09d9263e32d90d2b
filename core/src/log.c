/* log.c — the Log handle: open and close, the writer (group commit, segment
 * rolls, durability levels) and retention. Recovery is in log_open.c, reading
 * in log_read.c. */
#include "log_internal.h"

#include "alloc.h"
#include "env.h"
#include "index.h"
#include "status.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* A leader writes at most this much for one group (a single larger batch is
 * still written alone). */
#define GROUP_MAX_BYTES (4u << 20)

void lsmlog_options_init(lsmlog_options *o) {
    memset(o, 0, sizeof *o);
    o->durability = LSMLOG_DURABILITY_OS;
    o->create = 1;
    o->segment_bytes = 64u << 20;
    o->segment_ms = 0;
    o->memtable_bytes = 4u << 20;
    o->cache_bytes = 8u << 20;
    o->bloom_bits = 10;
}

int lsmlog_durability_parse(const char *name, int *out) {
    static const char *names[] = {"buffered", "os", "sync"};
    if (!name || !out) return st_error(LSMLOG_E_INVALID, "durability: NULL argument");
    for (int i = 0; i < 3; i++)
        if (strcmp(name, names[i]) == 0) {
            *out = i;
            return LSMLOG_OK;
        }
    return st_error(LSMLOG_E_INVALID, "durability must be \"buffered\", \"os\" or \"sync\", not \"%s\"", name);
}

static int check_options(const lsmlog_options *o) {
    if (o->durability < LSMLOG_DURABILITY_BUFFERED || o->durability > LSMLOG_DURABILITY_SYNC)
        return st_error(LSMLOG_E_INVALID, "durability %d is not one of buffered (0), os (1), sync (2)", o->durability);
    if (o->segment_bytes < LSMLOG_MIN_SEGMENT_BYTES || o->segment_bytes > LSMLOG_MAX_SEGMENT_BYTES)
        return st_error(LSMLOG_E_INVALID, "segment_bytes %llu is outside [%u, %u]",
                        (unsigned long long)o->segment_bytes, LSMLOG_MIN_SEGMENT_BYTES, LSMLOG_MAX_SEGMENT_BYTES);
    if (o->segment_ms < 0) return st_error(LSMLOG_E_INVALID, "segment_ms must be >= 0");
    if (o->repair && o->readonly) return st_error(LSMLOG_E_INVALID, "repair needs a writer: it cannot be read-only");
    return LSMLOG_OK;
}

int log_check(const lsmlog_log *log) {
    if (!log) return st_error(LSMLOG_E_INVALID, "NULL log handle");
    if (log->closing) return st_error(LSMLOG_E_CLOSED, "%s: log is closed", log->dir);
    return LSMLOG_OK;
}

size_t log_seg_index(const lsmlog_log *log, uint64_t offset) {
    size_t lo = 0, hi = log->nsegs;
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (log->segs[mid]->base <= offset) lo = mid;
        else hi = mid;
    }
    return lo;
}

void log_seg_unref(lsmlog_log *log, segment *s) {
    (void)log;
    if (--s->refs == 0) seg_free(s);
}

static void free_log(lsmlog_log *log) {
    for (size_t i = 0; i < log->nsegs; i++) log_seg_unref(log, log->segs[i]);
    lm_free(log->segs);
    env_close(log->wfd);
    env_close(log->lock_fd); /* closing the descriptor releases the flock */
    env_close(log->notify_fd);
    lm_free(log->wbuf);
    lm_free(log->pieces);
    lm_free(log->dir);
    pthread_mutex_destroy(&log->mu);
    pthread_mutex_destroy(&log->refresh_mu);
    pthread_cond_destroy(&log->grow);
    lm_free(log);
}

/* Where the first missing prefix of path p ends (the index of a '/' or of
 * the final '\0'); strlen(p) if none is missing. */
static size_t first_missing(char *p) {
    size_t n = strlen(p);
    for (size_t i = 1; i <= n; i++) {
        if (p[i] != '/' && p[i] != '\0') continue;
        char c = p[i];
        p[i] = '\0';
        int missing = !env_exists(p);
        p[i] = c;
        if (missing) return i;
    }
    return n;
}

/* fsyncs the parent of every prefix of p ending at or after `from`: the
 * directories made from there on then have durable names. p (a copy) loses
 * its trailing slashes. */
static int fsync_parents(char *p, size_t from) {
    int rc = LSMLOG_OK;
    size_t n = strlen(p);
    while (n > 1 && p[n - 1] == '/') p[--n] = '\0';
    for (size_t i = from < n ? from : n; rc == LSMLOG_OK && i <= n; i++) {
        if (p[i] != '/' && p[i] != '\0') continue;
        char c = p[i];
        p[i] = '\0';
        char *slash = strrchr(p, '/');
        if (!slash) {
            rc = env_fsync_dir(".");
        } else if (slash == p) {
            rc = env_fsync_dir("/");
        } else {
            *slash = '\0';
            rc = env_fsync_dir(p);
            *slash = '/';
        }
        p[i] = c;
    }
    return rc;
}

/* Creates the directory and its missing parents; *made_from: where the part
 * made begins (first_missing). With sync, the name of every directory made
 * must survive power loss too: each one's parent is fsynced, not only the
 * last one's (a lost parent takes the log with it). */
static int make_dir(const char *path, int sync, size_t *made_from) {
    char *p = lm_strdup(path);
    if (!p) return st_error(LSMLOG_E_NOMEM, "out of memory");
    size_t from = first_missing(p);
    int rc = env_mkdirs(path);
    if (rc == LSMLOG_OK && sync) rc = fsync_parents(p, from);
    *made_from = from;
    lm_free(p);
    return rc;
}

int log_mkdirs_durable(const char *path) {
    char *p = lm_strdup(path);
    if (!p) return st_error(LSMLOG_E_NOMEM, "out of memory");
    size_t from = first_missing(p), n = strlen(p);
    int rc = env_mkdirs(path);
    if (rc == LSMLOG_OK) {
        rc = fsync_parents(p, from);
        if (from == n) rc = LSMLOG_OK; /* nothing made: only a best effort */
    }
    lm_free(p);
    return rc;
}

int lsmlog_log_open(const char *path, const lsmlog_options *opts, lsmlog_log **out) {
    if (!path || !out) return st_error(LSMLOG_E_INVALID, "lsmlog_log_open: NULL argument");
    *out = NULL;
    if (!*path) return st_error(LSMLOG_E_INVALID, "lsmlog_log_open: empty path");
    lsmlog_options o;
    if (opts) o = *opts;
    else lsmlog_options_init(&o);
    int rc = check_options(&o);
    if (rc) return rc;

    size_t made_from = SIZE_MAX; /* the directory was not made here */
    rc = env_check_dir(path);
    if (rc == LSMLOG_E_NOENT) {
        if (o.readonly || !o.create)
            return st_error(LSMLOG_E_NOENT, "%s: no such log directory%s", path,
                            o.readonly ? " (read-only opens do not create)" : " (create is off)");
        rc = make_dir(path, o.durability == LSMLOG_DURABILITY_SYNC, &made_from);
    }
    if (rc) return rc;

    lsmlog_log *log = lm_calloc(1, sizeof *log);
    if (!log || !(log->dir = lm_strdup(path))) {
        lm_free(log);
        return st_error(LSMLOG_E_NOMEM, "out of memory opening %s", path);
    }
    log->o = o;
    log->lock_fd = log->wfd = log->notify_fd = -1;
    pthread_mutex_init(&log->mu, NULL);
    pthread_mutex_init(&log->refresh_mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* waits use monotonic deadlines */
    pthread_cond_init(&log->grow, &ca);
    pthread_condattr_destroy(&ca);
    log->rec.message = log->rec_msg;
    /* Without sync durability nothing is fsynced until lsmlog_log_sync, which
     * must then make everything durable: the segments (an earlier handle may
     * have left any of them unsynced), their names, the directory made here. */
    if (o.durability != LSMLOG_DURABILITY_SYNC) {
        log->unsynced_from = 0;
        log->names_unsynced = 1;
        /* the directory's own name too (an earlier handle may have made it) */
        log->dir_made_from = made_from != SIZE_MAX ? made_from : strlen(path);
    } else {
        log->unsynced_from = UINT64_MAX;
        log->dir_made_from = SIZE_MAX;
    }

    if (!o.readonly) rc = env_lock(path, LOCK_NAME, &log->lock_fd);
    if (rc == LSMLOG_OK) rc = log_load(log);
    if (rc) {
        free_log(log);
        return rc;
    }
    *out = log;
    return LSMLOG_OK;
}

int lsmlog_log_close(lsmlog_log *log) {
    if (!log) return LSMLOG_OK;
    pthread_mutex_lock(&log->mu);
    int iters = log->iters, closing = log->closing;
    pthread_mutex_unlock(&log->mu);
    if (closing) return st_error(LSMLOG_E_CLOSED, "%s: log is already closing", log->dir);
    if (iters)
        return st_error(LSMLOG_E_BUSY, "%s: %d iterator(s) still open; close them first", log->dir, iters);
    int rc = log->o.readonly ? LSMLOG_OK : lsmlog_log_flush(log);
    if (rc == LSMLOG_E_FAILED) rc = LSMLOG_OK; /* already reported when it happened */
    pthread_mutex_lock(&log->mu);
    log->closing = 1;
    pthread_cond_broadcast(&log->grow);
    pthread_mutex_unlock(&log->mu);
    free_log(log);
    return rc;
}

/* ---- the writer --------------------------------------------------------- */

/* Makes what the leader has written visible to readers. */
static void publish(lsmlog_log *log) {
    segment *s = log->active;
    pthread_mutex_lock(&log->mu);
    s->size = log->wpos;
    s->end = log->wend;
    if (log->wfirst_off != log->wend) {
        s->first_off = log->wfirst_off;
        s->first_ts = log->wfirst_ts;
        s->max_ts = log->wmax_ts;
    }
    if (log->wend > log->visible_end) {
        log->visible_end = log->wend;
        pthread_cond_broadcast(&log->grow);
    }
    pthread_mutex_unlock(&log->mu);
}

static void drop_pending(lsmlog_log *log) {
    log->wbuf_len = 0;
    log->npieces = 0;
    log->wlen = 0;
}

/* Undoes encoded-but-unwritten state back to what readers see. */
static void rollback_to_published(lsmlog_log *log) {
    segment *s = log->active;
    pthread_mutex_lock(&log->mu);
    idx_truncate(s, s->size);
    log->wpos = s->size;
    log->wend = s->end;
    log->wfirst_off = s->first_off;
    log->wfirst_ts = s->first_ts;
    log->wmax_ts = s->max_ts;
    log->assigned_end = s->end;
    pthread_mutex_unlock(&log->mu);
    log->wbuf_pos = log->wpos;
    drop_pending(log);
}

/* Hands the pending pieces to the OS. On failure the file is cut back to
 * where they began, so no partial batch is left behind. */
static int write_out(lsmlog_log *log) {
    if (log->wlen == 0) return LSMLOG_OK;
    struct iovec small[8], *iov = log->npieces <= 8 ? small : lm_malloc(log->npieces * sizeof *iov);
    int rc, cut = 1;
    if (!iov) {
        /* nothing written, but the group must still be undone: left pending,
         * the next write would carry out batches whose callers were told
         * they failed, and offsets would jump */
        rc = st_error(LSMLOG_E_NOMEM, "out of memory writing %s", log->active->path);
    } else {
        for (size_t i = 0; i < log->npieces; i++) {
            const wpiece *w = &log->pieces[i];
            iov[i].iov_base = (void *)(w->ext ? w->ext : log->wbuf + w->off);
            iov[i].iov_len = (size_t)w->len;
        }
        rc = env_pwritev_all(log->wfd, iov, (int)log->npieces, log->wbuf_pos, log->active->path);
        if (iov != small) lm_free(iov);
        if (rc == LSMLOG_OK) {
            log->wbuf_pos += log->wlen;
            drop_pending(log);
            return LSMLOG_OK;
        }
        cut = env_get_ops()->ftruncate(log->wfd, (off_t)log->wbuf_pos) == 0;
    }
    /* Buffered records were already acknowledged: losing them leaves a hole
     * the handle cannot hide, so it stops taking writes. */
    if (!cut || log->o.durability == LSMLOG_DURABILITY_BUFFERED) log->failed = 1;
    rollback_to_published(log);
    return log->failed ? st_append(rc, " (the handle takes no more writes)") : rc;
}

/* Makes room for `more` pieces, so that adding them cannot fail. */
static int reserve_pieces(lsmlog_log *log, size_t more) {
    if (log->npieces + more <= log->pieces_cap) return LSMLOG_OK;
    size_t cap = log->pieces_cap ? log->pieces_cap : 16;
    while (cap < log->npieces + more) cap *= 2;
    wpiece *v = lm_realloc(log->pieces, cap * sizeof *v);
    if (!v) return st_error(LSMLOG_E_NOMEM, "out of memory");
    log->pieces = v;
    log->pieces_cap = cap;
    return LSMLOG_OK;
}

/* Adds a piece (room reserved), merging it with the previous one when they
 * are adjacent. */
static void add_piece(lsmlog_log *log, const void *ext, uint64_t off, uint64_t len) {
    if (len == 0) return;
    log->wlen += len;
    if (log->npieces) {
        wpiece *w = &log->pieces[log->npieces - 1];
        if ((!ext && !w->ext && w->off + w->len == off) ||
            (ext && w->ext && (const uint8_t *)w->ext + w->len == (const uint8_t *)ext)) {
            w->len += len;
            return;
        }
    }
    assert(log->npieces < log->pieces_cap);
    log->pieces[log->npieces++] = (wpiece){ext, off, len};
}

static int sync_active(lsmlog_log *log) {
    int rc = env_fdatasync(log->wfd, log->active->path);
    if (rc) log->failed = 1; /* the kernel may have dropped the dirty pages: never retry */
    return rc;
}

/* lsmlog_log_sync without sync durability: before the active segment, the
 * sealed segments that may hold unsynced data (those from unsynced_from on,
 * one at a time, found again by base each time since retention may change the
 * list), then the names of files and directories made without a directory
 * fsync. A failed fdatasync fails the handle, as for the active segment; a
 * failed directory fsync is only returned (no data was lost with it, and the
 * next sync tries again). */
static int sync_barrier(lsmlog_log *log) {
    int rc = LSMLOG_OK;
    for (uint64_t from = log->unsynced_from; rc == LSMLOG_OK;) {
        segment *s = NULL;
        pthread_mutex_lock(&log->mu);
        for (size_t i = log_seg_index(log, from); !s && i < log->nsegs; i++)
            if (log->segs[i]->base >= from && log->segs[i] != log->active) s = log->segs[i];
        if (s) s->refs++;
        pthread_mutex_unlock(&log->mu);
        if (!s) break;
        rc = env_fdatasync(s->fd, s->path);
        if (rc) log->failed = 1; /* never retried: see sync_active */
        from = s->base + 1;
        pthread_mutex_lock(&log->mu);
        log_seg_unref(log, s);
        pthread_mutex_unlock(&log->mu);
    }
    if (rc == LSMLOG_OK && log->names_unsynced) rc = env_fsync_dir(log->dir);
    if (rc == LSMLOG_OK && log->dir_made_from != SIZE_MAX) {
        char *p = lm_strdup(log->dir);
        rc = p ? fsync_parents(p, log->dir_made_from) : st_error(LSMLOG_E_NOMEM, "out of memory");
        lm_free(p);
    }
    if (rc == LSMLOG_OK) rc = sync_active(log);
    if (rc) return rc;
    log->unsynced_from = log->active->base;
    log->names_unsynced = 0;
    log->dir_made_from = SIZE_MAX;
    return LSMLOG_OK;
}

/* Seals the active segment and starts a new one at wend. */
static int roll(lsmlog_log *log, int64_t now) {
    int sync = log->o.durability == LSMLOG_DURABILITY_SYNC;
    log->roll_due = 1; /* until this roll succeeds */
    int rc = write_out(log);
    if (rc == LSMLOG_OK && sync) rc = sync_active(log);
    if (rc) return rc;
    publish(log);
    segment *old = log->active, *ns;
    int wfd = -1;
    rc = seg_create(log->dir, log->wend, (uint32_t)log->o.segment_bytes, now, sync, &ns);
    if (rc) return rc;
    /* for lsmlog_log_sync (the old segment's data: it is past unsynced_from) */
    if (!sync) log->names_unsynced = 1;
    rc = env_open(ns->path, O_WRONLY, &wfd);
    if (rc == LSMLOG_OK) {
        pthread_mutex_lock(&log->mu);
        if (log->nsegs == log->segcap) {
            size_t cap = log->segcap ? log->segcap * 2 : 16;
            segment **v = lm_realloc(log->segs, cap * sizeof *v);
            if (v) {
                log->segs = v;
                log->segcap = cap;
            } else {
                rc = st_error(LSMLOG_E_NOMEM, "out of memory");
            }
        }
        if (rc == LSMLOG_OK) {
            log->segs[log->nsegs++] = ns;
            old->sealed = 1;
            old->refs++; /* kept while its index is written below */
        }
        pthread_mutex_unlock(&log->mu);
    }
    if (rc) {
        env_close(wfd);
        env_unlink(ns->path);
        seg_free(ns);
        return rc;
    }
    env_close(log->wfd);
    log->wfd = wfd;
    log->active = ns;
    log->wpos = log->wbuf_pos = SEG_HEADER_SIZE;
    log->wfirst_off = log->wend;
    log->wfirst_ts = log->wmax_ts = 0;
    log->roll_due = 0;
    /* A cache: if writing it fails, the next open rebuilds it. */
    idx_save(old, log->dir);
    pthread_mutex_lock(&log->mu);
    log_seg_unref(log, old);
    pthread_mutex_unlock(&log->mu);
    return LSMLOG_OK;
}

static int wbuf_reserve(lsmlog_log *log, uint64_t more) {
    if (log->wbuf_len + more <= log->wbuf_cap) return LSMLOG_OK;
    size_t cap = log->wbuf_cap ? log->wbuf_cap : 64 * 1024;
    while (cap < log->wbuf_len + more) cap *= 2;
    uint8_t *b = lm_realloc(log->wbuf, cap);
    if (!b) return st_error(LSMLOG_E_NOMEM, "out of memory for a %llu-byte batch", (unsigned long long)more);
    log->wbuf = b;
    log->wbuf_cap = cap;
    return LSMLOG_OK;
}

/* Values that lie in a few long runs of the caller's memory are written from
 * there (pwritev), not copied: worth it only when a run is long, since the
 * kernel's cost per piece is far above a short memcpy. Buffered records must
 * be copied: the caller may reuse its memory as soon as the call returns. */
#define ZERO_COPY_MAX_RUNS 64
#define ZERO_COPY_MIN_RUN 4096

/* Encodes one append, rolling first if the active segment is full or old. */
static int encode(lsmlog_log *log, writer_req *q) {
    segment *s = log->active;
    int has = log->wfirst_off != log->wend;
    int full = log->wpos + q->size > s->max_len;
    /* in unsigned arithmetic: a header may hold any creation time */
    int old = log->o.segment_ms > 0 && has && q->now > s->created_ms &&
              (uint64_t)q->now - (uint64_t)s->created_ms >= (uint64_t)log->o.segment_ms;
    if ((full || old || log->roll_due) && (has || log->wpos > SEG_HEADER_SIZE)) {
        int rc = roll(log, q->now);
        if (rc) return rc;
        s = log->active;
        has = 0;
    }
    if (q->n > UINT64_MAX - log->wend)
        return st_error(LSMLOG_E_INVALID, "%s: offsets are exhausted (end %llu)", log->dir,
                        (unsigned long long)log->wend);
    if (log->wpos + q->size > s->max_len) /* checked at submit against segment_bytes */
        return st_error(LSMLOG_E_TOOBIG, "a %llu-byte batch does not fit in a %u-byte segment",
                        (unsigned long long)q->size, s->max_len);
    uint64_t head = BATCH_HEADER_SIZE + (uint64_t)q->n * BATCH_MAX_RECORD_OVERHEAD;
    int copy = log->o.durability == LSMLOG_DURABILITY_BUFFERED || q->runs == 0 ||
               q->runs > ZERO_COPY_MAX_RUNS || (q->size - head) / q->runs < ZERO_COPY_MIN_RUN;
    int rc = LSMLOG_OK;
    if (!copy && log->npieces + 1 + q->runs > ENV_IOV_MAX) rc = write_out(log); /* one write per batch */
    if (rc == LSMLOG_OK) rc = wbuf_reserve(log, copy ? q->size : head);
    if (rc == LSMLOG_OK) rc = reserve_pieces(log, 1 + (copy ? 0 : q->runs));
    if (rc) return rc;
    if (s->nidx == 0 || log->wpos - s->idx_last_pos >= INDEX_INTERVAL_BYTES) {
        pthread_mutex_lock(&log->mu);
        rc = idx_maybe_add(s, log->wpos, log->wend, has ? log->wmax_ts : INT64_MIN);
        pthread_mutex_unlock(&log->mu);
        if (rc) return rc;
    }
    int64_t mx;
    uint64_t total, at = log->wbuf_len;
    uint8_t *dst = log->wbuf + at;
    batch_run runs[ZERO_COPY_MAX_RUNS];
    size_t nruns = 0;
    uint64_t used = batch_encode(dst, log->wend, q->e, q->n, q->now, copy, &mx, &total, runs, &nruns);
    log->wbuf_len += used;
    add_piece(log, NULL, at, used);
    for (size_t i = 0; i < nruns; i++) add_piece(log, runs[i].data, 0, runs[i].len);
    if (!has) {
        log->wfirst_off = log->wend;
        log->wfirst_ts = get_i64(dst + 16);
        log->wmax_ts = mx;
    } else if (mx > log->wmax_ts) {
        log->wmax_ts = mx;
    }
    q->first = log->wend;
    log->wend += q->n;
    log->wpos += total;
    return LSMLOG_OK;
}

/* The leader's work for the group first..last. */
static void lead(lsmlog_log *log, writer_req *first, writer_req *last) {
    int need_write = log->o.durability != LSMLOG_DURABILITY_BUFFERED, need_sync = 0, appended = 0;
    for (writer_req *q = first;; q = q->next) {
        if (log->failed) {
            q->status = st_error(LSMLOG_E_FAILED, "%s: an earlier fsync failed; the log takes no more writes until reopened", log->dir);
        } else if (q->kind == REQ_APPEND) {
            q->status = encode(log, q);
            appended |= q->status == LSMLOG_OK;
        } else {
            need_write = 1;
            need_sync |= q->kind == REQ_SYNC;
            q->status = LSMLOG_OK;
        }
        if (q == last) break;
    }
    if (log->failed) {
        need_write = need_sync = 0;
    }
    need_sync |= appended && log->o.durability == LSMLOG_DURABILITY_SYNC;
    need_write |= need_sync || log->wlen >= BUFFERED_FLUSH_BYTES;
    int rc = LSMLOG_OK;
    if (need_write) rc = write_out(log);
    if (rc == LSMLOG_OK && need_sync)
        rc = log->o.durability == LSMLOG_DURABILITY_SYNC ? sync_active(log) : sync_barrier(log);
    if (rc == LSMLOG_OK && need_write) publish(log);
    pthread_mutex_lock(&log->mu);
    /* a failed handle hands out nothing it did not publish */
    log->assigned_end = log->failed ? log->visible_end : log->wend;
    pthread_mutex_unlock(&log->mu);
    if (rc == LSMLOG_OK) return;
    for (writer_req *q = first;; q = q->next) {
        if (q->status == LSMLOG_OK) q->status = rc;
        if (q == last) break;
    }
}

/* Queues a request; the first in the queue leads a group, the others wait for
 * it. Error messages are per thread, so a follower re-states the leader's. */
static int submit(lsmlog_log *log, writer_req *r) {
    int rc = log_check(log);
    if (rc) return rc;
    if (log->o.readonly) return st_error(LSMLOG_E_READONLY, "%s: the log is open read-only", log->dir);
    r->done = 0;
    r->status = LSMLOG_OK;
    r->next = NULL;
    pthread_cond_init(&r->cv, NULL);
    pthread_mutex_lock(&log->mu);
    if (log->qtail) log->qtail->next = r;
    else log->qhead = r;
    log->qtail = r;
    while (!r->done && log->qhead != r) pthread_cond_wait(&r->cv, &log->mu);
    if (!r->done) {
        writer_req *last = r;
        uint64_t bytes = r->size;
        while (last->next && bytes + last->next->size <= GROUP_MAX_BYTES) {
            last = last->next;
            bytes += last->size;
        }
        pthread_mutex_unlock(&log->mu);
        lead(log, r, last);
        const char *msg = lsmlog_errmsg();
        pthread_mutex_lock(&log->mu);
        for (writer_req *q = r;; q = q->next) {
            q->done = 1;
            if (q != r && q->status != LSMLOG_OK) snprintf(q->msg, sizeof q->msg, "%s", msg);
            if (q != r) pthread_cond_signal(&q->cv);
            if (q == last) break;
        }
        log->qhead = last->next;
        if (!log->qhead) log->qtail = NULL;
        else pthread_cond_signal(&log->qhead->cv);
        pthread_mutex_unlock(&log->mu);
        pthread_cond_destroy(&r->cv);
        return r->status;
    }
    pthread_mutex_unlock(&log->mu);
    pthread_cond_destroy(&r->cv);
    if (r->status != LSMLOG_OK) st_error(r->status, "%s", r->msg);
    return r->status;
}

int lsmlog_log_append_batch(lsmlog_log *log, const lsmlog_entry *entries, size_t n, uint64_t *first) {
    int rc = log_check(log);
    if (rc) return rc;
    if (!entries || n == 0) return st_error(LSMLOG_E_INVALID, "append_batch: an empty batch");
    size_t null_at, runs;
    uint64_t max = log->o.segment_bytes - SEG_HEADER_SIZE, bound = batch_bound(entries, n, &null_at, &runs);
    if (null_at < n)
        return st_error(LSMLOG_E_INVALID, "append_batch: entry %zu has NULL data and length %zu", null_at,
                        entries[null_at].len);
    writer_req r;
    memset(&r, 0, sizeof r);
    r.kind = REQ_APPEND;
    r.e = entries;
    r.n = n;
    r.now = env_now_ms();
    r.runs = runs;
    /* The writer plans with a cheap upper bound (rolls, groups, buffer);
     * only a batch near the limit is sized exactly. */
    r.size = bound <= max && n <= UINT32_MAX ? bound : batch_size(entries, n, r.now, max);
    if (r.size == 0)
        return st_error(LSMLOG_E_TOOBIG, "%s: a batch of %zu record(s) is larger than a segment can hold "
                        "(segment_bytes %llu)", log->dir, n, (unsigned long long)log->o.segment_bytes);
    rc = submit(log, &r);
    if (rc == LSMLOG_OK && first) *first = r.first;
    return rc;
}

int lsmlog_log_append(lsmlog_log *log, const void *data, size_t len, int64_t ts, uint64_t *offset) {
    lsmlog_entry e = {data, len, ts};
    return lsmlog_log_append_batch(log, &e, 1, offset);
}

static int simple_req(lsmlog_log *log, int kind) {
    writer_req r;
    memset(&r, 0, sizeof r);
    r.kind = kind;
    return submit(log, &r);
}

int lsmlog_log_flush(lsmlog_log *log) { return simple_req(log, REQ_FLUSH); }
int lsmlog_log_sync(lsmlog_log *log) { return simple_req(log, REQ_SYNC); }

int log_flush_for_readers(lsmlog_log *log) {
    if (log->o.readonly || log->o.durability != LSMLOG_DURABILITY_BUFFERED) return LSMLOG_OK;
    pthread_mutex_lock(&log->mu);
    int behind = log->assigned_end > log->visible_end;
    pthread_mutex_unlock(&log->mu);
    return behind ? lsmlog_log_flush(log) : LSMLOG_OK;
}

/* ---- retention ---------------------------------------------------------- */

/* Removes the first k segments (all sealed) from the list and their files. */
static int drop_front(lsmlog_log *log, size_t k) {
    if (k == 0) return LSMLOG_OK;
    segment **gone = lm_malloc(k * sizeof *gone);
    if (!gone) {
        pthread_mutex_unlock(&log->mu);
        return st_error(LSMLOG_E_NOMEM, "out of memory");
    }
    memcpy(gone, log->segs, k * sizeof *gone);
    memmove(log->segs, log->segs + k, (log->nsegs - k) * sizeof *gone);
    log->nsegs -= k;
    pthread_mutex_unlock(&log->mu);
    int rc = LSMLOG_OK;
    /* Oldest first, so a crash part-way leaves a log with a later start; for
     * the same reason stop at the first failure: removing a later segment
     * after an earlier one stayed would leave a hole in the middle of the log.
     * The segments not removed come back at the next open. */
    for (size_t i = 0; i < k && rc == LSMLOG_OK; i++) {
        rc = env_unlink(gone[i]->path);
        if (rc == LSMLOG_OK) idx_remove(log->dir, gone[i]->base);
    }
    if (rc == LSMLOG_OK && log->o.durability == LSMLOG_DURABILITY_SYNC) rc = env_fsync_dir(log->dir);
    pthread_mutex_lock(&log->mu);
    for (size_t i = 0; i < k; i++) log_seg_unref(log, gone[i]);
    pthread_mutex_unlock(&log->mu);
    lm_free(gone);
    return rc;
}

static int check_writer(lsmlog_log *log) {
    int rc = log_check(log);
    if (rc == LSMLOG_OK && log->o.readonly)
        rc = st_error(LSMLOG_E_READONLY, "%s: the log is open read-only", log->dir);
    return rc;
}

int lsmlog_log_truncate_before(lsmlog_log *log, uint64_t offset) {
    int rc = check_writer(log);
    if (rc) return rc;
    pthread_mutex_lock(&log->mu);
    size_t k = 0;
    while (k + 1 < log->nsegs && log->segs[k]->end <= offset) k++;
    if (k == 0) {
        pthread_mutex_unlock(&log->mu);
        return LSMLOG_OK;
    }
    return drop_front(log, k); /* unlocks */
}

int lsmlog_log_retain(lsmlog_log *log, uint64_t max_bytes, int64_t max_age_ms, uint64_t *dropped) {
    int rc = check_writer(log);
    if (rc) return rc;
    if (max_age_ms < 0) return st_error(LSMLOG_E_INVALID, "retain: max_age_ms must be >= 0");
    int64_t now = env_now_ms();
    pthread_mutex_lock(&log->mu);
    uint64_t total = 0;
    for (size_t i = 0; i < log->nsegs; i++) total += log->segs[i]->size;
    size_t k = 0;
    while (k + 1 < log->nsegs) {
        const segment *s = log->segs[k];
        int too_big = max_bytes > 0 && total > max_bytes;
        int too_old = max_age_ms > 0 && (s->first_off == s->end || s->max_ts < now - max_age_ms);
        if (!too_big && !too_old) break;
        total -= s->size;
        k++;
    }
    if (dropped) *dropped = k;
    if (k == 0) {
        pthread_mutex_unlock(&log->mu);
        return LSMLOG_OK;
    }
    return drop_front(log, k); /* unlocks */
}
