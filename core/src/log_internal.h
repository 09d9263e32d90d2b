/* log_internal.h — the Log handle, shared by log.c (lifecycle, writing,
 * retention), log_open.c (open, recovery, refresh of read-only handles) and
 * log_read.c (get, iterators, time lookup, wait, verify). */
#ifndef LSMLOG_LOG_INTERNAL_H
#define LSMLOG_LOG_INTERNAL_H

#include "lsmlog.h"
#include "segment.h"

#include <pthread.h>

typedef struct wpiece {
    const void *ext; /* a caller's memory, or NULL: wbuf + off */
    uint64_t off, len;
} wpiece;

/* One queued request to the writer: an append, a flush or a sync. The first
 * in the queue is the leader: it writes (and syncs) for the whole group, so
 * concurrent appenders share one write and one fsync (group commit). */
enum { REQ_APPEND, REQ_FLUSH, REQ_SYNC };
typedef struct writer_req {
    int kind;
    const lsmlog_entry *e;
    size_t n;
    uint64_t size;  /* upper bound of the encoded batch size (REQ_APPEND) */
    size_t runs;    /* separate memory runs of the values */
    int64_t now;    /* the time of the call: timestamps LSMLOG_NOW take it */
    uint64_t first; /* out: offset of e[0] */
    int status;
    char msg[256];  /* the leader's error message, for a follower's thread */
    int done;
    pthread_cond_t cv;
    struct writer_req *next;
} writer_req;

struct lsmlog_log {
    char *dir;
    lsmlog_options o;
    int lock_fd;        /* holds the writer lock; -1 for read-only */

    pthread_mutex_t mu; /* guards everything below up to the writer section */
    pthread_cond_t grow; /* broadcast when visible_end grows */
    segment **segs;     /* ascending base; the last one is the active segment */
    size_t nsegs, segcap;
    uint64_t visible_end;  /* offsets below it are readable */
    uint64_t assigned_end; /* next offset to hand out (buffered records included) */
    int iters;             /* open iterators */
    int closing;
    writer_req *qhead, *qtail;

    /* Writer state: touched only by the current leader (or at open/close). */
    int wfd;            /* write descriptor of the active segment */
    segment *active;    /* == segs[nsegs-1] for a writer */
    uint64_t wpos;      /* bytes of the active segment encoded (written + wbuf) */
    uint64_t wend;      /* next offset to encode */
    int64_t wfirst_ts, wmax_ts; /* of the active segment's encoded records */
    uint64_t wfirst_off;
    /* What is encoded but not yet written, from file position wbuf_pos:
     * pieces in file order, each a slice of wbuf or a run of a caller's
     * values (written from where they lie, not copied). */
    uint8_t *wbuf;
    size_t wbuf_len, wbuf_cap;
    struct wpiece *pieces;
    size_t npieces, pieces_cap;
    uint64_t wlen;      /* bytes in all pieces */
    uint64_t wbuf_pos;
    int failed;         /* an fsync failed: no more writes (PostgreSQL's lesson) */
    int roll_due;       /* a roll failed: the next batch rolls first. Nothing more
                           goes into a segment once its successor's file may
                           exist, or recovery would find a torn batch before the
                           last segment and call it corruption */
    /* What lsmlog_log_sync must still make durable, without sync durability
     * (nothing is fsynced until then): */
    uint64_t unsynced_from; /* segments with base >= this may hold unsynced data */
    int names_unsynced;     /* files were made without fsyncing the directory */
    size_t dir_made_from;   /* fsync the parents of the directory's path from
                               this index on (first_missing; SIZE_MAX: none) */

    /* Read-only handles: learning what another process appended. */
    pthread_mutex_t refresh_mu;
    int notify_fd;      /* inotify on the directory, -1 until first wait */

    lsmlog_recovery rec;
    char rec_msg[512];
};

/* log_open.c */
int log_load(lsmlog_log *log);              /* list, check and recover at open */
int log_refresh(lsmlog_log *log);           /* read-only: catch up with the files */

/* log.c */
void log_seg_unref(lsmlog_log *log, segment *s); /* with log->mu held */
int log_flush_for_readers(lsmlog_log *log);      /* buffered: write out so readers see it */

/* Finds the segment holding offset (the last with base <= offset), or the
 * first segment if offset is below all; with log->mu held. */
size_t log_seg_index(const lsmlog_log *log, uint64_t offset);

/* Checks a handle for calls that read; 0 or a status. */
int log_check(const lsmlog_log *log);

/* Creates directory `path` and its missing parents, and fsyncs the parent of
 * each directory made, so that their names survive power loss (what a Log
 * in sync durability does at open; the DB does it at every writer's open).
 * When path exists already its parent is still fsynced, as a best effort
 * whose failure is not reported: the open that made it may have been cut
 * short before its fsync. */
int log_mkdirs_durable(const char *path);

#endif
