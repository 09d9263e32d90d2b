/*
 * lsmlog.h — the one public header of lsmlog, an embedded storage library with
 * two stores: a segmented append-only Log and (later) an LSM key-value DB.
 *
 * Conventions (they hold for every function below):
 *
 *  - Handles are opaque. A handle is an object: it is made by an open function,
 *    used through its methods, and ended by its close function. Closing NULL is
 *    a no-op.
 *  - Every fallible call returns an int status: LSMLOG_OK (0), a non-error
 *    positive status (LSMLOG_NOTFOUND, LSMLOG_TIMEOUT), or a negative
 *    LSMLOG_E_* error. Library codes never clash with errno values; the OS error
 *    behind an LSMLOG_E_IO is given by lsmlog_errno().
 *  - When a call fails, lsmlog_errmsg() returns a message naming the file,
 *    byte position and OS error text where they apply. The message belongs to
 *    the calling thread (handles may be shared by threads, so a per-handle
 *    message would be overwritten by a neighbour) and stays valid until the
 *    same thread's next failing call.
 *  - Ownership: inputs are borrowed for the duration of the call. Outputs are
 *    either borrowed ("valid until ...") or owned by the caller ("free with
 *    lsmlog_free").
 *  - Threads: a Log handle may be used from many threads at once. An iterator
 *    must be used by one thread at a time. Closing a handle must not race with
 *    other calls on it, and every iterator of a handle must be closed before
 *    the handle (lsmlog_log_close returns LSMLOG_E_BUSY otherwise).
 *  - Integers on disk are little-endian; the formats are in docs/format-*.md.
 */
#ifndef LSMLOG_H
#define LSMLOG_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define LSMLOG_API __attribute__((visibility("default")))
#else
#define LSMLOG_API
#endif

#define LSMLOG_VERSION "0.1.0"

/* ---- status codes ------------------------------------------------------- */

#define LSMLOG_OK 0
#define LSMLOG_NOTFOUND 1 /* not an error: no such record / key, or end of data */
#define LSMLOG_TIMEOUT 2  /* not an error: a wait ended with nothing new */

#define LSMLOG_E_IO (-1001)       /* the OS refused a file operation; see lsmlog_errno() */
#define LSMLOG_E_CORRUPT (-1002)  /* a checksum or structure check failed */
#define LSMLOG_E_NOMEM (-1003)    /* an allocation failed */
#define LSMLOG_E_INVALID (-1004)  /* a bad argument or option value */
#define LSMLOG_E_BUSY (-1005)     /* the handle still has open children */
#define LSMLOG_E_LOCKED (-1006)   /* another writer holds the directory's lock */
#define LSMLOG_E_CLOSED (-1007)   /* the handle is closed or closing */
#define LSMLOG_E_READONLY (-1008) /* a write on a read-only handle */
#define LSMLOG_E_TOOBIG (-1009)   /* a value or batch larger than a segment can hold */
#define LSMLOG_E_VERSION (-1010)  /* a file of a newer format version than this library */
#define LSMLOG_E_NOENT (-1011)    /* the path does not exist and create is off */
#define LSMLOG_E_FAILED (-1012)   /* an earlier fsync failed: the handle takes no more writes */
#define LSMLOG_E_CANCELED (-1013) /* a progress callback asked to stop */

/* The fixed text of a status code ("I/O error", "corruption", ...). Static. */
LSMLOG_API const char *lsmlog_strerror(int code);

/* The calling thread's message for its last failing call. Never NULL. */
LSMLOG_API const char *lsmlog_errmsg(void);

/* The errno behind the calling thread's last failing call, or 0. */
LSMLOG_API int lsmlog_errno(void);

/* Frees memory the library handed to the caller as owned. NULL is a no-op. */
LSMLOG_API void lsmlog_free(void *p);

/* ---- options ------------------------------------------------------------ */

#define LSMLOG_DURABILITY_BUFFERED 0 /* in the process's buffer; survives nothing until flush */
#define LSMLOG_DURABILITY_OS 1       /* write() done; survives kill -9 of the process */
#define LSMLOG_DURABILITY_SYNC 2     /* fdatasync done; survives power loss */

#define LSMLOG_MIN_SEGMENT_BYTES 4096u
#define LSMLOG_MAX_SEGMENT_BYTES (1u << 30) /* 1 GiB: positions in indexes are 32-bit */

typedef struct lsmlog_options {
    int durability;         /* LSMLOG_DURABILITY_*; default OS */
    int create;             /* create the directory if missing; default 1 */
    int readonly;           /* no writer lock, writes refused; default 0 */
    int repair;             /* salvage valid records past damage; default 0 */
    uint64_t segment_bytes; /* Log: roll past this size; default 64 MiB */
    int64_t segment_ms;     /* Log: roll past this age in ms; 0: never; default 0 */
    uint64_t memtable_bytes; /* DB: default 4 MiB (not used by the Log) */
    uint64_t cache_bytes;    /* DB: default 8 MiB, for tables that cannot be mapped (not used by the Log) */
    int bloom_bits;          /* DB: default 10 (not used by the Log) */
} lsmlog_options;

/* Fills *opts with the defaults above. */
LSMLOG_API void lsmlog_options_init(lsmlog_options *opts);

/* Parses "buffered", "os" or "sync" into *out. LSMLOG_E_INVALID otherwise. */
LSMLOG_API int lsmlog_durability_parse(const char *name, int *out);

/* ---- the Log ------------------------------------------------------------ */

typedef struct lsmlog_log lsmlog_log;
typedef struct lsmlog_log_iter lsmlog_log_iter;

/* A timestamp argument meaning "now" (the wall clock in ms). */
#define LSMLOG_NOW INT64_MIN

/* One value to append: `len` bytes at `data` (data may be NULL when len is 0),
 * with timestamp `ts` in ms since the Unix epoch, or LSMLOG_NOW. */
typedef struct lsmlog_entry {
    const void *data;
    size_t len;
    int64_t ts;
} lsmlog_entry;

/* One record handed out by a read. `value` is borrowed: see the call. */
typedef struct lsmlog_record {
    uint64_t offset;
    int64_t timestamp;
    const void *value;
    size_t len;
} lsmlog_record;

/* What recovery did at open. `message` is owned by the handle. */
typedef struct lsmlog_recovery {
    uint64_t truncated_bytes;  /* torn or corrupt tail cut from the last segment */
    uint64_t dropped_batches;  /* batches set aside by repair */
    uint64_t dropped_bytes;    /* bytes set aside by repair */
    uint64_t rebuilt_indexes;  /* index files rebuilt because missing or stale */
    const char *message;       /* a sentence for people; "" when nothing happened */
} lsmlog_recovery;

/* Figures about a log. */
typedef struct lsmlog_log_info {
    uint64_t start;        /* first retained offset */
    uint64_t end;          /* next offset to be assigned */
    uint64_t segments;     /* number of segment files */
    uint64_t bytes;        /* bytes in segment files */
    int64_t first_ts;      /* timestamp of the first retained record; 0 if empty */
    int64_t max_ts;        /* largest timestamp in the log; 0 if empty */
} lsmlog_log_info;

/* Opens (or creates) the log in directory `path`. opts may be NULL for the
 * defaults. On success *out is a new handle (close with lsmlog_log_close).
 * Errors: LSMLOG_E_NOENT (missing, create off or readonly), LSMLOG_E_IO (path
 * is a file, no permission, ...), LSMLOG_E_LOCKED (another writer, in this or
 * another process), LSMLOG_E_CORRUPT (damage before the tail; names file and
 * position), LSMLOG_E_VERSION (a segment of a newer format), LSMLOG_E_INVALID
 * (bad option value). A torn tail is truncated; lsmlog_log_recovery says what
 * was cut. Nothing on disk changes on failure, except a tail truncation. */
LSMLOG_API int lsmlog_log_open(const char *path, const lsmlog_options *opts, lsmlog_log **out);

/* Flushes buffered records and closes. NULL is a no-op. LSMLOG_E_BUSY (and the
 * handle stays open) while iterators are open. The handle is freed even when
 * the final flush fails; that failure is returned. */
LSMLOG_API int lsmlog_log_close(lsmlog_log *log);

/* Appends one record; *offset (may be NULL) receives its offset. Returns once
 * the record is as durable as the handle's durability says. LSMLOG_E_TOOBIG
 * if the value cannot fit in one segment. */
LSMLOG_API int lsmlog_log_append(lsmlog_log *log, const void *data, size_t len, int64_t ts,
                                 uint64_t *offset);

/* Appends n >= 1 records as one batch: one write, one fsync, contiguous
 * offsets, all or nothing after a crash. *first (may be NULL) receives the
 * offset of entries[0]. LSMLOG_E_INVALID for n == 0. */
LSMLOG_API int lsmlog_log_append_batch(lsmlog_log *log, const lsmlog_entry *entries, size_t n,
                                       uint64_t *first);

/* Hands buffered records to the OS (durability "buffered"); a no-op for the
 * other durabilities. LSMLOG_E_READONLY on a read-only handle. */
LSMLOG_API int lsmlog_log_flush(lsmlog_log *log);

/* Flushes, then makes everything appended so far survive power loss: with
 * durability buffered or os, fdatasyncs every segment that may hold unsynced
 * data (on a handle's first sync, all of them: an earlier process may have
 * left them so) and fsyncs the directory (and the parents open made), then
 * fdatasyncs the active segment. A failed fdatasync fails the handle
 * (LSMLOG_E_FAILED from then on). LSMLOG_E_READONLY on a read-only handle. */
LSMLOG_API int lsmlog_log_sync(lsmlog_log *log);

/* Reads the record at `offset`: *ts and a copy of its value (*value owned by
 * the caller, free with lsmlog_free; never NULL on success, even for an empty
 * value). LSMLOG_NOTFOUND when the offset is below start, at or past end, or
 * was set aside by a repair. Any argument but log may be NULL. */
LSMLOG_API int lsmlog_log_get(lsmlog_log *log, uint64_t offset, int64_t *ts, void **value,
                              size_t *len);

/* *start: first retained offset; *end: next offset to be assigned. Either may
 * be NULL. A read-only handle looks for what other processes appended. */
LSMLOG_API int lsmlog_log_bounds(lsmlog_log *log, uint64_t *start, uint64_t *end);

/* Fills *info. */
LSMLOG_API int lsmlog_log_stat(lsmlog_log *log, lsmlog_log_info *info);

/* What recovery did when this handle was opened. Borrowed, valid until close. */
LSMLOG_API const lsmlog_recovery *lsmlog_log_recovery(lsmlog_log *log);

/* *offset: the first offset whose record has timestamp >= ts (the first in
 * offset order, even when timestamps are not monotonic). LSMLOG_NOTFOUND when
 * no record has. */
LSMLOG_API int lsmlog_log_offset_for_time(lsmlog_log *log, int64_t ts, uint64_t *offset);

/* Blocks until the log holds a record at `offset` or higher (end > offset),
 * or `timeout_ms` passes (negative: no limit). LSMLOG_OK or LSMLOG_TIMEOUT.
 * Works on a read-only handle while a writer appends from another process. */
LSMLOG_API int lsmlog_log_wait(lsmlog_log *log, uint64_t offset, int64_t timeout_ms);

/* Drops every sealed segment whose records are all below `offset`. The
 * active segment is never dropped, so start may stay below `offset`. */
LSMLOG_API int lsmlog_log_truncate_before(lsmlog_log *log, uint64_t offset);

/* Drops the oldest sealed segments while the log is larger than max_bytes
 * (0: no size limit) or while a segment's newest record is older than
 * max_age_ms (0: no age limit). *dropped (may be NULL): segments dropped. */
LSMLOG_API int lsmlog_log_retain(lsmlog_log *log, uint64_t max_bytes, int64_t max_age_ms,
                                 uint64_t *dropped);

/* Reads every segment in full and checks every checksum. LSMLOG_OK, or
 * LSMLOG_E_CORRUPT with the first damage's file and position in the message.
 * *records (may be NULL) receives the number of records checked. */
LSMLOG_API int lsmlog_log_verify(lsmlog_log *log, uint64_t *records);

/* Bounds of an iterator. Use lsmlog_iter_opts_init for "everything". */
typedef struct lsmlog_iter_opts {
    uint64_t start;  /* first offset (default 0: the log's start) */
    uint64_t stop;   /* offsets >= stop are not returned (default UINT64_MAX) */
    int64_t since;   /* start at the first record with timestamp >= since (default INT64_MIN) */
    int64_t until;   /* stop at the first record with timestamp >= until (INT64_MAX, the
                        default: no bound, so a record stamped INT64_MAX is returned) */
} lsmlog_iter_opts;

LSMLOG_API void lsmlog_iter_opts_init(lsmlog_iter_opts *o);

/* Opens an iterator over the log (opts NULL: everything). The iterator also
 * returns records appended after it was opened. If retention drops the
 * segment an iterator is about to read, it moves on to the new start (the
 * offsets it returns show the jump). */
LSMLOG_API int lsmlog_log_iter_open(lsmlog_log *log, const lsmlog_iter_opts *opts,
                                    lsmlog_log_iter **out);

/* Steps to the next record. LSMLOG_OK and *rec filled: rec->value points into
 * the segment's mapped memory, valid until the next step or close of this
 * iterator. LSMLOG_NOTFOUND at the end of what exists now (or past stop or
 * until): a later call may find new records, unless the stop bound was met.
 * LSMLOG_E_CORRUPT on damage (nothing damaged is ever handed out). */
LSMLOG_API int lsmlog_log_iter_next(lsmlog_log_iter *it, lsmlog_record *rec);

/* Closes an iterator. NULL is a no-op. */
LSMLOG_API void lsmlog_log_iter_close(lsmlog_log_iter *it);

/* ---- the DB ------------------------------------------------------------- */

/* An LSM key-value store in a directory (docs/db.md): a write-ahead log (a
 * Log in <dir>/wal/), a memtable, sorted tables in levels, compaction on a
 * background thread. Keys and values are byte strings, empty included; keys
 * up to 64 KiB. One handle may be used from many threads. */
typedef struct lsmlog_db lsmlog_db;
typedef struct lsmlog_batch lsmlog_batch;
typedef struct lsmlog_snapshot lsmlog_snapshot;
typedef struct lsmlog_db_iter lsmlog_db_iter;

#define LSMLOG_DB_LEVELS 7

/* Opens (or creates) the DB in directory `path` (opts NULL: the defaults).
 * Replays the write-ahead log; a torn tail of it is cut (lsmlog_db_recovery
 * says what). Errors as lsmlog_log_open: LSMLOG_E_NOENT, LSMLOG_E_IO,
 * LSMLOG_E_LOCKED (another writer), LSMLOG_E_CORRUPT (names file and
 * position; also a table the manifest names that is missing),
 * LSMLOG_E_VERSION, LSMLOG_E_INVALID. A damaged table may also be
 * found later, by the read that meets it (LSMLOG_E_CORRUPT naming the file
 * and block; never a wrong value). opts->repair (writers only: with
 * opts->readonly it is LSMLOG_E_INVALID) salvages the log's valid records,
 * and when a table, the manifest or CURRENT is damaged or missing, rebuilds
 * the DB at open from the valid tables' whole blocks and the log, setting
 * the damaged files aside in <path>/lost/ (lsmlog_db_recovery says what was
 * lost; docs/db.md, "Repair"). A repair of an undamaged DB reads every table
 * and changes nothing. A read-only handle (opts->readonly) takes no lock,
 * refuses writes with LSMLOG_E_READONLY, and sees what the writer has
 * written (to the OS) each time a read starts. */
LSMLOG_API int lsmlog_db_open(const char *path, const lsmlog_options *opts, lsmlog_db **out);

/* Flushes buffered writes, stops the background work and closes. NULL is a
 * no-op. LSMLOG_E_BUSY (the handle stays open) while iterators or snapshots
 * are open. The memtable is not written to a table: the log holds it. */
LSMLOG_API int lsmlog_db_close(lsmlog_db *db);

/* Sets key -> value. Returns once the write is as durable as the handle's
 * durability says. LSMLOG_E_TOOBIG for a key over 64 KiB, or a write (batch)
 * larger than a write-ahead log segment (64 MiB). */
LSMLOG_API int lsmlog_db_put(lsmlog_db *db, const void *key, size_t klen, const void *val,
                             size_t vlen);

/* Sets key -> value for ttl_ms milliseconds (> 0): after that, reads do not
 * see the key (nor any older value of it) and compaction drops it. */
LSMLOG_API int lsmlog_db_put_ttl(lsmlog_db *db, const void *key, size_t klen, const void *val,
                                 size_t vlen, int64_t ttl_ms);

/* Removes key (a no-op, but still a write, when it is absent). */
LSMLOG_API int lsmlog_db_delete(lsmlog_db *db, const void *key, size_t klen);

/* Reads key as of `snap` (NULL: the latest). LSMLOG_OK with a copy of the
 * value in *val (owned, lsmlog_free; never NULL, even when empty) and *vlen;
 * LSMLOG_NOTFOUND when absent, deleted or expired. val and vlen may be NULL
 * (an existence test). LSMLOG_E_CORRUPT when a table on the way is damaged:
 * never an older value in its place. */
LSMLOG_API int lsmlog_db_get(lsmlog_db *db, const lsmlog_snapshot *snap, const void *key,
                             size_t klen, void **val, size_t *vlen);

/* A write batch: puts and deletes applied together, atomically (after a
 * crash all of them or none). Not tied to a DB; reusable after a write. */
LSMLOG_API int lsmlog_batch_new(lsmlog_batch **out);
LSMLOG_API void lsmlog_batch_free(lsmlog_batch *b); /* NULL is a no-op */
LSMLOG_API int lsmlog_batch_put(lsmlog_batch *b, const void *key, size_t klen, const void *val,
                                size_t vlen);
LSMLOG_API int lsmlog_batch_put_ttl(lsmlog_batch *b, const void *key, size_t klen,
                                    const void *val, size_t vlen, int64_t ttl_ms);
LSMLOG_API int lsmlog_batch_delete(lsmlog_batch *b, const void *key, size_t klen);
LSMLOG_API void lsmlog_batch_clear(lsmlog_batch *b);
LSMLOG_API size_t lsmlog_batch_count(const lsmlog_batch *b);

/* Applies the batch (one write-ahead log record; concurrent writers share
 * one write and one fsync). An empty batch is a no-op. The batch is left as
 * it was. */
LSMLOG_API int lsmlog_db_write(lsmlog_db *db, const lsmlog_batch *b);

/* Hands buffered writes to the OS (durability "buffered"); a no-op otherwise. */
LSMLOG_API int lsmlog_db_flush(lsmlog_db *db);

/* Flushes, then fdatasyncs the write-ahead log: every write so far survives
 * power loss. */
LSMLOG_API int lsmlog_db_sync(lsmlog_db *db);

/* A frozen view: reads through it see the DB as it was when it was taken,
 * whatever is written or compacted later. Release every snapshot before
 * closing the DB. */
LSMLOG_API int lsmlog_db_snapshot(lsmlog_db *db, lsmlog_snapshot **out);
LSMLOG_API void lsmlog_db_snapshot_release(lsmlog_snapshot *snap); /* NULL is a no-op */

/* The range an iterator covers. NULL pointers are no bound; a non-NULL
 * pointer with length 0 is the empty key. start is included, stop excluded;
 * prefix keeps only keys that begin with it. */
typedef struct lsmlog_db_iter_opts {
    const lsmlog_snapshot *snapshot; /* NULL: as of the iterator's opening */
    const void *start;
    size_t start_len;
    const void *stop;
    size_t stop_len;
    const void *prefix;
    size_t prefix_len;
} lsmlog_db_iter_opts;

LSMLOG_API void lsmlog_db_iter_opts_init(lsmlog_db_iter_opts *o);

/* Opens an iterator (opts NULL: every key). It sees the DB as of its
 * opening (or its snapshot), whatever is written or compacted later. Not
 * positioned: call first, last, seek or seek_for_prev. Each move returns
 * LSMLOG_OK (then lsmlog_db_iter_valid says whether it is on a key) or an
 * error (LSMLOG_E_CORRUPT, LSMLOG_E_IO, ...), which sticks. */
LSMLOG_API int lsmlog_db_iter_open(lsmlog_db *db, const lsmlog_db_iter_opts *opts,
                                   lsmlog_db_iter **out);
LSMLOG_API int lsmlog_db_iter_first(lsmlog_db_iter *it);
LSMLOG_API int lsmlog_db_iter_last(lsmlog_db_iter *it);
/* The first key >= key / the last key <= key. */
LSMLOG_API int lsmlog_db_iter_seek(lsmlog_db_iter *it, const void *key, size_t klen);
LSMLOG_API int lsmlog_db_iter_seek_for_prev(lsmlog_db_iter *it, const void *key, size_t klen);
/* Next / previous key; the iterator must be valid (LSMLOG_E_INVALID otherwise). */
LSMLOG_API int lsmlog_db_iter_next(lsmlog_db_iter *it);
LSMLOG_API int lsmlog_db_iter_prev(lsmlog_db_iter *it);
LSMLOG_API int lsmlog_db_iter_valid(const lsmlog_db_iter *it);
/* The current key and value: borrowed, valid until the next move or close.
 * The iterator must be valid (NULL otherwise). */
LSMLOG_API const void *lsmlog_db_iter_key(const lsmlog_db_iter *it, size_t *len);
LSMLOG_API const void *lsmlog_db_iter_value(const lsmlog_db_iter *it, size_t *len);
LSMLOG_API void lsmlog_db_iter_close(lsmlog_db_iter *it); /* NULL is a no-op */

/* Writes the memtable to a level-0 table and waits until it is done. */
LSMLOG_API int lsmlog_db_flush_memtable(lsmlog_db *db);

/* Progress of a long call: `done` of `total` bytes. `done` only grows;
 * `total` is an estimate made at the start, raised when the work turns out
 * larger, and set to `done` by the last call. A non-zero return cancels the
 * call, which then returns LSMLOG_E_CANCELED with the work done so far kept. */
typedef int (*lsmlog_progress_fn)(void *ctx, uint64_t done, uint64_t total);

/* Compacts the keys in [start, stop) (NULL: unbounded) down the levels, so
 * that overwritten, deleted and expired entries there are dropped (as far as
 * live snapshots allow). The memtable is written to a table first. progress
 * (may be NULL) is called from the calling thread. */
LSMLOG_API int lsmlog_db_compact(lsmlog_db *db, const void *start, size_t start_len,
                                 const void *stop, size_t stop_len, lsmlog_progress_fn progress,
                                 void *ctx);

typedef struct lsmlog_db_level_stats {
    uint64_t files;
    uint64_t bytes;
} lsmlog_db_level_stats;

typedef struct lsmlog_db_stats {
    lsmlog_db_level_stats levels[LSMLOG_DB_LEVELS];
    uint64_t memtable_bytes;    /* the active memtable plus one being flushed */
    uint64_t last_seq;          /* sequence number of the newest write */
    uint64_t user_bytes;        /* key + value bytes written through the API since open */
    uint64_t wal_bytes;         /* bytes appended to the write-ahead log since open */
    uint64_t flush_bytes;       /* table bytes written by memtable flushes since open */
    uint64_t compact_read_bytes;  /* table bytes read by compactions since open */
    uint64_t compact_write_bytes; /* table bytes written by compactions since open */
    double write_amp;           /* (wal + flush + compaction bytes) / user bytes; 0 before any write */
    uint64_t flushes, compactions, trivial_moves;
    uint64_t stalls;            /* writes that waited for a flush or for level 0 to drain */
    uint64_t stall_us;          /* total time they waited */
    uint64_t cache_hits, cache_misses; /* block cache: tables read with pread only (a mapped
                                          table, the usual case, is read in place) */
    uint64_t bloom_useful;      /* gets a filter answered "absent" without reading a block */
    uint64_t bloom_useless;     /* gets a filter let through that found nothing */
} lsmlog_db_stats;

LSMLOG_API int lsmlog_db_get_stats(lsmlog_db *db, lsmlog_db_stats *out);

/* What recovery did when this handle was opened: the write-ahead log's
 * report, and what a repair set aside — dropped_batches then also counts
 * the table entries lost (as far as the damaged tables' properties tell),
 * dropped_bytes the bytes of damaged blocks and of tables lost whole, and
 * message names each damaged file. Borrowed, valid until close. */
LSMLOG_API const lsmlog_recovery *lsmlog_db_recovery(lsmlog_db *db);

#ifdef __cplusplus
}
#endif
#endif /* LSMLOG_H */
