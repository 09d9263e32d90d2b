/* dbformat.h — the DB's internal keys: how a user key, a sequence number and
 * an entry type are packed into one byte string, and the order of such
 * strings. Every sorted structure of the DB (memtable, sstables, the merging
 * iterator, compaction) orders internal keys with ikey_cmp.
 *
 * An internal key is
 *
 *     user_key bytes (0 or more) | trailer: 8 bytes, little-endian u64
 *
 * with trailer = (seq << 8) | type: seq a 56-bit sequence number (0 ..
 * MAX_SEQ), type one of KT_*. The user key's length is the internal key's
 * length minus 8; user keys may hold any bytes, zeros included.
 *
 * Order (ikey_cmp): by user key ascending (bytewise, a proper prefix first),
 * then by seq DESCENDING, then by type descending. Since the trailer packs seq
 * above type, the last two are "trailer descending". So for one user key the
 * newest entry comes first, and a seek to a lookup key (ikey_lookup_trailer)
 * lands on the newest entry visible at a snapshot.
 *
 * (LevelDB's format, db/dbformat.h, with one more type.) */
#ifndef LSMLOG_DBFORMAT_H
#define LSMLOG_DBFORMAT_H

#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "coding.h"

/* Entry types, stored in the trailer's low byte. Their numeric order matters:
 * a lookup key uses the largest (KT_MAX) so that it sorts before every entry
 * of its user key and seq. */
enum {
    KT_DELETE = 0,  /* a tombstone: shadows older entries of the key; no value */
    KT_PUT = 1,     /* a value */
    KT_PUT_TTL = 2, /* a value whose first 8 bytes are a little-endian i64 expiry
                       time, ms since the epoch (interpreted above the memtable) */
};
#define KT_MAX KT_PUT_TTL

#define MAX_SEQ ((1ull << 56) - 1)
#define IKEY_TRAILER_SIZE 8

/* The trailer of (seq, type). seq <= MAX_SEQ, type a KT_*. */
static inline uint64_t ikey_pack(uint64_t seq, int type) {
    assert(seq <= MAX_SEQ);
    assert(type >= 0 && type <= KT_MAX);
    return seq << 8 | (uint64_t)type;
}

/* Splits a trailer into seq and type (either pointer may be NULL). */
static inline void ikey_unpack(uint64_t trailer, uint64_t *seq, int *type) {
    if (seq) *seq = trailer >> 8;
    if (type) *type = (int)(trailer & 0xff);
}

/* Writes the 8-byte trailer of (seq, type) at p. */
static inline void ikey_put_trailer(uint8_t *p, uint64_t seq, int type) {
    put_u64(p, ikey_pack(seq, type));
}

/* The trailer of an internal key of `len` (>= 8) bytes. */
static inline uint64_t ikey_trailer(const uint8_t *ikey, size_t len) {
    assert(len >= IKEY_TRAILER_SIZE);
    return get_u64(ikey + len - IKEY_TRAILER_SIZE);
}

/* Parses an internal key: its user key is ikey[0 .. *ulen), plus seq and
 * type (any output may be NULL). 0, or -1 when it is shorter than a trailer
 * or the type is unknown (damaged input). */
static inline int ikey_parse(const uint8_t *ikey, size_t len, size_t *ulen, uint64_t *seq,
                             int *type) {
    if (len < IKEY_TRAILER_SIZE) return -1;
    uint64_t t = get_u64(ikey + len - IKEY_TRAILER_SIZE);
    if ((t & 0xff) > KT_MAX) return -1;
    if (ulen) *ulen = len - IKEY_TRAILER_SIZE;
    ikey_unpack(t, seq, type);
    return 0;
}

/* The trailer of the lookup key for snapshot `seq`: user key + this trailer
 * sorts before every entry of that user key with seq' <= seq and after every
 * entry with seq' > seq, so the first entry >= it is the newest one visible
 * at the snapshot (if its user key matches). seq above MAX_SEQ is clamped:
 * UINT64_MAX means "the latest". */
static inline uint64_t ikey_lookup_trailer(uint64_t seq) {
    return ikey_pack(seq > MAX_SEQ ? MAX_SEQ : seq, KT_MAX);
}

/* Bytewise order of user keys: memcmp over the common prefix, then the
 * shorter first. <0, 0, >0. Either pointer may be NULL when its length is 0.
 *
 * Inline, with the first UKEY_WORD_BYTES compared 8 bytes at a time as
 * big-endian words (which order as their bytes do): the merge, the table
 * builder and compaction compare keys several times per entry, and for the
 * short keys that are the rule a call to memcmp cost more than the compare. */
#define UKEY_WORD_BYTES 32
static inline int ukey_cmp(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen) {
    size_t n = alen < blen ? alen : blen, i = 0;
    for (; i + 8 <= n && i < UKEY_WORD_BYTES; i += 8) {
        uint64_t x = get_be64(a + i), y = get_be64(b + i);
        if (x != y) return x < y ? -1 : 1;
    }
    /* memcmp with a NULL pointer is undefined even for 0 bytes */
    int r = i < n ? memcmp(a + i, b + i, n - i) : 0;
    if (r) return r;
    return alen < blen ? -1 : alen > blen;
}

/* Trailers sort descending: the newest seq first, then the largest type. */
static inline int ikey_trailer_cmp(uint64_t ta, uint64_t tb) {
    return ta > tb ? -1 : ta < tb;
}

/* The order of internal keys (above): <0 when a sorts first, 0 when equal,
 * >0. Both lengths must be >= 8. (Inline, as ukey_cmp; tables take its
 * address as their comparator.) */
static inline int ikey_cmp(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen) {
    assert(alen >= IKEY_TRAILER_SIZE && blen >= IKEY_TRAILER_SIZE);
    int r = ukey_cmp(a, alen - IKEY_TRAILER_SIZE, b, blen - IKEY_TRAILER_SIZE);
    if (r) return r;
    return ikey_trailer_cmp(ikey_trailer(a, alen), ikey_trailer(b, blen));
}

/* ikey_cmp against a key given in parts (user key, trailer), for searches
 * that would otherwise have to build the key in a buffer. */
int ikey_cmp_parts(const uint8_t *a, size_t alen, const uint8_t *ukey, size_t ulen,
                   uint64_t trailer);

#endif
