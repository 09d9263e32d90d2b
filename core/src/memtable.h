/* memtable.h — the DB's in-memory table: the newest writes, sorted by
 * internal key (dbformat.h), until a flush turns them into an sstable.
 *
 * A skiplist (LevelDB's db/skiplist.h and db/memtable.cc) whose nodes, keys
 * and values live in the memtable's arena; nothing is freed before the whole
 * memtable is. Each entry stores
 *
 *     varint(ikey_len) | internal key (user key | 8-byte trailer)
 *     | varint(value_len) | value
 *
 * right after its node. A delete is stored as an entry of type KT_DELETE with
 * an empty value, and reported as such: it must shadow older tables.
 *
 * Thread rules (LevelDB's): ONE writer at a time — the caller serializes
 * memtable_add — and any number of readers (memtable_get, iterators, the
 * stats) concurrently with it and with each other, without locks. A reader
 * sees every entry whose add happened before the read began (returned, and
 * the reader learnt of it through some synchronization, e.g. the DB's mutex),
 * maybe some added during it, and never a partly written one.
 *
 * Lifetime: reference counted. memtable_new returns one reference; whoever
 * keeps the memtable (the DB's current or immutable table, a reader in
 * flight, an iterator) holds a reference, and the last memtable_unref frees
 * it. Keys and values handed out point into the arena and stay valid while
 * the holder keeps its reference. */
#ifndef LSMLOG_MEMTABLE_H
#define LSMLOG_MEMTABLE_H

#include <stddef.h>
#include <stdint.h>

#include "dbformat.h"

typedef struct memtable memtable;
struct mt_node;

/* Makes an empty memtable holding one reference for the caller (release it
 * with memtable_unref). buffer_bytes: the write buffer size it is meant to
 * grow to, which sizes its key filter (1 byte per 64; memtable.c); 0: no
 * filter, every get searches the list. LSMLOG_OK, or LSMLOG_E_NOMEM (*out
 * then NULL). */
int memtable_new(memtable **out, size_t buffer_bytes);

/* Takes one more reference. Any thread. */
void memtable_ref(memtable *m);

/* Drops a reference; the last one frees the memtable and everything it
 * handed out. Any thread. NULL is a no-op. */
void memtable_unref(memtable *m);

/* Adds the entry (key, seq, type) -> val. key and val are copied (borrowed
 * for the call; either may be NULL when its length is 0). type is KT_PUT,
 * KT_PUT_TTL or KT_DELETE (vlen is then normally 0). The caller serializes
 * adds and gives each entry of one user key a distinct seq, as the DB does.
 *
 * LSMLOG_OK; LSMLOG_E_INVALID for a bad type, seq > MAX_SEQ, sizes that
 * overflow, or an entry with the same user key, seq and type already present;
 * LSMLOG_E_NOMEM when the arena cannot grow. On any error the memtable is
 * unchanged and still usable. */
int memtable_add(memtable *m, uint64_t seq, int type, const void *key, size_t klen, const void *val,
                 size_t vlen);

/* Finds the newest entry for user key `key` with seq <= snapshot_seq
 * (UINT64_MAX or anything above MAX_SEQ: the latest). LSMLOG_OK with *type
 * (KT_PUT, KT_PUT_TTL or KT_DELETE), *val and *vlen set — *val points into
 * the arena, valid while the caller holds its reference (NULL outputs are
 * skipped); or LSMLOG_NOTFOUND when no such entry exists here (older tables
 * must then be asked). Never fails otherwise. */
int memtable_get(memtable *m, const void *key, size_t klen, uint64_t snapshot_seq, int *type,
                 const void **val, size_t *vlen);

/* The key filter's answer for user key `key`: 0 if no entry of it was added
 * before the call began (memtable_get then answers LSMLOG_NOTFOUND without a
 * search), 1 if one may have been (always 1 without a filter). Any thread. */
int memtable_may_contain(const memtable *m, const void *key, size_t klen);

/* Approximate bytes of memory in use (the arena's blocks and the key
 * filter), for the stats. Any thread. */
size_t memtable_bytes(const memtable *m);

/* Bytes the entries and the list take in the arena (without the unused
 * rest of its blocks): what the DB compares with memtable_bytes, so that a
 * small write buffer is not "full" from its first block on. Any thread. */
size_t memtable_data_bytes(const memtable *m);

/* Entries added so far. Any thread. */
size_t memtable_count(const memtable *m);

/* The smallest and largest seq added so far (the flush records them in the
 * table's properties). LSMLOG_OK, or LSMLOG_NOTFOUND when empty (outputs
 * untouched). Any thread; exact once the writer is done. */
int memtable_seq_range(const memtable *m, uint64_t *smallest, uint64_t *largest);

/* ---- iterator ----------------------------------------------------------
 * An iterator over the entries in internal key order. It lives in the
 * caller's memory and holds a reference to the memtable from
 * memtable_iter_init to memtable_iter_done. Entries added while it is in use
 * may or may not be seen, each step consistently ordered. One thread uses an
 * iterator at a time; many iterators may run concurrently with the writer. */

typedef struct memtable_iter {
    memtable *m;                /* referenced */
    const struct mt_node *node; /* the current entry, NULL when not valid */
} memtable_iter;

/* Starts an iterator on m (not yet positioned: not valid). Takes a reference. */
void memtable_iter_init(memtable_iter *it, memtable *m);

/* Drops the iterator's reference; it must not be used again (init again to
 * reuse the storage). Keys and values it returned die with the reference
 * unless the caller holds another one. */
void memtable_iter_done(memtable_iter *it);

/* 1 when positioned at an entry, 0 otherwise. */
int memtable_iter_valid(const memtable_iter *it);

/* Positions at the first / the last entry (not valid when empty). */
void memtable_iter_seek_to_first(memtable_iter *it);
void memtable_iter_seek_to_last(memtable_iter *it);

/* Positions at the first entry >= the internal key ikey (len >= 8; borrowed
 * for the call). To find user key k at snapshot s, seek to k followed by
 * ikey_lookup_trailer(s). */
void memtable_iter_seek(memtable_iter *it, const uint8_t *ikey, size_t len);

/* Steps forward / back; must be valid. Past either end it is not valid. prev
 * is a search from the top (O(log n)), as the list links forward only. */
void memtable_iter_next(memtable_iter *it);
void memtable_iter_prev(memtable_iter *it);

/* The current entry's internal key / value and their lengths; must be valid.
 * They point into the arena: valid while the iterator (or any other holder)
 * keeps its reference, whatever the iterator does next. */
const uint8_t *memtable_iter_key(const memtable_iter *it, size_t *len);
const uint8_t *memtable_iter_value(const memtable_iter *it, size_t *len);

#endif
