/* iter.h — the DB's internal iterator: one interface over every sorted
 * source of internal keys (dbformat.h), so that the merging iterator
 * (merge_iter.h) and the user-level iterator (db_iter.h) need not know
 * whether an entry comes from a memtable, a table, or a whole level.
 *
 * An iiter is a position in a sequence of entries (internal key, value) in
 * ikey_cmp order. It is a struct with a vtable; the wrappers below call
 * through it. The rules every implementation keeps (those of sst_iter):
 *
 * - A new iterator is not positioned (not valid).
 * - Every move returns the iterator's status: LSMLOG_OK (then iiter_valid
 *   says whether it is on an entry; past either end it is not), or an error
 *   (LSMLOG_E_CORRUPT, LSMLOG_E_IO, LSMLOG_E_NOMEM ...). An error is sticky:
 *   the iterator is no longer valid and every later move, seeks included,
 *   returns the same error (also iiter_status).
 * - next and prev require a valid iterator. prev from the first entry leaves
 *   it not valid.
 * - seek takes an internal key of at least 8 bytes, borrowed for the call,
 *   and lands on the first entry >= it.
 * - key and value require a valid iterator; they are borrowed, valid until
 *   the iterator next moves or is closed.
 * - One thread uses an iterator at a time.
 *
 * (LevelDB's include/leveldb/iterator.h and table/two_level_iterator.cc,
 * written anew.) */
#ifndef LSMLOG_ITER_H
#define LSMLOG_ITER_H

#include <stddef.h>
#include <stdint.h>

#include "memtable.h"
#include "sst_reader.h"
#include "version.h"

typedef struct iiter iiter;

/* What an implementation provides (all required). */
typedef struct iiter_ops {
    int (*seek_to_first)(iiter *it);
    int (*seek_to_last)(iiter *it);
    int (*seek)(iiter *it, const uint8_t *ikey, size_t len);
    int (*next)(iiter *it);
    int (*prev)(iiter *it);
    int (*valid)(const iiter *it);
    const uint8_t *(*key)(const iiter *it, size_t *len);
    const uint8_t *(*value)(const iiter *it, size_t *len);
    int (*status)(const iiter *it);
    void (*destroy)(iiter *it); /* frees the iterator and what it owns */
} iiter_ops;

/* Run by iiter_close after the iterator is destroyed (e.g. to close the
 * table reader it walked, or to unpin a version). */
typedef void (*iiter_cleanup_fn)(void *arg);

/* The common head of every iterator; implementations embed it first. */
struct iiter {
    const iiter_ops *ops;
    iiter_cleanup_fn cleanup; /* NULL: none */
    void *cleanup_arg;
};

static inline int iiter_seek_to_first(iiter *it) {
    return it->ops->seek_to_first(it);
}
static inline int iiter_seek_to_last(iiter *it) {
    return it->ops->seek_to_last(it);
}
static inline int iiter_seek(iiter *it, const uint8_t *ikey, size_t len) {
    return it->ops->seek(it, ikey, len);
}
static inline int iiter_next(iiter *it) {
    return it->ops->next(it);
}
static inline int iiter_prev(iiter *it) {
    return it->ops->prev(it);
}
static inline int iiter_valid(const iiter *it) {
    return it->ops->valid(it);
}
static inline const uint8_t *iiter_key(const iiter *it, size_t *len) {
    return it->ops->key(it, len);
}
static inline const uint8_t *iiter_value(const iiter *it, size_t *len) {
    return it->ops->value(it, len);
}
static inline int iiter_status(const iiter *it) {
    return it->ops->status(it);
}

/* Sets the iterator's one cleanup (there must be none yet): fn(arg) runs when
 * it is closed, after it is destroyed. */
void iiter_set_cleanup(iiter *it, iiter_cleanup_fn fn, void *arg);

/* Destroys the iterator, then runs its cleanup. NULL is a no-op. */
void iiter_close(iiter *it);

/* Fills the head of a new iterator (for implementations). */
void iiter_init(iiter *it, const iiter_ops *ops);

/* ---- adapters ------------------------------------------------------------ */

/* An iterator over a memtable's entries. It takes a reference to m (dropped
 * at close), so keys and values stay valid at least that long. Never fails
 * once made. *out owned (iiter_close). LSMLOG_OK or LSMLOG_E_NOMEM. */
int iter_from_memtable(memtable *m, iiter **out);

/* An iterator over a table's entries (an sst_iter). r is borrowed: it must
 * stay open until the iterator is closed — or hand it over with
 * iiter_set_cleanup. *out owned (iiter_close). LSMLOG_OK or LSMLOG_E_NOMEM. */
int iter_from_sst(sst_reader *r, iiter **out);

/* iter_from_sst reading past the block cache (sst_iter_bypass_cache): for a
 * scan that reads each block once, as a compaction does. */
int iter_from_sst_uncached(sst_reader *r, iiter **out);

/* Opens an iterator over one table of a level, for iter_level: *out owned by
 * the level iterator, which closes it when it moves to another table. Returns
 * LSMLOG_OK, or an error (with lsmlog_errmsg set), which the level iterator
 * makes its own sticky status. */
typedef int (*iter_open_table_fn)(void *ctx, const file_meta *f, iiter **out);

/* A concatenating iterator over the tables of one level >= 1: files[0..n)
 * sorted by key with disjoint ranges of internal keys (version.h
 * files[level], nfiles[level]); each file's meta.smallest / meta.largest must
 * be its first and last internal keys. Tables are opened lazily through
 * open(ctx, &files[i]->meta, &it) and closed as soon as the iterator leaves
 * them, so at most one table iterator of the level is open at any time (none
 * before the first move or past either end). files (the array and the
 * table_files) is borrowed: keep the version pinned until the iterator is
 * closed. n may be 0 (never valid). *out owned (iiter_close). LSMLOG_OK or
 * LSMLOG_E_NOMEM. */
int iter_level(table_file *const *files, size_t n, iter_open_table_fn open, void *ctx, iiter **out);

#endif
