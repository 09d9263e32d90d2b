/*
 * kv_bench.h — the db_bench-shaped workloads, run the same way against any
 * store that supplies a kv_peer (an adapter of a few small functions): the
 * C peers (bench_peers_c: LevelDB, RocksDB, LMDB, SQLite, the lsmlog Log) and
 * the lsmlog DB (bench_db). The driver owns the workloads, the clock and the
 * figures; an adapter only calls its store.
 *
 * Two shapes of data:
 *
 *  - KV_MODE_KV (db_bench): keys are 16-byte zero-padded decimals, values 100
 *    incompressible bytes, written in batches of 1,000.
 *  - KV_MODE_LOG ("what else would you keep a log in"): record i has the key
 *    i as 8 big-endian bytes (so keys sort in append order) and the value
 *    [8-byte big-endian timestamp][100-byte payload]; a peer keeps both
 *    (LevelDB, RocksDB, LMDB: the 108 bytes as the value; SQLite: a row
 *    (off INTEGER PRIMARY KEY, ts, v); the lsmlog Log: the payload with ts as
 *    the record's timestamp).
 *
 * Adapters die (bu_die) on any error of their store: a figure is printed only
 * for work that was done and checked.
 */
#ifndef LSMLOG_KV_BENCH_H
#define LSMLOG_KV_BENCH_H

#include <stddef.h>
#include <stdint.h>

enum { KV_MODE_KV = 1, KV_MODE_LOG = 2 };

#define KV_LOG_KEY_LEN 8
#define KV_LOG_TS_LEN 8

/* One record of a batch. Borrowed for the call. */
typedef struct kv_rec {
    const void *key;
    size_t klen;
    const void *val;
    size_t vlen;
} kv_rec;

typedef struct kv_peer {
    const char *name;     /* "leveldb": --peer NAME and the JSON key */
    const char *settings; /* its durability and the options set, printed and in JSON */
    int modes;            /* the KV_MODE_* bits it supports */
    /* The library's version ("1.23"); a static string. */
    const char *(*version)(void);
    /* Opens (creates) the store in the existing, empty directory dir. n is the
     * number of records the run will write (LMDB sizes its map with it). */
    void *(*open)(const char *dir, int mode, uint64_t n);
    void (*close)(void *h);
    /* Writes the n records as one batch (transaction); a key already present
     * is replaced. */
    void (*write)(void *h, const kv_rec *recs, size_t n);
    /* Looks key up in the latest state: 1 if found (*vlen set), 0 if absent. */
    int (*get)(void *h, const void *key, size_t klen, size_t *vlen);
    /* Reads every record in key order; returns their number and adds the
     * bytes of keys and values read to *bytes. */
    uint64_t (*scan)(void *h, uint64_t *bytes);
    /* Positions at the first key >= key in the latest state and reads its
     * key and value: 1 with the key copied into found (at most cap bytes,
     * *flen its full length), 0 when past the last key. */
    int (*seek)(void *h, const void *key, size_t klen, void *found, size_t cap, size_t *flen);
} kv_peer;

/* A peer compiled out: printed as "skipped: reason" and listed as such in
 * the JSON. */
typedef struct kv_skipped {
    const char *name;
    const char *reason;
} kv_skipped;

/* Parses the command line (see kv_bench.c's usage), runs the workloads on
 * every peer selected and prints/writes the figures. Returns the exit code. */
int kv_bench_main(const char *prog, int argc, char **argv, const kv_peer *const *peers,
                  size_t npeers, const kv_skipped *skipped, size_t nskipped);

#endif
