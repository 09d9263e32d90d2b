/* db_internal.h — the DB handle, shared by db.c (open, writes, flushes, the
 * background thread), db_read.c (gets, iterators, the table readers) and
 * compaction.c. docs/db.md tells the design.
 *
 * Locks, always taken in this order: edit_mu (one version edit applied at a
 * time, and a read-only handle's view rebuilt by one read at a time), then
 * mu (everything below it in the struct), then the version set's mutex, then
 * tables_mu (the lazily opened table readers). The block cache has its own
 * lock, taken last. Flushes and compactions run on DB_BG_THREADS threads and
 * hold edit_mu only to install their result. */
#ifndef LSMLOG_DB_INTERNAL_H
#define LSMLOG_DB_INTERNAL_H

#include "block_cache.h"
#include "db_iter.h"
#include "iter.h"
#include "lsmlog.h"
#include "memtable.h"
#include "sst_reader.h"
#include "version.h"
#include "write_batch.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#define DB_BG_THREADS 2             /* background threads: flushes and compactions */
#define DB_L0_COMPACT_TRIGGER 4     /* level 0 compacts into level 1 at this many tables */
#define DB_L0_STOP 12               /* writers wait while level 0 holds this many */
#define DB_LIKELY_SPAN 16            /* the range of last_table_hits */
#define DB_L0_SPEEDUP 8 /* a second compaction may start at this many (or while a writer waits) */
#define DB_L1_MAX_BYTES (10u << 20) /* level 1's size; each level below is 10x */
#define DB_TABLE_BYTES (4u << 20)   /* compaction cuts its output tables at this size */
#define DB_GRANDPARENT_TABLES 10 /* ...or where they would overlap this many tables' bytes two levels down */
#define DB_EXPAND_LIMIT_TABLES 25 /* a compaction widens its inputs up to this many tables' bytes */
#define DB_WAL_SEGMENT_BYTES (64u << 20)
#define DB_GROUP_MAX_BYTES (1u << 20) /* group commit merges batches up to this size */
#define DB_MAX_VALUE DB_WAL_SEGMENT_BYTES /* a larger value fits no WAL segment: refused before any copy */

struct lsmlog_batch {
    wbatch b;
};

struct lsmlog_snapshot {
    lsmlog_db *db;
    uint64_t seq;
    /* read-only handles: the view the snapshot was taken in, pinned (the
     * writer does not know this snapshot, so its compactions may drop the
     * versions it needs from the newer tables); NULL for writers */
    version *v;
    memtable *mem, *imm;
    struct lsmlog_snapshot *prev, *next; /* the DB's list, oldest first */
};

/* A writer waiting in the queue; the head is the leader. */
typedef struct db_writer {
    const wbatch *batch; /* NULL: a request to switch the memtable (a flush) */
    int done, rc;
    pthread_cond_t cv;
    struct db_writer *next;
} db_writer;

struct lsmlog_db {
    char *dir;
    lsmlog_options opts;
    int lock_fd; /* -1 for read-only handles */
    vset *vs;
    lsmlog_log *wal;
    block_cache *cache;

    pthread_mutex_t edit_mu; /* one version edit applied at a time */

    pthread_mutex_t mu;
    pthread_cond_t bg_cv;   /* the background threads wait here */
    pthread_cond_t done_cv; /* a flush or compaction finished; stalled writers wait here */
    memtable *mem, *imm;    /* imm: to be written to a table, or NULL */
    int flushing;           /* a thread is writing imm to a table */
    int stalling;           /* a writer waits for a flush or for level 0 to drain */
    uint64_t imm_wal_end;   /* WAL offsets below this are in imm or in tables */
    uint64_t last_seq;      /* the newest write readers may see */
    db_writer *wq_head, *wq_tail;
    wbatch group;           /* the leader's merged batch */
    lsmlog_snapshot snaps;  /* sentinel of the snapshot list */
    int nsnaps, niters;
    int closing, manual;    /* manual: manual compactions waiting or running */
    int manual_running;     /* one runs, alone: no background compaction runs meanwhile */
    struct compaction *running; /* the background compactions in progress */
    int nrunning;
    int nfreeing;           /* finished compactions still letting go of their tables */
    int bg_started;         /* background threads started */
    pthread_t bg[DB_BG_THREADS];
    int bg_error;           /* sticky: a failed flush, compaction or WAL fsync */
    char bg_msg[512];
    char group_msg[512]; /* the leader's error, for the rest of its group */
    /* the shape of the levels (DB_L1_MAX_BYTES, DB_TABLE_BYTES unless a
     * test set a smaller one with db_set_shape; under mu, and taken by a
     * compaction when it starts) */
    uint64_t l1_bytes, table_bytes;

    /* read-only handles: what the view was built from */
    uint64_t ro_manifest, ro_manifest_end, ro_wal_next;
    lsmlog_log *ro_mlog; /* the manifest, open read-only, to see it grow */
    uint64_t ro_mlog_number;

    pthread_mutex_t tables_mu;

    /* the clock TTLs are measured with (NULL: the wall clock); tests set
     * their own with db_set_test_clock before the open */
    db_clock_fn clock;
    void *clock_ctx;

    /* How gets that reached the last table that may hold their key fared
     * lately: up when they found it there, down when not, within
     * [-DB_LIKELY_SPAN, DB_LIKELY_SPAN]. At >= 0 that table is read as the
     * likely one (db_read.c). Racy by design (relaxed loads and stores, an
     * update may be lost): it only picks between two ways to the same
     * answer. */
    atomic_int last_table_hits;

    /* stats (under mu, or atomics) */
    uint64_t user_bytes, wal_bytes, flush_bytes, compact_read, compact_write;
    uint64_t flushes, compactions, trivial_moves, stalls, stall_us;

    /* repair (db_repair.c): the work of an open that rebuilds the DB, from
     * db_repair_begin to db_repair_end; NULL otherwise */
    struct db_repair *repair;
    /* what recovery did when a repair rebuilt the DB: the WAL's report and
     * the repair's together (message: recovery_msg, owned); message NULL:
     * lsmlog_db_recovery gives the WAL's own */
    lsmlog_recovery recovery;
    char *recovery_msg;
};

/* ---- db.c ---------------------------------------------------------------- */

/* Builds the handle's view at open: version set, WAL, replayed memtable. */
int db_open_view(lsmlog_db *db);

/* Read-only handles: takes in what the writer has written since the view was
 * built (a no-op for a writer). Called as each read starts. */
int db_refresh(lsmlog_db *db);

/* The smallest sequence number a snapshot or a reader may still ask for
 * (mu held). */
uint64_t db_oldest_snapshot(lsmlog_db *db);

/* Records a background failure: every later write returns it (mu held). */
void db_set_bg_error(lsmlog_db *db, int rc);

/* Flushes the immutable memtable if there is one and no other thread is
 * flushing it (no lock held): a long compaction calls it now and then, so
 * that writers do not wait for it when every background thread compacts. */
int db_flush_pending(lsmlog_db *db);

/* Whether the background has nothing to do and nothing under way: no
 * memtable to flush, no compaction running or needed (or it stopped on an
 * error, or the DB closes). For tests that wait for a quiet DB. mu held. */
int db_bg_idle(lsmlog_db *db);

/* <dir>/<number>.sst; owned (lm_free), NULL when out of memory. */
char *db_table_path(const lsmlog_db *db, uint64_t number);

/* The number of a table file name the DB makes ("%06llu.sst"), or 0 (never
 * a table's: numbers start at 1). */
uint64_t db_table_number(const char *name);

/* Removes the table files in the directory the current version does not
 * name (a writer: at open, and at the end of a repair). A file that cannot
 * be removed only wastes space. */
void db_remove_unnamed_tables(lsmlog_db *db);

/* Now, in ms since the epoch, by the DB's clock. */
int64_t db_now(const lsmlog_db *db);

/* Test hook: the clock TTLs are measured with (expiry without sleeping) in
 * every DB opened after the call; NULL: the wall clock again. It governs
 * put_ttl, reads and compaction; a batch's TTL puts take the wall clock when
 * they are added. A process-wide setting taken at open, not a setter of an
 * open DB, because the DB's background thread may start a compaction — and
 * judge TTLs — before the open returns (a test that set the clock after the
 * open saw its TTL puts dropped by a compaction that read the wall clock,
 * years ahead of the test's). Not thread-safe against concurrent opens. */
void db_set_test_clock(db_clock_fn fn, void *ctx);

/* Test hook: the number of background threads (1 .. DB_BG_THREADS; 0: the
 * default) of every DB opened after the call. With one, flushes and
 * compactions run one after another in an order a run repeats, as the fault
 * and power-loss campaigns need to reach the same operation again; with two,
 * which compactions run side by side varies from run to run. Process-wide,
 * taken at open, as db_set_test_clock. */
void db_set_test_bg_threads(int n);

/* Test hook: level 1's size and the compaction output tables' size (the
 * grandparent and expansion limits follow the latter), so that a test's few
 * hundred KiB spread over several levels. Compactions that start later use
 * it. Takes mu. */
void db_set_shape(lsmlog_db *db, uint64_t l1_bytes, uint64_t table_bytes);

/* ---- db_read.c ----------------------------------------------------------- */

/* The open reader of a table, opening it on first use. */
int db_table_reader(lsmlog_db *db, table_file *t, sst_reader **out);

/* An internal iterator over the whole table (for compaction and iterators). */
int db_table_iter(lsmlog_db *db, table_file *t, iiter **out);

/* A concatenating iterator (iter_level) over tables of one level >= 1,
 * files[0..n) in key order, disjoint; the array is borrowed. */
int db_level_iter(lsmlog_db *db, table_file *const *files, size_t n, iiter **out);

/* db_table_iter and db_level_iter for a compaction's inputs: they read past
 * the block cache (sst_iter_bypass_cache), since a compaction reads each
 * block once and would only push the readers' blocks out. */
int db_compaction_table_iter(lsmlog_db *db, table_file *t, iiter **out);
int db_compaction_level_iter(lsmlog_db *db, table_file *const *files, size_t n, iiter **out);

/* ---- compaction.c -------------------------------------------------------- */

/* Whether the version needs a compaction (mu held). */
int compaction_needed(lsmlog_db *db, const version *v);

/* A background compaction: its inputs, and the key range its output lands
 * in, which no other compaction running at the same time may touch. */
typedef struct compaction compaction;

/* Picks the background compaction the levels most need that clashes with
 * none of db->running (no shared table, no overlap of output ranges in a
 * level, one level-0 compaction at a time), and adds it there; *out NULL
 * when none is needed or possible, or a manual compaction waits or runs.
 * One runs at a time unless writes are being held up (level 0 at
 * DB_L0_SPEEDUP tables, or a writer waiting): RocksDB's rule, so that the
 * second core is left to the application while compaction keeps up. mu
 * held. */
int compaction_pick(lsmlog_db *db, compaction **out);

/* Runs it and installs its result (no lock held). */
int compaction_run(lsmlog_db *db, compaction *c);

/* Takes it out of db->running (mu held), then frees it (no lock held: the
 * tables it alone still pins are deleted then). */
void compaction_release(lsmlog_db *db, compaction *c);
void compaction_free(compaction *c);

/* Its source level, whether it moves a table down whole, and its input
 * tables (borrowed) — for tests. */
int compaction_level(const compaction *c);
int compaction_is_move(const compaction *c);
size_t compaction_inputs(const compaction *c, table_file *const **out);

/* The index of the table of `level` (1 <= level < DB_LEVELS - 1, not empty)
 * that a background compaction of the level takes: the one with the fewest
 * bytes of level+1 overlapping it per byte of its own (exposed for tests). */
size_t compaction_pick_table(const version *v, int level);

/* Compacts [start, stop) down the levels (no background compaction runs:
 * db->manual_running). */
int compaction_range(lsmlog_db *db, const void *start, size_t slen, const void *stop,
                     size_t stoplen, lsmlog_progress_fn progress, void *ctx);

/* ---- db_repair.c --------------------------------------------------------- */

/* The first step of a writer's open with opts.repair (before the manifest
 * is read): checks CURRENT, the manifest and every table; when all are
 * whole, does nothing. Otherwise salvages the tables (damaged blocks set
 * aside) and sets db->vs to a version set holding them all in level 0, with
 * the WAL to be replayed from its start, in a manifest CURRENT does not name
 * yet. A read-only open with repair is LSMLOG_E_INVALID. */
int db_repair_begin(lsmlog_db *db);

/* The last step of such an open (the WAL replayed): merges every table and
 * the replayed writes by internal key into level 1, then points CURRENT at
 * the new manifest, sets aside the damaged files and composes db->recovery.
 * A no-op when db_repair_begin found nothing to repair. */
int db_repair_end(lsmlog_db *db);

/* Frees what the repair holds (db_free). */
void db_repair_free(lsmlog_db *db);

/* A writer's open: every table the version names is there, else
 * LSMLOG_E_CORRUPT naming the first missing one. A missing table means the
 * manifest and the files disagree (a table deleted, or a manifest that lost
 * edits and names tables compacted away since), and reads could return
 * older versions from the tables that are there: refused, pointing to
 * repair. (Read-only handles: LSMLOG_OK; their refresh looks again.) */
int db_check_tables(lsmlog_db *db);

/* What recovery did at open (lsmlog_db_recovery). */
const lsmlog_recovery *db_recovery(lsmlog_db *db);

#endif
