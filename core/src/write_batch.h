/* write_batch.h — a DB write batch: the puts and deletes that become visible
 * together. Its bytes are exactly what the DB writes as one record of its
 * write-ahead log (itself a Log: same framing, CRC, durability, recovery), so
 * after a crash a batch is wholly there or wholly absent.
 *
 * rep := seq:u64 count:u32 op{count}
 * op  := type:u8 key_len:varint32 key value_len:varint32 value   (put, put_ttl)
 *      | type:u8 key_len:varint32 key                            (delete)
 * type: 0 delete, 1 put, 2 put with TTL (value = expire_ms:i64 + user value).
 * Ops get sequence numbers seq, seq+1, ... in order. (docs/format-wal.md,
 * whose example bytes were printed by this code.) */
#ifndef LSMLOG_WRITE_BATCH_H
#define LSMLOG_WRITE_BATCH_H

#include <stddef.h>
#include <stdint.h>

#define WB_HEADER 12u
#define WB_DELETE 0
#define WB_PUT 1
#define WB_PUT_TTL 2
#define WB_MAX_KEY (64u << 10)          /* documented key limit: 64 KiB */
#define WB_MAX_VALUE ((1u << 31) - 1u)  /* a value must fit a varint32 */

typedef struct wbatch {
    uint8_t *rep;    /* owned; WB_HEADER bytes, then the ops */
    size_t len, cap;
    uint32_t count;
    uint64_t user_bytes; /* key + value bytes the user wrote (write amplification) */
} wbatch;

void wbatch_init(wbatch *b);
void wbatch_free(wbatch *b);
void wbatch_clear(wbatch *b);

/* Adds an op. expire_ms > 0 makes a put with a TTL. LSMLOG_E_TOOBIG for a
 * key over WB_MAX_KEY or a value over WB_MAX_VALUE, LSMLOG_E_NOMEM. On error
 * the batch is unchanged. */
int wbatch_put(wbatch *b, const void *key, size_t klen, const void *val, size_t vlen, int64_t expire_ms);
int wbatch_delete(wbatch *b, const void *key, size_t klen);

/* Appends src's ops to dst (group commit merges batches). */
int wbatch_append(wbatch *dst, const wbatch *src);

void wbatch_set_seq(wbatch *b, uint64_t seq);

/* Calls fn for every op of rep in order, with its sequence number. The value
 * of a put with TTL is given as stored (8-byte expiry first). Returns
 * LSMLOG_E_CORRUPT if rep is malformed (before calling fn for any op), or the
 * first non-zero status fn returns. */
typedef int (*wbatch_fn)(void *ctx, uint64_t seq, int type, const uint8_t *key, size_t klen,
                         const uint8_t *val, size_t vlen);
int wbatch_iterate(const uint8_t *rep, size_t len, wbatch_fn fn, void *ctx);

/* The sequence number and op count of a batch's bytes (len >= WB_HEADER). */
uint64_t wbatch_rep_seq(const uint8_t *rep);
uint32_t wbatch_rep_count(const uint8_t *rep);

#endif
