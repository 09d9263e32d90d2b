/*
 * bench_peers_c.c — the C peers side by side: LevelDB, RocksDB, LMDB and
 * SQLite on the db_bench-shaped workloads, and the same stores next to the
 * lsmlog Log on log-shaped appends and scans (kv_bench.c says what is run and
 * measured; bench/peers/ holds one small adapter per store).
 *
 * A peer whose headers or library CMake did not find is compiled out and
 * reported as "skipped: <reason>" (CMakeLists.txt passes HAVE_<PEER> or
 * SKIP_<PEER>="reason"). The lsmlog DB has its own executable, bench_db.
 *
 * Usage: bench_peers_c [-n N] [-R READS] [-r REPS] [-d DIR] [-k] [--peer NAME]...
 *                      [--json FILE]
 */
#include "kv_bench.h"

#include <stddef.h>

extern const kv_peer kv_peer_lsmlog_log;
#ifdef HAVE_LEVELDB
extern const kv_peer kv_peer_leveldb;
#endif
#ifdef HAVE_ROCKSDB
extern const kv_peer kv_peer_rocksdb;
#endif
#ifdef HAVE_LMDB
extern const kv_peer kv_peer_lmdb;
#endif
#ifdef HAVE_SQLITE
extern const kv_peer kv_peer_sqlite;
#endif

static const kv_peer *const g_peers[] = {
    &kv_peer_lsmlog_log,
#ifdef HAVE_LEVELDB
    &kv_peer_leveldb,
#endif
#ifdef HAVE_ROCKSDB
    &kv_peer_rocksdb,
#endif
#ifdef HAVE_LMDB
    &kv_peer_lmdb,
#endif
#ifdef HAVE_SQLITE
    &kv_peer_sqlite,
#endif
};

/* Never empty: a placeholder entry keeps the array valid when all peers are in. */
static const kv_skipped g_skipped[] = {
#ifdef SKIP_LEVELDB
    {"leveldb", SKIP_LEVELDB},
#endif
#ifdef SKIP_ROCKSDB
    {"rocksdb", SKIP_ROCKSDB},
#endif
#ifdef SKIP_LMDB
    {"lmdb", SKIP_LMDB},
#endif
#ifdef SKIP_SQLITE
    {"sqlite", SKIP_SQLITE},
#endif
    {NULL, NULL},
};

int main(int argc, char **argv) {
    return kv_bench_main("bench_peers_c", argc, argv, g_peers, sizeof g_peers / sizeof g_peers[0],
                         g_skipped, sizeof g_skipped / sizeof g_skipped[0] - 1);
}
