/* db_iter.h — the user-level DB iterator: user keys and values, each key
 * once, as of a snapshot, on top of a merged internal iterator
 * (merge_iter.h) that holds every version of every key.
 *
 * What it shows, for each user key: the newest entry with seq <= the
 * snapshot. That entry hides every older one. The key is shown when it is a
 * put (KT_PUT), or a put with TTL (KT_PUT_TTL) whose expiry is still ahead
 * (expiry > now); its value is then returned without the 8-byte expiry. The
 * key is not shown when that entry is a delete, or a TTL put that has
 * expired: an expired put acts as a delete, hiding the older versions too.
 *
 * "now" is read from the clock when the iterator is positioned (first,
 * last, seek, seek_for_prev) and kept for the next/prev steps that follow,
 * so that one walk, in whichever directions, sees one consistent set of keys.
 *
 * Bounds: start (inclusive), stop (exclusive) and prefix (keys that begin
 * with it) together make one range [lower, upper) of user keys (bytewise
 * order); no move ever leaves it. A seek below lower lands at lower.
 *
 * Errors: any error of the internal iterator (a damaged block, I/O), a
 * malformed internal key, or a TTL value shorter than its expiry fails the
 * iterator: not valid, with that status (sticky; every later call returns
 * it). It never shows data past damage it met. LSMLOG_E_CORRUPT for the last
 * two; LSMLOG_E_NOMEM when a saved key or value cannot be copied.
 *
 * Threads: one thread at a time per iterator.
 *
 * (LevelDB's db/db_iter.cc, written anew, with bounds and TTL.) */
#ifndef LSMLOG_DB_ITER_H
#define LSMLOG_DB_ITER_H

#include <stddef.h>
#include <stdint.h>

#include "iter.h"

/* The time in ms since the epoch, for TTL expiry. */
typedef int64_t (*db_clock_fn)(void *ctx);

typedef struct db_iter_options {
    uint64_t snapshot; /* sees entries with seq <= this (UINT64_MAX: every entry) */
    /* Bounds on user keys: a NULL pointer is no bound; a non-NULL pointer
     * with length 0 is the empty key (so an empty stop shows nothing). All
     * copied by db_iter_new. */
    const void *start; /* inclusive */
    size_t start_len;
    const void *stop; /* exclusive */
    size_t stop_len;
    const void *prefix; /* keys beginning with these bytes */
    size_t prefix_len;
    db_clock_fn clock; /* NULL: the system's real-time clock */
    void *clock_ctx;
} db_iter_options;

/* Zero bounds, the latest snapshot, the system clock. */
void db_iter_options_init(db_iter_options *o);

typedef struct db_iter db_iter;

/* A user-level iterator over `internal` (typically a merge_iter over a
 * pinned version and memtables), which it takes over: closed by
 * db_iter_close, and also when this call fails. Not positioned. *out owned
 * (db_iter_close). LSMLOG_OK or LSMLOG_E_NOMEM. */
int db_iter_new(iiter *internal, const db_iter_options *o, db_iter **out);

/* Closes the iterator and its internal iterator (running the latter's
 * cleanup, e.g. unpinning the version). NULL is a no-op. */
void db_iter_close(db_iter *d);

/* Every move returns the status: LSMLOG_OK (then db_iter_valid says whether
 * it is on a key) or the iterator's error (above). */

/* The first / the last key in range. */
int db_iter_seek_to_first(db_iter *d);
int db_iter_seek_to_last(db_iter *d);
/* The first key >= key (key borrowed for the call; NULL when len is 0). */
int db_iter_seek(db_iter *d, const void *key, size_t len);
/* The last key <= key. */
int db_iter_seek_for_prev(db_iter *d, const void *key, size_t len);
/* The next / previous key; require valid. Either direction may follow any
 * other move. */
int db_iter_next(db_iter *d);
int db_iter_prev(db_iter *d);

int db_iter_valid(const db_iter *d);
int db_iter_status(const db_iter *d);

/* The current user key / value (the TTL's expiry stripped); require valid.
 * Borrowed: valid until the next move or close. Never NULL (an empty key or
 * value is a non-NULL pointer with length 0). */
const uint8_t *db_iter_key(const db_iter *d, size_t *len);
const uint8_t *db_iter_value(const db_iter *d, size_t *len);

/* The expiry (ms since the epoch) of the current entry when it is a TTL
 * put, else INT64_MAX; requires valid. */
int64_t db_iter_expiry(const db_iter *d);

#endif
