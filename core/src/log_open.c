/* log_open.c — what a Log learns from its files: the segments at open, the
 * recovery of a torn tail, repair, and (for read-only handles) catching up
 * with what a writer in another process appended.
 *
 * Recovery policy. Only the last segment can legitimately end in a torn
 * batch: it is the only one being written when a process dies. So:
 *  - last segment, damage with no valid batch after it: a torn tail, cut off
 *    (a crash, not corruption);
 *  - last segment, damage followed by a valid batch: corruption (a torn write
 *    never leaves valid data behind it), LSMLOG_E_CORRUPT;
 *  - any damage in an earlier (sealed) segment: corruption.
 * With repair, damaged regions are set aside (the original file is moved to
 * lost/) and every valid batch is kept; offsets of the lost records stay
 * missing, never reused. */
#include "log_internal.h"

#include "alloc.h"
#include "env.h"
#include "index.h"
#include "status.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void note(lsmlog_log *log, const char *fmt, ...) LSMLOG_PRINTF(2, 3);
#include <stdarg.h>
static void note(lsmlog_log *log, const char *fmt, ...) {
    size_t used = strlen(log->rec_msg);
    if (used + 2 >= sizeof log->rec_msg) return;
    if (used) {
        log->rec_msg[used++] = ' ';
        log->rec_msg[used] = '\0';
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(log->rec_msg + used, sizeof log->rec_msg - used, fmt, ap);
    va_end(ap);
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static int push_seg(lsmlog_log *log, segment *s) {
    if (log->nsegs == log->segcap) {
        size_t cap = log->segcap ? log->segcap * 2 : 16;
        segment **v = lm_realloc(log->segs, cap * sizeof *v);
        if (!v) return st_error(LSMLOG_E_NOMEM, "out of memory");
        log->segs = v;
        log->segcap = cap;
    }
    log->segs[log->nsegs++] = s;
    return LSMLOG_OK;
}

/* Moves a damaged file into dir/lost/, keeping it for people to inspect. */
static int move_to_lost(lsmlog_log *log, const char *path) {
    char *lost = env_join(log->dir, LOST_DIR);
    const char *name = strrchr(path, '/');
    char *to = lost ? env_join(lost, name ? name + 1 : path) : NULL;
    int rc = !to ? st_error(LSMLOG_E_NOMEM, "out of memory") : env_mkdirs(lost);
    if (rc == LSMLOG_OK) rc = env_rename(path, to);
    lm_free(lost);
    lm_free(to);
    return rc;
}

/* A scan that ran out of memory says nothing about the bytes. */
static int scan_nomem(const segment *s) {
    return st_error(LSMLOG_E_NOMEM, "out of memory indexing %s", s->path);
}

/* Rewrites segment s keeping only its valid batches; the original goes to
 * lost/. `last`: whether trailing damage counts as a torn tail. */
static int repair_segment(lsmlog_log *log, segment **sp, uint64_t file_size, int last) {
    segment *s = *sp;
    int rc = seg_map(s);
    if (rc) return rc;
    uint64_t pos = SEG_HEADER_SIZE, min_off = s->base, dropped = 0, regions = 0, tail = 0;
    uint8_t *out = lm_malloc(file_size);
    if (!out) return st_error(LSMLOG_E_NOMEM, "out of memory repairing %s", s->path);
    memcpy(out, s->map, SEG_HEADER_SIZE);
    uint64_t olen = SEG_HEADER_SIZE;
    while (pos < file_size) {
        batch_hdr h;
        int64_t mx;
        const char *what;
        if (seg_check_batch(s, pos, file_size, min_off, &h, &mx, &what) == 1) {
            uint64_t len = BATCH_HEADER_SIZE + h.body_len;
            memcpy(out + olen, s->map + pos, len);
            olen += len;
            pos += len;
            min_off = h.base + h.count;
            continue;
        }
        uint64_t next;
        if (seg_find_valid(s, pos + 1, file_size, min_off, &next)) {
            note(log, "repair set aside bytes %llu..%llu of %s (%s).", (unsigned long long)pos,
                 (unsigned long long)next, s->path, what);
            dropped += next - pos;
            regions++;
            pos = next;
        } else {
            if (last) tail = file_size - pos;
            else {
                dropped += file_size - pos;
                regions++;
                note(log, "repair set aside bytes %llu..%llu of %s (%s).", (unsigned long long)pos,
                     (unsigned long long)file_size, s->path, what);
            }
            break;
        }
    }
    if (dropped == 0 && tail == 0) {
        lm_free(out);
        return LSMLOG_OK;
    }
    int sync = log->o.durability == LSMLOG_DURABILITY_SYNC;
    if (dropped == 0) { /* only a torn tail: cut it in place */
        int wfd = -1;
        rc = env_open(s->path, O_WRONLY, &wfd);
        if (rc == LSMLOG_OK) {
            rc = env_ftruncate(wfd, file_size - tail, s->path);
            if (rc == LSMLOG_OK && sync) rc = env_fdatasync(wfd, s->path);
            env_close(wfd);
        }
    } else {
        char *tmp = seg_file_path(log->dir, s->base, SEG_SUFFIX ".repair");
        rc = tmp ? env_write_file_atomic(log->dir, tmp, out, olen, 1) : st_error(LSMLOG_E_NOMEM, "out of memory");
        if (rc == LSMLOG_OK) rc = move_to_lost(log, s->path);
        if (rc == LSMLOG_OK) rc = env_rename(tmp, s->path);
        if (rc == LSMLOG_OK) rc = env_fsync_dir(log->dir);
        lm_free(tmp);
        idx_remove(log->dir, s->base);
    }
    lm_free(out);
    if (rc) return rc;
    log->rec.dropped_bytes += dropped;
    log->rec.dropped_batches += regions;
    log->rec.truncated_bytes += tail;
    if (tail) note(log, "cut a torn tail of %llu bytes from %s.", (unsigned long long)tail, s->path);
    if (dropped) note(log, "the original is kept in %s/%s/.", log->dir, LOST_DIR);
    /* start again from the repaired file */
    uint64_t base = s->base;
    seg_free(s);
    *sp = NULL;
    rc = seg_open(log->dir, base, sp);
    if (rc == LSMLOG_OK) rc = seg_map(*sp);
    if (rc == LSMLOG_OK) {
        uint64_t size;
        scan_result r;
        rc = env_file_size((*sp)->fd, &size, (*sp)->path);
        if (rc == LSMLOG_OK) seg_scan(*sp, size, &r);
        if (rc == LSMLOG_OK && r.why == SCAN_NOMEM) rc = scan_nomem(*sp);
        if (rc == LSMLOG_OK && r.why != SCAN_END)
            rc = st_error(LSMLOG_E_CORRUPT, "%s: still damaged after repair at byte %llu", (*sp)->path,
                          (unsigned long long)r.pos);
    }
    return rc;
}

static int damage(const segment *s, const scan_result *r, int valid_follows) {
    return st_error(LSMLOG_E_CORRUPT, "%s: %s at byte %llu%s; open with repair to keep every valid record",
                    s->path, r->what ? r->what : "damage", (unsigned long long)r->pos,
                    valid_follows ? " (valid batches follow, so this is not a torn tail)" : "");
}

/* Loads a sealed segment: its index files, or a full scan that rebuilds them. */
static int load_sealed(lsmlog_log *log, segment **sp) {
    segment *s = *sp;
    uint64_t size;
    int rc = env_file_size(s->fd, &size, s->path);
    if (rc) return rc;
    s->sealed = 1;
    if (!log->o.repair) {
        rc = idx_load(s, log->dir, size);
        if (rc != LSMLOG_NOTFOUND) return rc;
    }
    rc = seg_map(s);
    if (rc) return rc;
    scan_result r;
    seg_scan(s, size, &r);
    if (r.why == SCAN_NOMEM) return scan_nomem(s);
    if (r.why != SCAN_END) {
        if (!log->o.repair) return damage(s, &r, r.pos < size);
        rc = repair_segment(log, sp, size, 0);
        if (rc) return rc;
        s = *sp;
        s->sealed = 1;
    }
    log->rec.rebuilt_indexes++;
    if (!log->o.readonly) idx_save(s, log->dir); /* a cache: failure is not fatal */
    return LSMLOG_OK;
}

/* Loads the last segment: always scanned in full, its torn tail cut. */
static int load_last(lsmlog_log *log, segment **sp) {
    segment *s = *sp;
    uint64_t size;
    int rc = env_file_size(s->fd, &size, s->path);
    if (rc == LSMLOG_OK) rc = seg_map(s);
    if (rc) return rc;
    scan_result r;
    seg_scan(s, size, &r);
    if (r.why == SCAN_END) return LSMLOG_OK;
    if (r.why == SCAN_NOMEM) return scan_nomem(s);
    uint64_t next;
    int valid_follows = seg_find_valid(s, r.pos + 1, size, s->end, &next);
    if (valid_follows) {
        if (!log->o.repair) return damage(s, &r, 1);
        return repair_segment(log, sp, size, 1);
    }
    if (log->o.readonly) return LSMLOG_OK; /* the writer will cut it; readers stop before it */
    int wfd = -1;
    rc = env_open(s->path, O_WRONLY, &wfd);
    if (rc) return rc;
    rc = env_ftruncate(wfd, r.pos, s->path);
    if (rc == LSMLOG_OK && log->o.durability == LSMLOG_DURABILITY_SYNC) rc = env_fdatasync(wfd, s->path);
    env_close(wfd);
    if (rc) return rc;
    log->rec.truncated_bytes += size - r.pos;
    note(log, "cut a torn tail of %llu bytes from %s at byte %llu (%s).", (unsigned long long)(size - r.pos),
         s->path, (unsigned long long)r.pos, r.what);
    return LSMLOG_OK;
}

/* Lists the segment bases in the directory, ascending; removes leftovers of
 * interrupted work when writing (temporary files, indexes without a segment). */
static int list_bases(lsmlog_log *log, uint64_t **bases, size_t *nb) {
    char **names;
    size_t n;
    int rc = env_list_dir(log->dir, &names, &n);
    if (rc) return rc;
    uint64_t *v = lm_malloc((n + 1) * sizeof *v);
    size_t k = 0;
    if (!v) rc = st_error(LSMLOG_E_NOMEM, "out of memory");
    for (size_t i = 0; rc == LSMLOG_OK && i < n; i++) {
        uint64_t b;
        if (seg_parse_name(names[i], SEG_SUFFIX, &b)) v[k++] = b;
    }
    if (rc == LSMLOG_OK) qsort(v, k, sizeof *v, cmp_u64);
    for (size_t i = 0; rc == LSMLOG_OK && !log->o.readonly && i < n; i++) {
        uint64_t b;
        size_t len = strlen(names[i]);
        int orphan = (seg_parse_name(names[i], IDX_SUFFIX, &b) || seg_parse_name(names[i], TIDX_SUFFIX, &b)) &&
                     !bsearch(&b, v, k, sizeof *v, cmp_u64);
        int tmp = len > 4 && (strcmp(names[i] + len - 4, ".tmp") == 0 || strstr(names[i], ".repair"));
        if (orphan || tmp) {
            char *p = env_join(log->dir, names[i]);
            if (p) env_unlink(p);
            lm_free(p);
        }
    }
    env_free_names(names, n);
    if (rc) {
        lm_free(v);
        return rc;
    }
    *bases = v;
    *nb = k;
    return LSMLOG_OK;
}

static int start_writer(lsmlog_log *log) {
    int rc;
    if (log->nsegs == 0) {
        segment *s;
        rc = seg_create(log->dir, 0, (uint32_t)log->o.segment_bytes, env_now_ms(),
                        log->o.durability == LSMLOG_DURABILITY_SYNC, &s);
        if (rc == LSMLOG_OK && (rc = push_seg(log, s)) != LSMLOG_OK) seg_free(s);
        if (rc) return rc;
    }
    segment *a = log->segs[log->nsegs - 1];
    rc = env_open(a->path, O_WRONLY, &log->wfd);
    if (rc) return rc;
    log->active = a;
    log->wpos = log->wbuf_pos = a->size;
    log->wend = a->end;
    log->wfirst_off = a->first_off;
    log->wfirst_ts = a->first_ts;
    log->wmax_ts = a->max_ts;
    return LSMLOG_OK;
}

int log_load(lsmlog_log *log) {
    uint64_t *bases;
    size_t nb;
    int rc = list_bases(log, &bases, &nb);
    if (rc) return rc;
    for (size_t i = 0; rc == LSMLOG_OK && i < nb; i++) {
        int last = i + 1 == nb;
        segment *s = NULL;
        rc = seg_open(log->dir, bases[i], &s);
        if (rc == LSMLOG_NOTFOUND) { /* torn creation */
            if (last && log->o.readonly) { /* the writer is making it: not there yet */
                seg_free(s);
                rc = LSMLOG_OK;
                break;
            }
            if (last) {
                rc = seg_rewrite_header(s, (uint32_t)log->o.segment_bytes, env_now_ms(),
                                        log->o.durability == LSMLOG_DURABILITY_SYNC);
                if (rc == LSMLOG_OK) note(log, "rewrote the torn header of %s.", s->path);
            } else if (log->o.repair) {
                note(log, "repair moved %s, whose header is torn, to %s/.", s->path, LOST_DIR);
                rc = move_to_lost(log, s->path);
                seg_free(s);
                s = NULL;
                log->rec.dropped_batches++;
                if (rc == LSMLOG_OK) continue;
            } else {
                rc = st_error(LSMLOG_E_CORRUPT, "%s: header is torn at byte 0 but later segments exist; "
                              "open with repair to keep every valid record", s->path);
            }
        }
        if (rc == LSMLOG_OK) rc = last ? load_last(log, &s) : load_sealed(log, &s);
        if (rc == LSMLOG_OK) rc = push_seg(log, s);
        if (rc) seg_free(s);
    }
    lm_free(bases);
    for (size_t i = 0; rc == LSMLOG_OK && i + 1 < log->nsegs; i++)
        if (log->segs[i]->end > log->segs[i + 1]->base)
            rc = st_error(LSMLOG_E_CORRUPT, "%s: records run to offset %llu, past the next segment's base %llu",
                          log->segs[i]->path, (unsigned long long)log->segs[i]->end,
                          (unsigned long long)log->segs[i + 1]->base);
    if (rc == LSMLOG_OK && !log->o.readonly) rc = start_writer(log);
    if (rc) return rc;
    uint64_t end = log->nsegs ? log->segs[log->nsegs - 1]->end : 0;
    log->visible_end = log->assigned_end = end;
    return LSMLOG_OK;
}

/* ---- read-only handles -------------------------------------------------- */

/* Adds the segment file at `base` if it now exists and has a whole header. */
static int adopt_segment(lsmlog_log *log, uint64_t base, int *added) {
    *added = 0;
    char *p = seg_file_path(log->dir, base, SEG_SUFFIX);
    int exists = p && env_exists(p);
    lm_free(p);
    if (!exists) return LSMLOG_OK;
    segment *s;
    int rc = seg_open(log->dir, base, &s);
    if (rc == LSMLOG_NOTFOUND || rc == LSMLOG_E_NOENT) { /* being made, or dropped */
        seg_free(rc == LSMLOG_NOTFOUND ? s : NULL);
        return LSMLOG_OK;
    }
    if (rc == LSMLOG_OK) rc = seg_map(s);
    if (rc) {
        seg_free(s);
        return rc;
    }
    pthread_mutex_lock(&log->mu);
    if (log->nsegs) log->segs[log->nsegs - 1]->sealed = 1;
    rc = push_seg(log, s);
    pthread_mutex_unlock(&log->mu);
    if (rc) seg_free(s);
    else *added = 1;
    return rc;
}

/* Drops from the front the segments a writer's retention removed. */
static void forget_dropped(lsmlog_log *log) {
    for (;;) {
        pthread_mutex_lock(&log->mu);
        segment *s = log->nsegs > 1 ? log->segs[0] : NULL;
        pthread_mutex_unlock(&log->mu);
        if (!s || env_exists(s->path)) return;
        pthread_mutex_lock(&log->mu);
        memmove(log->segs, log->segs + 1, (log->nsegs - 1) * sizeof *log->segs);
        log->nsegs--;
        log_seg_unref(log, s);
        pthread_mutex_unlock(&log->mu);
    }
}

int log_refresh(lsmlog_log *log) {
    if (!log->o.readonly) return LSMLOG_OK;
    pthread_mutex_lock(&log->refresh_mu);
    int rc = LSMLOG_OK, added;
    forget_dropped(log);
    if (log->nsegs == 0) { /* the writer had not made the first segment yet */
        uint64_t *bases;
        size_t nb;
        rc = list_bases(log, &bases, &nb);
        if (rc == LSMLOG_OK && nb > 0) rc = adopt_segment(log, bases[0], &added);
        if (rc == LSMLOG_OK) lm_free(bases);
    }
    while (rc == LSMLOG_OK && log->nsegs > 0) {
        segment *s = log->segs[log->nsegs - 1]; /* only this thread changes the list here */
        uint64_t size;
        rc = env_file_size(s->fd, &size, s->path);
        if (rc) break;
        pthread_mutex_lock(&log->mu);
        if (size > s->size) {
            scan_result r;
            seg_scan(s, size, &r); /* stops quietly at a batch still being written */
        }
        if (s->end > log->visible_end) {
            log->visible_end = log->assigned_end = s->end;
            pthread_cond_broadcast(&log->grow);
        }
        pthread_mutex_unlock(&log->mu);
        /* the next segment is named by this one's end; an empty segment
         * has none after it (its end is its own name) */
        if (s->end == s->base) break;
        rc = adopt_segment(log, s->end, &added);
        if (rc == LSMLOG_OK && !added && !env_exists(s->path)) {
            /* Retention removed this segment, so it removed the next one
             * too (it drops from the front): move on to the oldest segment
             * left after it, as iterators do. Listing the directory is paid
             * only in this case. */
            uint64_t *bases, next = 0;
            size_t nb;
            rc = list_bases(log, &bases, &nb);
            for (size_t i = 0; rc == LSMLOG_OK && i < nb && !next; i++)
                if (bases[i] > s->base) next = bases[i];
            if (rc == LSMLOG_OK) lm_free(bases);
            if (rc == LSMLOG_OK && next) rc = adopt_segment(log, next, &added);
        }
        if (!added) break;
    }
    pthread_mutex_unlock(&log->refresh_mu);
    return rc;
}
