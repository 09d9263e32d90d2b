/* test_db_repair.c — the DB's repair of damaged or missing tables, manifest
 * and CURRENT (db_repair.c, docs/db.md "Repair").
 *
 * One DB is built with data in several levels (a small memtable, and
 * db_set_shape's small levels), by single-op writes whose values are a pure
 * function of (key, write number), so that any value read tells which write
 * set it. Two copies are kept: "flushed" (every write up to then in tables,
 * and the write-ahead log then removed: the tables are all there is) and
 * "full" (more writes after that, the last ones only in the write-ahead log,
 * which still holds every write). Each case damages a fresh copy, opens it
 * without repair (an error naming the file, never a wrong value), then with
 * repair, and reads every key and a full scan:
 *
 *  - strict keys must read their latest state;
 *  - a key whose latest version had its entry in what a repair lost (a
 *    damaged block, a deleted table; the test finds those entries by reading
 *    the table before damaging it) may read as absent, or as an older value
 *    that was really written for it — nothing else.
 *
 * Cases: a flipped byte in a data block (with and without the write-ahead
 * log to get the entries back), a table's footer destroyed, CURRENT deleted,
 * the manifest deleted or damaged, a table deleted, repair of an undamaged DB
 * (changes nothing, reports nothing), a repaired DB taking writes, compacting
 * and reopening without repair, read-only with repair refused, and crashes
 * (power loss) at points through a repair: a plain open after one never
 * reads wrong data, and a second repair ends the job. */
#include "test_util.h"

#include "db_internal.h" /* db_set_shape */
#include "dbformat.h"
#include "fault_env.h"
#include "sst_reader.h"

#include <sys/wait.h>

#define NK 6000
#if defined(__SANITIZE_ADDRESS__)
#define NW 12000
#else
#define NW 16000
#endif
#define FLUSHED_AT (NW * 3 / 4) /* writes [0, FLUSHED_AT) are what "flushed" holds */
#define MAX_VAL 128

typedef struct wr {
    int key, del;
} wr;

static wr g_w[NW];
static int g_nw;
static const char *g_root;
static char g_flushed[400], g_full[400], g_stale[400];
static int g_copies;

/* ---- the writes ----------------------------------------------------------- */

static void key_name(int k, char *buf) {
    snprintf(buf, 16, "k%05d", k);
}

static size_t value_of(int w, int k, char *buf) {
    int n = snprintf(buf, MAX_VAL, "K%05dW%06d|", k, w);
    uint64_t st = tu_hash2((uint64_t)k, (uint64_t)w);
    size_t len = (size_t)n + 16 + (size_t)(tu_splitmix64(&st) % 80);
    for (size_t i = (size_t)n; i < len; i++)
        buf[i] = (char)('a' + tu_splitmix64(&st) % 26);
    return len;
}

/* The write that set value v of key k, or -1 if none did. */
static int writer_of(int k, const void *v, size_t vl) {
    char want[MAX_VAL];
    int kk, w;
    if (vl < 14 || vl > MAX_VAL) return -1;
    char head[16];
    memcpy(head, v, 14);
    head[14] = '\0';
    if (sscanf(head, "K%05dW%06d|", &kk, &w) != 2 || kk != k || w < 0 || w >= g_nw) return -1;
    if (g_w[w].key != k || g_w[w].del) return -1;
    size_t n = value_of(w, k, want);
    return n == vl && memcmp(want, v, n) == 0 ? w : -1;
}

/* The last write of key k among writes [0, upto), or -1. */
static int last_write(int k, int upto) {
    for (int w = upto - 1; w >= 0; w--)
        if (g_w[w].key == k) return w;
    return -1;
}

static void do_writes(lsmlog_db *db, int upto) {
    char k[16], v[MAX_VAL];
    while (g_nw < upto) {
        wr *w = &g_w[g_nw];
        w->key = (int)tu_rand_below(NK);
        w->del = tu_rand_below(8) == 0;
        key_name(w->key, k);
        if (w->del) {
            CHECK_OK(lsmlog_db_delete(db, k, strlen(k)));
        } else {
            size_t n = value_of(g_nw, w->key, v);
            CHECK_OK(lsmlog_db_put(db, k, strlen(k), v, n));
        }
        g_nw++;
    }
}

static lsmlog_options db_opts(int repair) {
    lsmlog_options o;
    lsmlog_options_init(&o);
    o.memtable_bytes = 16 << 10;
    o.cache_bytes = 64 << 10;
    o.repair = repair;
    return o;
}

static lsmlog_db *open_shaped(const char *dir, int repair) {
    lsmlog_options o = db_opts(repair);
    lsmlog_db *db = NULL;
    CHECK_OK(lsmlog_db_open(dir, &o, &db));
    db_set_shape(db, 32 << 10,
                 16 << 10); /* levels 0-3 with a few hundred KiB, tables of a few blocks */
    return db;
}

/* Waits until the background has nothing left to compact. */
static void wait_idle(lsmlog_db *db) {
    for (int i = 0; i < 2000; i++) {
        pthread_mutex_lock(&db->mu);
        int busy = !db_bg_idle(db);
        pthread_mutex_unlock(&db->mu);
        if (!busy) return;
        tu_sleep_ms(5);
    }
    CHECK(!"the background never went idle");
}

/* ---- files ---------------------------------------------------------------- */

static void copy_tree(const char *from, const char *to) {
    CHECK(mkdir(to, 0755) == 0);
    DIR *d = opendir(from);
    CHECK(d != NULL);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") || !strcmp(e->d_name, "LOCK"))
            continue;
        char a[1000], b[1000];
        snprintf(a, sizeof a, "%s/%s", from, e->d_name);
        snprintf(b, sizeof b, "%s/%s", to, e->d_name);
        if (tu_is_dir(a)) {
            copy_tree(a, b);
        } else {
            size_t n = 0;
            unsigned char *data = tu_read_file(a, &n);
            CHECK(data != NULL);
            CHECK(tu_write_file(b, data, n) == 0);
            free(data);
        }
    }
    closedir(d);
}

static const char *fresh_copy(const char *from) {
    static char dir[400];
    snprintf(dir, sizeof dir, "%s/c%d", g_root, g_copies++);
    copy_tree(from, dir);
    return dir;
}

/* The table numbers in dir, ascending; returns how many. */
static int list_tables(const char *dir, int *nums, int max) {
    DIR *d = opendir(dir);
    CHECK(d != NULL);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        unsigned x;
        char extra;
        if (sscanf(e->d_name, "%u.sst%c", &x, &extra) == 1 && n < max) nums[n++] = (int)x;
    }
    closedir(d);
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && nums[j] < nums[j - 1]; j--) {
            int t = nums[j];
            nums[j] = nums[j - 1];
            nums[j - 1] = t;
        }
    return n;
}

/* The file in dir whose name starts with `prefix` and ends with `suffix`
 * (a manifest's directory, a Log's segment). */
static int find_named(const char *dir, const char *prefix, const char *suffix, char *out,
                      size_t cap) {
    DIR *d = opendir(dir);
    CHECK(d != NULL);
    int found = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (!found && strncmp(e->d_name, prefix, strlen(prefix)) == 0 &&
            strlen(e->d_name) >= strlen(suffix) &&
            strcmp(e->d_name + strlen(e->d_name) - strlen(suffix), suffix) == 0) {
            snprintf(out, cap, "%s/%s", dir, e->d_name);
            found = 1;
        }
    closedir(d);
    return found;
}

/* ---- what a table holds --------------------------------------------------- */

typedef struct tinfo {
    uint64_t blocks[512]; /* data block offsets, ascending */
    int nblocks;
    long long size;
} tinfo;

/* Marks in `lost` the keys whose latest write (among [0, upto)) has its
 * entry in table `num` — in its data block `block` only, or anywhere in it
 * (block -1); fills ti with the table's data block offsets. */
static void table_entries(const char *dir, int num, int blk, int upto, unsigned char *lost,
                          tinfo *ti) {
    char path[1000];
    snprintf(path, sizeof path, "%s/%06d.sst", dir, num);
    sst_reader *r = NULL;
    CHECK_OK(sst_reader_open(path, (uint64_t)num, NULL, ikey_cmp, &r));
    sst_iter *it = NULL;
    CHECK_OK(sst_iter_new(r, &it));
    ti->nblocks = 0;
    ti->size = tu_file_size(path);
    int rc;
    for (rc = sst_iter_first(it); rc == LSMLOG_OK && sst_iter_valid(it); rc = sst_iter_next(it)) {
        size_t kl, vl, ul;
        const uint8_t *k = sst_iter_key(it, &kl);
        const uint8_t *v = sst_iter_value(it, &vl);
        uint64_t off, seq;
        int type;
        CHECK_OK(sst_reader_approx_offset(r, k, kl, &off));
        if (ti->nblocks == 0 || ti->blocks[ti->nblocks - 1] != off) {
            CHECK(ti->nblocks < 512);
            ti->blocks[ti->nblocks++] = off;
        }
        CHECK(ikey_parse(k, kl, &ul, &seq, &type) == 0);
        char kn[16];
        CHECK(ul == 6 && k[0] == 'k');
        memcpy(kn, k + 1, 5);
        kn[5] = '\0';
        int key = atoi(kn);
        int w = (int)seq - 1; /* one op per write, the first write has seq 1 */
        CHECK(key >= 0 && key < NK && w >= 0 && w < g_nw && g_w[w].key == key);
        if (type != KT_DELETE) CHECK_EQ_INT(writer_of(key, v, vl), w);
        if ((blk < 0 || ti->nblocks - 1 == blk) && w == last_write(key, upto)) lost[key] = 1;
    }
    CHECK_OK(rc);
    sst_iter_close(it);
    sst_reader_close(r);
}

/* ---- reading it all back -------------------------------------------------- */

/* Reads every key and scans everything. Key k must read its latest state
 * (among writes [0, upto)), or, when lost[k], be absent or show an older
 * value written for it. Returns how many keys did not read their latest. */
static int verify(lsmlog_db *db, int upto, const unsigned char *lost, const char *what) {
    static int seen[NK]; /* the write each get showed, -1 absent */
    int differ = 0;
    char k[16];
    for (int i = 0; i < NK; i++) {
        key_name(i, k);
        int latest = last_write(i, upto);
        int want = latest >= 0 && !g_w[latest].del ? latest : -1;
        void *v = NULL;
        size_t vl = 0;
        int rc = lsmlog_db_get(db, NULL, k, strlen(k), &v, &vl);
        CHECKF(rc == LSMLOG_OK || rc == LSMLOG_NOTFOUND, "%s: get %s: %d (%s)", what, k, rc,
               tu_status_name(rc));
        int got = -1;
        if (rc == LSMLOG_OK) {
            got = writer_of(i, v, vl);
            CHECKF(got >= 0, "%s: get %s returned a value no write set", what, k);
            CHECKF(got < upto, "%s: get %s returned write %d, past the writes it holds", what, k,
                   got);
        }
        lsmlog_free(v);
        seen[i] = got;
        if (got == want) continue;
        CHECKF(lost && lost[i], "%s: %s reads write %d, its latest state is write %d", what, k, got,
               want);
        CHECKF(got < latest, "%s: %s reads write %d, newer than its latest %d", what, k, got,
               latest);
        differ++;
    }
    /* a full scan shows what the gets showed */
    lsmlog_db_iter *it = NULL;
    CHECK_OK(lsmlog_db_iter_open(db, NULL, &it));
    int next = 0, rc;
    for (rc = lsmlog_db_iter_first(it); rc == LSMLOG_OK && lsmlog_db_iter_valid(it);
         rc = lsmlog_db_iter_next(it)) {
        size_t kl, vl;
        const char *key = lsmlog_db_iter_key(it, &kl);
        const void *v = lsmlog_db_iter_value(it, &vl);
        char kn[8] = "";
        if (kl == 6 && key[0] == 'k') memcpy(kn, key + 1, 5);
        int i = kn[0] ? atoi(kn) : -1;
        CHECKF(i >= next && i < NK, "%s: scan: key %.*s out of place", what, (int)kl, key);
        for (; next < i; next++)
            CHECKF(seen[next] < 0, "%s: scan skips k%05d", what, next);
        CHECKF(writer_of(i, v, vl) == seen[i], "%s: scan shows another value of %.*s than the get",
               what, (int)kl, key);
        next = i + 1;
    }
    CHECKF(rc == LSMLOG_OK, "%s: scan: %d (%s)", what, rc, tu_status_name(rc));
    for (; next < NK; next++)
        CHECKF(seen[next] < 0, "%s: scan ends before k%05d", what, next);
    lsmlog_db_iter_close(it);
    return differ;
}

/* A plain open of a damaged DB: it fails, or a read fails, with an error
 * naming `hint`; whatever reads before is right. */
static void plain_refuses(const char *dir, int upto, const char *hint, const char *what) {
    lsmlog_options o = db_opts(0);
    lsmlog_db *db = NULL;
    int rc = lsmlog_db_open(dir, &o, &db);
    if (rc != LSMLOG_OK) {
        CHECKF(rc == LSMLOG_E_CORRUPT || rc == LSMLOG_E_NOENT, "%s: plain open: %d (%s)", what, rc,
               tu_status_name(rc));
        CHECKF(strstr(lsmlog_errmsg(), hint) != NULL, "%s: plain open's error does not name %s",
               what, hint);
        return;
    }
    int errors = 0;
    char k[16];
    for (int i = 0; i < NK; i++) {
        key_name(i, k);
        void *v = NULL;
        size_t vl = 0;
        rc = lsmlog_db_get(db, NULL, k, strlen(k), &v, &vl);
        int latest = last_write(i, upto);
        int want = latest >= 0 && !g_w[latest].del ? latest : -1;
        if (rc == LSMLOG_OK || rc == LSMLOG_NOTFOUND) {
            CHECKF((rc == LSMLOG_OK ? writer_of(i, v, vl) : -1) == want,
                   "%s: plain get %s: a wrong answer", what, k);
        } else {
            CHECKF(rc == LSMLOG_E_CORRUPT || rc == LSMLOG_E_NOENT, "%s: plain get %s: %d", what, k,
                   rc);
            CHECKF(strstr(lsmlog_errmsg(), hint) != NULL, "%s: plain get's error does not name %s",
                   what, hint);
            errors++;
        }
        lsmlog_free(v);
    }
    lsmlog_db_iter *it = NULL;
    rc = lsmlog_db_iter_open(db, NULL, &it);
    if (rc == LSMLOG_OK) {
        for (rc = lsmlog_db_iter_first(it); rc == LSMLOG_OK && lsmlog_db_iter_valid(it);)
            rc = lsmlog_db_iter_next(it);
        lsmlog_db_iter_close(it);
    }
    if (rc != LSMLOG_OK) {
        CHECKF(strstr(lsmlog_errmsg(), hint) != NULL, "%s: plain scan's error does not name %s",
               what, hint);
        errors++;
    }
    CHECKF(errors > 0, "%s: a plain open read the damaged DB without an error", what);
    CHECK_OK(lsmlog_db_close(db));
}

/* Opens with repair and checks; returns the open handle. */
static lsmlog_db *repair_and_verify(const char *dir, int upto, const unsigned char *lost,
                                    const char *hint, const char *what, int *differ) {
    lsmlog_db *db = open_shaped(dir, 1);
    const lsmlog_recovery *r = lsmlog_db_recovery(db);
    CHECK(r != NULL && r->message != NULL);
    if (getenv("VERBOSE")) fprintf(stderr, "  %s: %s\n", what, r->message);
    if (hint)
        CHECKF(strstr(r->message, hint) != NULL, "%s: the report does not name %s: %s", what, hint,
               r->message);
    int d = verify(db, upto, lost, what);
    if (differ) *differ = d;
    return db;
}

/* The repaired DB as a plain open sees it, and a second repair finds
 * nothing to do. */
static void reopen_clean(const char *dir, int upto, const unsigned char *lost, const char *what) {
    lsmlog_options o = db_opts(0);
    lsmlog_db *db = NULL;
    CHECK_OK(lsmlog_db_open(dir, &o, &db));
    verify(db, upto, lost, what);
    CHECK_OK(lsmlog_db_close(db));
    o.repair = 1;
    CHECK_OK(lsmlog_db_open(dir, &o, &db));
    const lsmlog_recovery *r = lsmlog_db_recovery(db);
    CHECKF(r->message[0] == '\0' && r->dropped_batches == 0 && r->dropped_bytes == 0,
           "%s: a second repair reports: %s", what, r->message);
    verify(db, upto, lost, what);
    CHECK_OK(lsmlog_db_close(db));
}

/* ---- building ------------------------------------------------------------- */

static void build(void) {
    char dir[400];
    snprintf(dir, sizeof dir, "%s/build", g_root);
    lsmlog_db *db = open_shaped(dir, 0);
    do_writes(db, FLUSHED_AT / 2);
    CHECK_OK(lsmlog_db_flush_memtable(db));
    wait_idle(db);
    CHECK_OK(lsmlog_db_close(db));
    snprintf(g_stale, sizeof g_stale, "%s/stale", g_root); /* for its manifest, soon out of date */
    copy_tree(dir, g_stale);
    db = open_shaped(dir, 0);
    do_writes(db, FLUSHED_AT);
    CHECK_OK(lsmlog_db_flush_memtable(db));
    wait_idle(db);
    lsmlog_db_stats st;
    CHECK_OK(lsmlog_db_get_stats(db, &st));
    int levels = 0;
    for (int l = 0; l < LSMLOG_DB_LEVELS; l++)
        levels += st.levels[l].files > 0;
    CHECKF(levels >= 3, "the DB spans %d levels", levels);
    CHECK_OK(lsmlog_db_close(db));
    snprintf(g_flushed, sizeof g_flushed, "%s/flushed", g_root);
    copy_tree(dir, g_flushed);
    char wal[500];
    snprintf(wal, sizeof wal, "%s/wal", g_flushed);
    CHECK(tu_rmrf(wal) == 0); /* every write is in a table: the tables are all there is */

    db = open_shaped(dir, 0);
    do_writes(db, NW - 300);
    CHECK_OK(lsmlog_db_flush_memtable(db));
    do_writes(db, NW); /* only in the write-ahead log */
    wait_idle(db);
    CHECK_OK(lsmlog_db_close(db));
    snprintf(g_full, sizeof g_full, "%s/full", g_root);
    copy_tree(dir, g_full);

    /* both read right as they are (copies: an open starts a new manifest,
     * and the cases want the one with the build's many edits) */
    db = open_shaped(fresh_copy(g_flushed), 0);
    verify(db, FLUSHED_AT, NULL, "flushed copy");
    CHECK_OK(lsmlog_db_close(db));
    db = open_shaped(fresh_copy(g_full), 0);
    verify(db, NW, NULL, "full copy");
    CHECK_OK(lsmlog_db_close(db));
}

/* ---- the cases ------------------------------------------------------------ */

/* A flipped byte in a middle data block of a table: without the WAL, keys
 * whose latest entry was in that block may read older; with it (every write
 * is still in it), nothing is lost. */
static void flip_block(const char *base, int upto, int pick, const char *label) {
    const char *dir = fresh_copy(base);
    int nums[256];
    int n = list_tables(dir, nums, 256);
    CHECK(n >= 3);
    /* the pick-th table (from the largest down) with at least 3 blocks */
    static unsigned char lost[NK];
    memset(lost, 0, sizeof lost);
    tinfo ti;
    int num = -1;
    for (int tries = 0, seen = 0; tries < n && num < 0; tries++) {
        int best = -1;
        long long bs = -1;
        for (int i = 0; i < n; i++) {
            char p[1000];
            snprintf(p, sizeof p, "%s/%06d.sst", dir, nums[i]);
            long long s = tu_file_size(p);
            if (nums[i] > 0 && s > bs) bs = s, best = i;
        }
        CHECK(best >= 0);
        unsigned char scratch[NK];
        table_entries(dir, nums[best], -1, upto, scratch, &ti);
        if (ti.nblocks >= 3 && seen++ == pick) num = nums[best];
        nums[best] = -nums[best]; /* not again */
    }
    CHECK(num > 0);
    int blk = 1 + pick % (ti.nblocks - 2);
    table_entries(dir, num, blk, upto, lost, &ti);
    char name[32], path[1000];
    snprintf(name, sizeof name, "%06d.sst", num);
    snprintf(path, sizeof path, "%s/%s", dir, name);
    long long pos = (long long)(ti.blocks[blk] + (ti.blocks[blk + 1] - ti.blocks[blk] - 5) / 2);
    CHECK(tu_flip_byte(path, pos, 0x10) == 0);
    char what[200];
    snprintf(what, sizeof what, "%s: %s block %d byte %lld flipped", label, name, blk, pos);

    plain_refuses(dir, upto, name, what);
    int differ = 0;
    int with_wal = base == g_full;
    lsmlog_db *db = repair_and_verify(dir, upto, with_wal ? NULL : lost, name, what, &differ);
    const lsmlog_recovery *r = lsmlog_db_recovery(db);
    CHECKF(r->dropped_batches > 0 && r->dropped_bytes > 0, "%s: the report counts nothing lost",
           what);
    CHECK(strstr(r->message, "damaged data block") != NULL);
    CHECK_OK(lsmlog_db_close(db));
    char aside[1100];
    snprintf(aside, sizeof aside, "%s/lost/%s", dir, name);
    CHECKF(tu_exists(aside) && !tu_exists(path), "%s: the damaged table is not in lost/", what);
    reopen_clean(dir, upto, with_wal ? NULL : lost, what);
    if (getenv("VERBOSE")) fprintf(stderr, "  %s: %d keys read older or absent\n", what, differ);
}

static void case_block_no_wal(void) {
    for (int pick = 0; pick < 3; pick++)
        flip_block(g_flushed, FLUSHED_AT, pick, "flushed");
}

static void case_block_with_wal(void) {
    flip_block(g_full, NW, 0, "full");
}

/* A table's footer destroyed: it cannot be opened, so it is lost whole. */
static void case_footer(void) {
    const char *dir = fresh_copy(g_flushed);
    int nums[256];
    int n = list_tables(dir, nums, 256);
    int num = nums[n / 2];
    static unsigned char lost[NK];
    memset(lost, 0, sizeof lost);
    tinfo ti;
    table_entries(dir, num, -1, FLUSHED_AT, lost, &ti);
    char name[32], path[1000];
    snprintf(name, sizeof name, "%06d.sst", num);
    snprintf(path, sizeof path, "%s/%s", dir, name);
    CHECK(tu_flip_byte(path, ti.size - 3, 0xff) == 0);
    plain_refuses(dir, FLUSHED_AT, name, "footer");
    lsmlog_db *db = repair_and_verify(dir, FLUSHED_AT, lost, name, "footer", NULL);
    CHECK(strstr(lsmlog_db_recovery(db)->message, "cannot be read") != NULL);
    CHECK(lsmlog_db_recovery(db)->dropped_bytes >= (uint64_t)ti.size);
    CHECK_OK(lsmlog_db_close(db));
    reopen_clean(dir, FLUSHED_AT, lost, "footer");
}

/* CURRENT or the manifest lost or damaged: the tables are all whole, so
 * every key reads its latest state, merged across the levels they came
 * from. */
static void manifest_case(const char *base, int upto, int how) {
    static const char *names[] = {"CURRENT deleted", "manifest deleted", "manifest damaged",
                                  "CURRENT garbage"};
    const char *dir = fresh_copy(base);
    char what[200], path[1000], seg[1100];
    snprintf(what, sizeof what, "%s (%s)", names[how], base == g_full ? "full" : "flushed");
    CHECK(find_named(dir, "manifest-", "", path, sizeof path));
    if (how == 0) {
        snprintf(path, sizeof path, "%s/CURRENT", dir);
        CHECK(unlink(path) == 0);
    } else if (how == 1) {
        CHECK(tu_rmrf(path) == 0);
    } else if (how == 2) {
        CHECK(find_named(path, "0", ".log", seg, sizeof seg));
        size_t len = 0;
        unsigned char *d = tu_read_file(seg, &len);
        tu_batch b[64];
        size_t nb = tu_parse_batches(d, len, b, 64);
        free(d);
        CHECKF(nb >= 2, "the manifest holds %zu edits", nb);
        CHECK(tu_flip_byte(seg, (long long)(b[0].pos + TU_BATCH_HEADER + 2), 0x04) == 0);
    } else {
        snprintf(path, sizeof path, "%s/CURRENT", dir);
        CHECK(tu_write_file(path, "manifest-x\n", 11) == 0);
    }
    plain_refuses(dir, upto, how == 2 ? "manifest" : "CURRENT", what);
    lsmlog_db *db =
        repair_and_verify(dir, upto, NULL, how == 2 ? "manifest" : "CURRENT", what, NULL);
    const lsmlog_recovery *r = lsmlog_db_recovery(db);
    CHECKF(r->dropped_batches == 0 && r->dropped_bytes == 0, "%s: nothing was lost, yet: %s", what,
           r->message);
    CHECK_OK(lsmlog_db_close(db));
    reopen_clean(dir, upto, NULL, what);
}

static void case_manifest(void) {
    for (int how = 0; how < 4; how++)
        manifest_case(g_flushed, FLUSHED_AT, how);
    manifest_case(g_full, NW, 0);
    manifest_case(g_full, NW, 2);
}

/* dir's CURRENT and manifest replaced by those of `from`. */
static void swap_manifest(const char *dir, const char *from) {
    char path[1000], other[1000];
    while (find_named(dir, "manifest-", "", path, sizeof path))
        CHECK(tu_rmrf(path) == 0);
    snprintf(path, sizeof path, "%s/CURRENT", dir);
    CHECK(unlink(path) == 0);
    CHECK(find_named(from, "manifest-", "", other, sizeof other));
    snprintf(path, sizeof path, "%s/%s", dir, strrchr(other, '/') + 1);
    copy_tree(other, path);
    snprintf(other, sizeof other, "%s/CURRENT", from);
    size_t n = 0;
    unsigned char *d = tu_read_file(other, &n);
    CHECK(d != NULL);
    snprintf(path, sizeof path, "%s/CURRENT", dir);
    CHECK(tu_write_file(path, d, n) == 0);
    free(d);
}

/* A whole manifest that disagrees with the files: an out-of-date one (its
 * last edits lost: it names tables compacted away since, and not the newer
 * ones), or one naming no table at all (a new DB's) over a DB's tables.
 * Nothing is lost: every table file is taken. */
static void case_stale_manifest(void) {
    for (int empty = 0; empty < 2; empty++) {
        const char *what = empty ? "a new DB's manifest" : "an out-of-date manifest";
        const char *dir = fresh_copy(g_flushed);
        char from[500];
        if (empty) {
            snprintf(from, sizeof from, "%s/empty", g_root);
            if (!tu_exists(from)) {
                lsmlog_db *e = NULL;
                lsmlog_options eo = db_opts(0);
                CHECK_OK(lsmlog_db_open(from, &eo, &e));
                CHECK_OK(lsmlog_db_close(e));
            }
        } else {
            snprintf(from, sizeof from, "%s", g_stale);
        }
        swap_manifest(dir, from);
        if (!empty) plain_refuses(dir, FLUSHED_AT, "missing", what);
        lsmlog_db *db = repair_and_verify(dir, FLUSHED_AT, NULL,
                                          empty ? "names no table" : "missing", what, NULL);
        CHECK_OK(lsmlog_db_close(db));
        reopen_clean(dir, FLUSHED_AT, NULL, what);
    }
}

/* A table file deleted: the manifest names it; its keys may read older. */
static void case_table_deleted(void) {
    for (int with_wal = 0; with_wal < 2; with_wal++) {
        const char *base = with_wal ? g_full : g_flushed;
        int upto = with_wal ? NW : FLUSHED_AT;
        const char *dir = fresh_copy(base);
        int nums[256];
        int n = list_tables(dir, nums, 256);
        int num = nums[n / 3];
        static unsigned char lost[NK];
        memset(lost, 0, sizeof lost);
        tinfo ti;
        table_entries(dir, num, -1, upto, lost, &ti);
        char name[32], path[1000];
        snprintf(name, sizeof name, "%06d.sst", num);
        snprintf(path, sizeof path, "%s/%s", dir, name);
        CHECK(unlink(path) == 0);
        plain_refuses(dir, upto, "missing", "table deleted");
        lsmlog_db *db =
            repair_and_verify(dir, upto, with_wal ? NULL : lost, name, "table deleted", NULL);
        CHECK(strstr(lsmlog_db_recovery(db)->message, "missing") != NULL);
        CHECK_OK(lsmlog_db_close(db));
        reopen_clean(dir, upto, with_wal ? NULL : lost, "table deleted");
    }
}

/* Repair of a DB with nothing wrong: the same tables, the same contents,
 * an empty report. */
static void case_undamaged(void) {
    const char *bases[] = {g_flushed, g_full};
    for (int i = 0; i < 2; i++) {
        const char *dir = fresh_copy(bases[i]);
        int before[256], after[256];
        int nb = list_tables(dir, before, 256);
        lsmlog_options o = db_opts(1);
        lsmlog_db *db = NULL;
        CHECK_OK(lsmlog_db_open(dir, &o, &db));
        const lsmlog_recovery *r = lsmlog_db_recovery(db);
        CHECKF(r->message[0] == '\0' && r->dropped_batches == 0 && r->dropped_bytes == 0 &&
                   r->truncated_bytes == 0,
               "repair of an undamaged DB reports: %s", r->message);
        verify(db, i ? NW : FLUSHED_AT, NULL, "undamaged");
        CHECK_OK(lsmlog_db_close(db));
        int na = list_tables(dir, after, 256);
        CHECK_EQ_INT(na, nb);
        for (int j = 0; j < na; j++)
            CHECK_EQ_INT(after[j], before[j]);
        char lost[500];
        snprintf(lost, sizeof lost, "%s/lost", dir);
        CHECK(!tu_exists(lost));
    }
}

/* After a repair that lost entries the DB takes writes, compacts, and a
 * plain reopen keeps it all. */
static void case_keeps_working(void) {
    const char *dir = fresh_copy(g_flushed);
    int nums[256];
    int n = list_tables(dir, nums, 256);
    int num = nums[n - 1];
    static unsigned char lost[NK];
    memset(lost, 0, sizeof lost);
    tinfo ti;
    table_entries(dir, num, -1, FLUSHED_AT, lost, &ti);
    char path[1000];
    snprintf(path, sizeof path, "%s/%06d.sst", dir, num);
    CHECK(unlink(path) == 0);
    lsmlog_db *db = repair_and_verify(dir, FLUSHED_AT, lost, NULL, "keeps working", NULL);
    /* new keys (the model's writes are all used: the old keys are checked
     * against what the repair left) */
    char k[16], v[64];
    for (int i = 0; i < 2000; i++) {
        snprintf(k, sizeof k, "n%05d", i);
        int len = snprintf(v, sizeof v, "new-%d", i);
        CHECK_OK(lsmlog_db_put(db, k, strlen(k), v, (size_t)len));
    }
    CHECK_OK(lsmlog_db_compact(db, NULL, 0, NULL, 0, NULL, NULL));
    lsmlog_db_stats st;
    CHECK_OK(lsmlog_db_get_stats(db, &st));
    CHECK(st.compactions > 0);
    CHECK_OK(lsmlog_db_close(db));
    lsmlog_options o = db_opts(0);
    CHECK_OK(lsmlog_db_open(dir, &o, &db));
    db_set_shape(db, 32 << 10, 16 << 10);
    for (int i = 0; i < 2000; i++) {
        snprintf(k, sizeof k, "n%05d", i);
        void *val = NULL;
        size_t vl = 0;
        CHECK_OK(lsmlog_db_get(db, NULL, k, strlen(k), &val, &vl));
        int len = snprintf(v, sizeof v, "new-%d", i);
        CHECK(vl == (size_t)len && memcmp(val, v, vl) == 0);
        lsmlog_free(val);
    }
    /* the old keys: as the repaired DB read them (verify's scan also meets
     * the new keys: only the k-keys are in its range of names) */
    for (int i = 0; i < NK; i++) {
        key_name(i, k);
        void *val = NULL;
        size_t vl = 0;
        int rc = lsmlog_db_get(db, NULL, k, strlen(k), &val, &vl);
        int latest = last_write(i, FLUSHED_AT);
        int want = latest >= 0 && !g_w[latest].del ? latest : -1;
        int got = rc == LSMLOG_OK ? writer_of(i, val, vl) : -1;
        CHECK(rc == LSMLOG_OK || rc == LSMLOG_NOTFOUND);
        CHECKF(got == want || (lost[i] && got < latest && (rc == LSMLOG_NOTFOUND || got >= 0)),
               "after writes and a reopen %s reads %d, want %d", k, got, want);
        lsmlog_free(val);
    }
    CHECK_OK(lsmlog_db_put(db, "z", 1, "1", 1));
    CHECK_OK(lsmlog_db_compact(db, NULL, 0, NULL, 0, NULL, NULL));
    CHECK_OK(lsmlog_db_close(db));
}

static void case_readonly(void) {
    lsmlog_options o = db_opts(1);
    o.readonly = 1;
    lsmlog_db *db = NULL;
    CHECK_EQ_INT(lsmlog_db_open(g_flushed, &o, &db), LSMLOG_E_INVALID);
    CHECK(strstr(lsmlog_errmsg(), "repair needs a writer") != NULL);
    CHECK(db == NULL);
}

/* An empty directory, or a new DB, opened with repair: a new DB. */
static void case_new_db(void) {
    char dir[500];
    snprintf(dir, sizeof dir, "%s/new", g_root);
    lsmlog_options o = db_opts(1);
    lsmlog_db *db = NULL;
    CHECK_OK(lsmlog_db_open(dir, &o, &db));
    CHECK(lsmlog_db_recovery(db)->message[0] == '\0');
    CHECK_OK(lsmlog_db_put(db, "a", 1, "b", 1));
    CHECK_OK(lsmlog_db_close(db));
    CHECK_OK(lsmlog_db_open(dir, &o, &db));
    CHECK_OK(lsmlog_db_get(db, NULL, "a", 1, NULL, NULL));
    CHECK(lsmlog_db_recovery(db)->message[0] == '\0');
    CHECK_OK(lsmlog_db_close(db));
    /* the manifest lost from a DB whose writes are all in the WAL still */
    char cur[600];
    snprintf(cur, sizeof cur, "%s/CURRENT", dir);
    CHECK(unlink(cur) == 0);
    CHECK_OK(lsmlog_db_open(dir, &o, &db));
    CHECK(strstr(lsmlog_db_recovery(db)->message, "CURRENT") != NULL);
    CHECK_OK(lsmlog_db_get(db, NULL, "a", 1, NULL, NULL));
    CHECK_OK(lsmlog_db_close(db));
}

/* Power loss at points through a repair (CURRENT deleted and a data block
 * damaged, no WAL: the repair both salvages and merges). After each: a plain
 * open reads right or refuses, never a wrong value; a repair then reads
 * right. */
static void case_crash(void) {
    const char *base = fresh_copy(g_flushed);
    char keep[400];
    snprintf(keep, sizeof keep, "%s", base);
    char path[1000];
    snprintf(path, sizeof path, "%s/CURRENT", keep);
    CHECK(unlink(path) == 0);
    int nums[256];
    int n = list_tables(keep, nums, 256);
    static unsigned char lost[NK];
    memset(lost, 0, sizeof lost);
    tinfo ti;
    int num = -1;
    for (int i = n - 1; i >= 0 && num < 0; i--) {
        unsigned char scratch[NK];
        table_entries(keep, nums[i], -1, FLUSHED_AT, scratch, &ti);
        if (ti.nblocks >= 3) num = nums[i];
    }
    CHECK(num > 0);
    table_entries(keep, num, 1, FLUSHED_AT, lost, &ti);
    snprintf(path, sizeof path, "%s/%06d.sst", keep, num);
    CHECK(tu_flip_byte(path, (long long)ti.blocks[1] + 3, 0x01) == 0);
    /* a dry run counts the repair's operations */
    const char *dry = fresh_copy(keep);
    fault_env_install();
    fault_skip_real_sync(1);
    lsmlog_options o = db_opts(1);
    lsmlog_db *db = NULL;
    CHECK_OK(lsmlog_db_open(dry, &o, &db));
    uint64_t ops = fault_count(FAULT_MASK_MUTATING);
    CHECK_OK(lsmlog_db_close(db));
    fault_env_uninstall();
    CHECK(ops > 10);
    /* every point (every other one under AddressSanitizer); REPAIR_CRASH_POINTS=n: n spread */
#if defined(__SANITIZE_ADDRESS__)
    int points = (int)(ops / 2);
#else
    int points = (int)ops;
#endif
    if (getenv("REPAIR_CRASH_POINTS")) points = atoi(getenv("REPAIR_CRASH_POINTS"));
    int crashed = 0, refused = 0;
    for (int p = 0; p < points; p++) {
        uint64_t point = ops * (uint64_t)p / (uint64_t)points;
        const char *dir = fresh_copy(keep);
        fflush(NULL);
        pid_t pid = fork();
        CHECK(pid >= 0);
        if (pid == 0) {
            fault_env_install();
            fault_skip_real_sync(1);
            fault_crash_at(FAULT_MASK_MUTATING, point, p % 2,
                           p % 3 == 2 ? FAULT_PL_TORN : FAULT_PL_DROP, tu_seed + (uint64_t)p, 77);
            lsmlog_db *cdb = NULL;
            int rc = lsmlog_db_open(dir, &o, &cdb);
            if (rc == LSMLOG_OK) rc = lsmlog_db_close(cdb);
            fault_env_uninstall();
            _exit(rc == LSMLOG_OK ? 0 : 3);
        }
        int status = 0;
        CHECK(waitpid(pid, &status, 0) == pid);
        CHECKF(WIFEXITED(status) && (WEXITSTATUS(status) == 0 || WEXITSTATUS(status) == 77),
               "crash point %llu: the repair failed (status %d)", (unsigned long long)point,
               status);
        crashed += WEXITSTATUS(status) == 77;
        /* a plain open: the old state (refused: CURRENT is missing) or the repaired one */
        lsmlog_options po = db_opts(0);
        int rc = lsmlog_db_open(dir, &po, &db);
        if (rc == LSMLOG_OK) {
            verify(db, FLUSHED_AT, lost, "plain open after a crash in a repair");
            CHECK_OK(lsmlog_db_close(db));
        } else {
            CHECKF(rc == LSMLOG_E_CORRUPT, "crash point %llu: plain open: %d",
                   (unsigned long long)point, rc);
            refused++;
        }
        db = repair_and_verify(dir, FLUSHED_AT, lost, NULL, "repair after a crash in a repair",
                               NULL);
        CHECK_OK(lsmlog_db_close(db));
        tu_rmtemp(dir);
    }
    printf("  crash during repair: %d points (%llu operations), %d crashed, %d plain opens "
           "refused after\n",
           points, (unsigned long long)ops, crashed, refused);
}

int main(void) {
    tu_init("test_db_repair");
    g_root = tu_mkdtemp();
    build();
    TU_CASE(case_readonly);
    TU_CASE(case_new_db);
    TU_CASE(case_undamaged);
    TU_CASE(case_block_no_wal);
    TU_CASE(case_block_with_wal);
    TU_CASE(case_footer);
    TU_CASE(case_manifest);
    TU_CASE(case_table_deleted);
    TU_CASE(case_stale_manifest);
    TU_CASE(case_keeps_working);
    TU_CASE(case_crash);
    return tu_finish();
}
