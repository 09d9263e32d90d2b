/* test_db_corruption.c — damage each kind of DB file and check that the DB
 * never crashes and never returns a wrong value.
 *
 * A small DB is built once, with every part in it: a table in level 1 (from a
 * compaction), two tables in level 0, a manifest of several edits, CURRENT,
 * and a write-ahead log whose last records are not in any table. Its files
 * are kept in memory; each trial restores them in a fresh directory, damages
 * one file (a flipped byte or a truncation), opens the DB and reads
 * everything: a get of every key and full scans both ways.
 *
 * The outcome must be one of:
 *  - the right data (the state after all writes), or, when the damage is in
 *    the write-ahead log, the state after an acknowledged prefix of them
 *    that keeps at least what the tables hold;
 *  - a clean error (CORRUPT, IO or NOENT) whose message names the damaged
 *    file, from the open or from the read that met the damage — and every
 *    read before it right.
 * Never another value, never a key missing from a scan that did not fail.
 *
 * The write-ahead log has stricter rules (the Log's contract): a cut or
 * damaged last record is a torn tail, recovered at open (the prefix before
 * it); damage before the tail fails the open with the file and the byte
 * position, unless the DB is opened with repair, which keeps every other
 * record (then the state is all writes but the damaged one). After a
 * recovered open the DB must keep working: a write, a close and a reopen
 * keep it.
 *
 * Damage to a table, the manifest or CURRENT is also tried with repair (on
 * a share of the positions): the open must succeed and read the right data,
 * all of it — here the write-ahead log still holds every write (one
 * segment), so whatever a repair sets aside of the tables comes back from it
 * (db_repair.c replays the whole log). test_db_repair.c checks repair when
 * the log no longer has what was lost.
 *
 * CORRUPT_SAMPLES= sets how many spread positions are tried per file
 * (default 80, 50 under AddressSanitizer; headers, footers and record boundaries are always tried
 * byte by byte). */
#include <dirent.h>

#include "test_util.h"

#define NK 300        /* keys c0000 .. c0299 */
#define MAXW 1000     /* writes */
#define MAXOPS 4
#define MAX_VAL 120

/* ---- the writes and the states they make ----------------------------------------- */

typedef struct write {
    int n;
    int key[MAXOPS];
    int del[MAXOPS];
} write_t;

static write_t g_w[MAXW];
static int g_nw;        /* writes made */
static int g_flushed;   /* writes [0, g_flushed) are in tables */
#if defined(__SANITIZE_ADDRESS__)
static int g_samples = 50; /* the same sweeps, sparser: each trial costs more */
#else
static int g_samples = 80;
#endif

static void key_name(int k, char *buf) {
    snprintf(buf, 16, "c%04d", k);
}

static size_t value_of(int w, int k, unsigned char *buf) {
    uint64_t st = tu_hash2(tu_seed + (uint64_t)w, (uint64_t)k);
    size_t n = 10 + (size_t)(tu_splitmix64(&st) % (MAX_VAL - 10));
    tu_fill_random(&st, buf, n);
    buf[0] = (unsigned char)w, buf[1] = (unsigned char)k; /* tells writes apart */
    return n;
}

/* A state: for each key the write that set it last (-1: absent). */
typedef struct state {
    int by[NK];
} state;

/* The state after the writes in [0, upto), leaving out write `skip` (-1: none). */
static void state_of(state *s, int upto, int skip) {
    for (int k = 0; k < NK; k++) s->by[k] = -1;
    for (int w = 0; w < upto; w++) {
        if (w == skip) continue;
        for (int i = 0; i < g_w[w].n; i++) s->by[g_w[w].key[i]] = g_w[w].del[i] ? -1 : w;
    }
}

/* ---- building the DB ------------------------------------------------------------- */

static lsmlog_options build_opts(void) {
    lsmlog_options o;
    lsmlog_options_init(&o);
    o.memtable_bytes = 1 << 20; /* no flush but the ones asked for */
    o.cache_bytes = 64 << 10;
    return o;
}

static void do_writes(lsmlog_db *db, int count) {
    lsmlog_batch *b = NULL;
    CHECK_OK(lsmlog_batch_new(&b));
    unsigned char v[MAX_VAL];
    char k[16];
    for (int c = 0; c < count; c++) {
        CHECK(g_nw < MAXW);
        write_t *w = &g_w[g_nw];
        w->n = 1 + (int)tu_rand_below(MAXOPS);
        lsmlog_batch_clear(b);
        for (int i = 0; i < w->n; i++) {
            w->key[i] = (int)tu_rand_below(NK);
            w->del[i] = tu_rand_below(8) == 0;
            key_name(w->key[i], k);
            if (w->del[i]) {
                CHECK_OK(lsmlog_batch_delete(b, k, strlen(k)));
            } else {
                size_t n = value_of(g_nw, w->key[i], v);
                CHECK_OK(lsmlog_batch_put(b, k, strlen(k), v, n));
            }
        }
        CHECK_OK(lsmlog_db_write(db, b)); /* one write, one WAL record */
        g_nw++;
    }
    lsmlog_batch_free(b);
}

/* The files of the DB, kept in memory. */
typedef struct file {
    char rel[300]; /* path under the DB dir */
    int is_dir;
    unsigned char *data;
    size_t len;
} file;

static file g_files[64];
static int g_nfiles;

static void capture(const char *root, const char *rel) {
    char path[1000];
    snprintf(path, sizeof path, "%s%s%s", root, *rel ? "/" : "", rel);
    DIR *d = opendir(path);
    CHECK(d != NULL);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        CHECK(g_nfiles < 64);
        file *f = &g_files[g_nfiles++];
        int n = snprintf(f->rel, sizeof f->rel, "%s%s%s", rel, *rel ? "/" : "", e->d_name);
        CHECK(n > 0 && (size_t)n < sizeof f->rel);
        char full[1000];
        snprintf(full, sizeof full, "%s/%s", root, f->rel);
        if (tu_is_dir(full)) {
            f->is_dir = 1;
            capture(root, f->rel);
        } else {
            f->data = tu_read_file(full, &f->len);
            CHECK(f->data != NULL);
        }
    }
    closedir(d);
}

/* Writes the kept files into dir (which must not exist). Directories come
 * before their files in g_files. */
static void restore(const char *dir) {
    CHECK(mkdir(dir, 0755) == 0);
    for (int i = 0; i < g_nfiles; i++) {
        char full[1000];
        int n = snprintf(full, sizeof full, "%s/%s", dir, g_files[i].rel);
        CHECK(n > 0 && (size_t)n < sizeof full);
        if (g_files[i].is_dir) CHECK(mkdir(full, 0755) == 0);
        else CHECK(tu_write_file(full, g_files[i].data, g_files[i].len) == 0);
    }
}

static const file *find_file(const char *suffix_or_prefix, int by_prefix) {
    for (int i = 0; i < g_nfiles; i++) {
        const char *r = g_files[i].rel;
        if (g_files[i].is_dir) continue;
        size_t n = strlen(r), m = strlen(suffix_or_prefix);
        if (by_prefix ? strncmp(r, suffix_or_prefix, m) == 0 : (n >= m && strcmp(r + n - m, suffix_or_prefix) == 0))
            return &g_files[i];
    }
    return NULL;
}

static int g_l0_tables[2], g_l1_table;

static void build(const char *dir) {
    lsmlog_options o = build_opts();
    lsmlog_db *db = NULL;
    CHECK_OK(lsmlog_db_open(dir, &o, &db));
    do_writes(db, 150);
    CHECK_OK(lsmlog_db_flush_memtable(db));
    do_writes(db, 150);
    CHECK_OK(lsmlog_db_compact(db, NULL, 0, NULL, 0, NULL, NULL)); /* level 1 */
    do_writes(db, 100);
    CHECK_OK(lsmlog_db_flush_memtable(db)); /* level 0, older */
    do_writes(db, 100);
    CHECK_OK(lsmlog_db_flush_memtable(db)); /* level 0, newer */
    g_flushed = g_nw;
    do_writes(db, 80); /* only in the write-ahead log */
    lsmlog_db_stats st;
    CHECK_OK(lsmlog_db_get_stats(db, &st));
    CHECK_EQ_U64(st.levels[0].files, 2);
    CHECK_EQ_U64(st.levels[1].files, 1);
    CHECK_OK(lsmlog_db_close(db));
    capture(dir, "");
    /* the tables by number: level 1 holds the oldest number of the three left */
    int nums[8], nt = 0;
    for (int i = 0; i < g_nfiles; i++) {
        unsigned n;
        char extra;
        if (sscanf(g_files[i].rel, "%u.sst%c", &n, &extra) == 1) nums[nt++] = (int)n;
    }
    CHECK_EQ_INT(nt, 3);
    for (int i = 0; i < nt; i++)
        for (int j = i + 1; j < nt; j++)
            if (nums[j] < nums[i]) {
                int t = nums[i];
                nums[i] = nums[j];
                nums[j] = t;
            }
    g_l1_table = nums[0];
    g_l0_tables[0] = nums[1];
    g_l0_tables[1] = nums[2];
}

/* ---- reading a damaged DB -------------------------------------------------------- */

typedef struct outcome {
    int open_rc;
    int errors;      /* reads that failed cleanly */
    int state_match; /* index of the candidate state the data matched */
} outcome;

typedef struct trial {
    const char *what; /* for messages */
    const char *hint; /* the damaged file as an error message must name it */
    const char *hint2;
    int allow_open_error, allow_read_error;
    const state *cand; /* candidate states */
    int ncand;
    int repair;
    int readonly; /* open read-only: the other way of building a view */
} trial;

static int names_file(const trial *t) {
    const char *m = lsmlog_errmsg();
    return strstr(m, t->hint) != NULL || (t->hint2 && strstr(m, t->hint2) != NULL);
}

static int clean_error(int rc) {
    return rc == LSMLOG_E_CORRUPT || rc == LSMLOG_E_IO || rc == LSMLOG_E_NOENT;
}

/* The data read: per key, the write it shows (-1 absent, -2 failed). */
typedef struct view {
    int by[NK];
} view;

/* Which write set value v of key k (-3 if none did: a wrong value). */
static int writer_of(int k, const void *v, size_t vl) {
    unsigned char want[MAX_VAL];
    if (vl < 2) return -3;
    const unsigned char *p = v;
    /* the first byte is the write index mod 256: try those */
    for (int w = p[0]; w < g_nw; w += 256) {
        size_t n = value_of(w, k, want);
        if (n == vl && memcmp(want, v, n) == 0) return w;
    }
    return -3;
}

static void read_all(lsmlog_db *db, const trial *t, view *vw, outcome *out) {
    char k[16];
    for (int i = 0; i < NK; i++) {
        key_name(i, k);
        void *v = NULL;
        size_t vl = 0;
        int rc = lsmlog_db_get(db, NULL, k, strlen(k), &v, &vl);
        if (rc == LSMLOG_OK) {
            int w = writer_of(i, v, vl);
            CHECKF(w >= 0, "%s: get %s returned a value no write ever set (%zu bytes)", t->what, k, vl);
            vw->by[i] = w;
        } else if (rc == LSMLOG_NOTFOUND) {
            vw->by[i] = -1;
        } else {
            CHECKF(t->allow_read_error && clean_error(rc), "%s: get %s: %d (%s)", t->what, k, rc, tu_status_name(rc));
            CHECKF(names_file(t), "%s: get %s: the error does not name %s", t->what, k, t->hint);
            vw->by[i] = -2;
            out->errors++;
        }
        lsmlog_free(v);
    }
}

/* A full scan, forward or backward, against the view of the gets. */
static void scan_all(lsmlog_db *db, const trial *t, const view *vw, int reverse, outcome *out) {
    lsmlog_db_iter *it = NULL;
    int rc = lsmlog_db_iter_open(db, NULL, &it);
    if (rc != LSMLOG_OK) {
        CHECKF(t->allow_read_error && clean_error(rc), "%s: iter_open: %d (%s)", t->what, rc, tu_status_name(rc));
        CHECKF(names_file(t), "%s: iter_open: the error does not name %s", t->what, t->hint);
        out->errors++;
        return;
    }
    rc = reverse ? lsmlog_db_iter_last(it) : lsmlog_db_iter_first(it);
    int next = reverse ? NK - 1 : 0; /* the next key the scan may show */
    while (rc == LSMLOG_OK && lsmlog_db_iter_valid(it)) {
        size_t kl, vl;
        const char *k = lsmlog_db_iter_key(it, &kl);
        const void *v = lsmlog_db_iter_value(it, &vl);
        int i = kl == 5 && k[0] == 'c' ? (int)tu_atoi_n(k + 1, 4) : -1;
        CHECKF(i >= 0 && i < NK, "%s: scan shows an unknown key %.*s", t->what, (int)kl, k);
        /* the keys it passed over must be absent, as far as the gets could tell */
        for (; next != i; next += reverse ? -1 : 1) {
            CHECKF(reverse ? next > i : next < i, "%s: scan out of order at %.*s", t->what, (int)kl, k);
            CHECKF(vw->by[next] < 0, "%s: %s scan skipped c%04d (the get found write %d)", t->what,
                   reverse ? "reverse" : "forward", next, vw->by[next]);
        }
        int w = writer_of(i, v, vl);
        CHECKF(w >= 0, "%s: scan: a value no write ever set for %.*s", t->what, (int)kl, k);
        CHECKF(vw->by[i] == w || vw->by[i] == -2, "%s: scan shows write %d for %.*s, the get showed %d", t->what, w,
               (int)kl, k, vw->by[i]);
        next += reverse ? -1 : 1;
        rc = reverse ? lsmlog_db_iter_prev(it) : lsmlog_db_iter_next(it);
    }
    if (rc != LSMLOG_OK) {
        CHECKF(t->allow_read_error && clean_error(rc), "%s: scan: %d (%s)", t->what, rc, tu_status_name(rc));
        CHECKF(names_file(t), "%s: scan: the error does not name %s", t->what, t->hint);
        out->errors++;
    } else {
        for (; reverse ? next >= 0 : next < NK; next += reverse ? -1 : 1)
            CHECKF(vw->by[next] < 0, "%s: scan ended before c%04d (the get found write %d)", t->what, next,
                   vw->by[next]);
    }
    lsmlog_db_iter_close(it);
}

/* Which candidate state the view matches (every key the reads could read). */
static int match_state(const trial *t, const view *vw) {
    for (int c = 0; c < t->ncand; c++) {
        int ok = 1;
        for (int k = 0; k < NK && ok; k++) ok = vw->by[k] == -2 || vw->by[k] == t->cand[c].by[k];
        if (ok) return c;
    }
    return -1;
}

static void describe_mismatch(const trial *t, const view *vw) {
    for (int k = 0; k < NK; k++)
        if (vw->by[k] != -2 && vw->by[k] != t->cand[t->ncand - 1].by[k]) {
            fprintf(stderr, "    c%04d: read write %d, the last candidate state has %d\n", k, vw->by[k],
                    t->cand[t->ncand - 1].by[k]);
            break;
        }
}

static outcome run_trial(const char *dir, const trial *t) {
    outcome out = {0, 0, -1};
    lsmlog_options o = build_opts();
    o.repair = t->repair;
    o.readonly = t->readonly;
    lsmlog_db *db = NULL;
    out.open_rc = lsmlog_db_open(dir, &o, &db);
    if (out.open_rc != LSMLOG_OK) {
        CHECKF(t->allow_open_error && clean_error(out.open_rc), "%s: open: %d (%s)", t->what, out.open_rc,
               tu_status_name(out.open_rc));
        CHECKF(names_file(t), "%s: open failed without naming %s", t->what, t->hint);
        CHECK(db == NULL);
        return out;
    }
    view vw;
    read_all(db, t, &vw, &out);
    out.state_match = match_state(t, &vw);
    if (out.state_match < 0) describe_mismatch(t, &vw);
    CHECKF(out.state_match >= 0, "%s: the data read is none of the %d allowed states", t->what, t->ncand);
    scan_all(db, t, &vw, 0, &out);
    scan_all(db, t, &vw, 1, &out);
    CHECK_OK(lsmlog_db_close(db));
    return out;
}

/* After a recovered open the DB keeps working: a write survives a close and
 * a reopen, and the state read before is still there. */
static void check_keeps_working(const char *dir, const trial *t, int cand) {
    lsmlog_options o = build_opts();
    o.repair = t->repair;
    lsmlog_db *db = NULL;
    CHECK_OK(lsmlog_db_open(dir, &o, &db));
    CHECK_OK(lsmlog_db_put(db, "new", 3, "value", 5));
    CHECK_OK(lsmlog_db_close(db));
    o.repair = 0;
    CHECK_OK(lsmlog_db_open(dir, &o, &db));
    void *v = NULL;
    size_t vl = 0;
    int rc = lsmlog_db_get(db, NULL, "new", 3, &v, &vl);
    CHECKF(rc == LSMLOG_OK && vl == 5 && memcmp(v, "value", 5) == 0,
           "%s: a write after recovery did not survive a reopen (%d)", t->what, rc);
    lsmlog_free(v);
    trial t2 = *t;
    t2.cand = &t->cand[cand];
    t2.ncand = 1;
    view vw;
    outcome out = {0, 0, -1};
    read_all(db, &t2, &vw, &out);
    CHECKF(match_state(&t2, &vw) == 0, "%s: after the write and a reopen the data changed", t->what);
    CHECK_OK(lsmlog_db_close(db));
}

/* ---- positions to try ------------------------------------------------------------ */

typedef struct positions {
    long long *p;
    size_t n, cap;
} positions;

static void pos_add(positions *ps, long long p, long long len) {
    if (p < 0 || p >= len) return;
    for (size_t i = 0; i < ps->n; i++)
        if (ps->p[i] == p) return;
    if (ps->n == ps->cap) {
        ps->cap = ps->cap ? ps->cap * 2 : 256;
        ps->p = realloc(ps->p, ps->cap * sizeof *ps->p);
    }
    ps->p[ps->n++] = p;
}

static void pos_range(positions *ps, long long from, long long to, long long len) {
    for (long long p = from; p < to; p++) pos_add(ps, p, len);
}

static void pos_spread(positions *ps, long long len, int n) {
    for (int i = 0; i < n; i++) pos_add(ps, (long long)((double)len * (i + 0.5) / n), len);
    for (int i = 0; i < n / 4; i++) pos_add(ps, (long long)tu_rand_below((uint64_t)len), len);
}

/* ---- the sweeps ------------------------------------------------------------------ */

static state g_final;
static const char *g_root;
static int g_trial;

static const char *trial_dir(void) {
    static char dir[400];
    snprintf(dir, sizeof dir, "%s/t%d", g_root, g_trial++);
    restore(dir);
    return dir;
}

/* Damages `rel` in a fresh copy: XOR at pos (mask != 0) or truncate to pos. */
static const char *damaged_copy(const file *f, long long pos, unsigned char mask) {
    const char *dir = trial_dir();
    char path[1000];
    snprintf(path, sizeof path, "%s/%s", dir, f->rel);
    if (mask) CHECK(tu_flip_byte(path, pos, mask) == 0);
    else CHECK(tu_truncate_file(path, pos) == 0);
    return dir;
}

static void done_with(const char *dir) {
    tu_rmrf(dir);
}

typedef struct tally {
    int trials, open_errors, read_errors, clean;
} tally;

static void tally_add(tally *ty, const outcome *o) {
    ty->trials++;
    if (o->open_rc) ty->open_errors++;
    else if (o->errors) ty->read_errors++;
    else ty->clean++;
}

static void report(const char *name, const tally *ty) {
    printf("  %-28s %4d trials: %4d refused at open, %4d failed a read, %4d read the right data\n", name,
           ty->trials, ty->open_errors, ty->read_errors, ty->clean);
    fflush(stdout);
}

/* With repair, a damaged copy opens and reads the right data, all of it,
 * then keeps working. */
static void repair_trial(const file *f, long long pos, unsigned char mask, const char *what, tally *ty) {
    const char *dir = damaged_copy(f, pos, mask);
    trial t = {what, f->rel, NULL, 0, 0, &g_final, 1, 1, 0};
    outcome o = run_trial(dir, &t);
    CHECKF(o.open_rc == LSMLOG_OK && o.errors == 0 && o.state_match == 0, "%s: repair did not give the right data", what);
    check_keeps_working(dir, &t, 0);
    tally_add(ty, &o);
    done_with(dir);
}

static void sweep_table(int number, const char *which) {
    char rel[32], hint2[32];
    snprintf(rel, sizeof rel, "%06d.sst", number);
    snprintf(hint2, sizeof hint2, "table %d", number);
    const file *f = find_file(rel, 0);
    CHECK(f != NULL);
    long long len = (long long)f->len;
    positions ps = {0};
    pos_range(&ps, len - 200, len, len); /* footer, index, properties */
    pos_range(&ps, 0, 32, len);          /* the first block's start */
    pos_spread(&ps, len, g_samples);
    tally ty = {0};
    char what[400];
    trial t = {what, rel, hint2, 1, 1, &g_final, 1, 0, 0};
    for (size_t i = 0; i < ps.n; i++) {
        t.readonly = (int)(i % 2);
        snprintf(what, sizeof what, "%s table %s: byte %lld flipped%s", which, rel, ps.p[i],
                 t.readonly ? " (read-only)" : "");
        const char *dir = damaged_copy(f, ps.p[i], (unsigned char)(1u << (i % 8)));
        outcome o = run_trial(dir, &t);
        tally_add(&ty, &o);
        done_with(dir);
    }
    report(which, &ty);
    /* with repair, a share of the same damage (and more of the metadata
     * at the end, where a table becomes unreadable whole) */
    tally rt = {0};
    for (size_t i = 0; i < ps.n; i++) {
        if (i % 4 && ps.p[i] < len - 70) continue;
        if (i % 2 && ps.p[i] >= len - 70) continue;
        snprintf(what, sizeof what, "%s table %s: byte %lld flipped, repair", which, rel, ps.p[i]);
        repair_trial(f, ps.p[i], (unsigned char)(1u << (i % 8)), what, &rt);
    }
    char rname[64];
    /* truncations: refused (the footer is at the end), never misread */
    tally tt = {0};
    positions pt = {0};
    pos_range(&pt, len - 70, len, len);
    pos_add(&pt, 0, len);
    pos_spread(&pt, len, g_samples / 3);
    for (size_t i = 0; i < pt.n; i++) {
        t.readonly = (int)(i % 2);
        snprintf(what, sizeof what, "%s table %s: cut to %lld bytes%s", which, rel, pt.p[i],
                 t.readonly ? " (read-only)" : "");
        const char *dir = damaged_copy(f, pt.p[i], 0);
        outcome o = run_trial(dir, &t);
        CHECKF(o.open_rc || o.errors, "%s: a cut table read as whole", what);
        tally_add(&tt, &o);
        done_with(dir);
        if (i % 3 == 0) {
            snprintf(what, sizeof what, "%s table %s: cut to %lld bytes, repair", which, rel, pt.p[i]);
            repair_trial(f, pt.p[i], 0, what, &rt);
        }
    }
    char name[64];
    snprintf(name, sizeof name, "%s (cut)", which);
    report(name, &tt);
    snprintf(rname, sizeof rname, "%s (repair)", which);
    report(rname, &rt);
    free(ps.p);
    free(pt.p);
}

static void case_table_l1(void) {
    sweep_table(g_l1_table, "level-1 table");
}
static void case_table_l0(void) {
    sweep_table(g_l0_tables[1], "newest level-0 table");
    sweep_table(g_l0_tables[0], "older level-0 table");
}

/* The manifest: the Log's segment in manifest-<n>/. Its records are edits;
 * damage before the last one fails the open; the last one damaged reads as a
 * torn edit (the change it made was never used), which here still leaves
 * the data whole: the write-ahead log holds every write. */
static void case_manifest(void) {
    const file *f = NULL;
    for (int i = 0; i < g_nfiles; i++)
        if (!g_files[i].is_dir && strncmp(g_files[i].rel, "manifest-", 9) == 0 && strstr(g_files[i].rel, ".log"))
            f = &g_files[i];
    CHECK(f != NULL);
    char mdir[64];
    snprintf(mdir, sizeof mdir, "%.*s", (int)(strchr(f->rel, '/') - f->rel), f->rel);
    long long len = (long long)f->len;
    tu_batch b[64];
    size_t nb = tu_parse_batches(f->data, f->len, b, 64);
    CHECKF(nb >= 5, "the manifest holds %zu edits", nb);
    positions ps = {0};
    pos_range(&ps, 0, TU_SEG_HEADER + TU_BATCH_HEADER, len); /* segment header, first record header */
    for (size_t i = 0; i < nb; i++) pos_range(&ps, b[i].pos, b[i].pos + TU_BATCH_HEADER, len);
    pos_range(&ps, len - 40, len, len);
    pos_spread(&ps, len, g_samples);
    tally ty = {0};
    char what[400];
    trial t = {what, mdir, "manifest", 1, 1, &g_final, 1, 0, 0};
    for (size_t i = 0; i < ps.n; i++) {
        t.readonly = (int)(i % 2);
        snprintf(what, sizeof what, "manifest %s: byte %lld flipped%s", f->rel, ps.p[i],
                 t.readonly ? " (read-only)" : "");
        const char *dir = damaged_copy(f, ps.p[i], (unsigned char)(1u << (i % 8)));
        outcome o = run_trial(dir, &t);
        /* damage in an edit before the last: refused */
        if (ps.p[i] < b[nb - 1].pos)
            CHECKF(o.open_rc == LSMLOG_E_CORRUPT, "%s (edit before the last): open gave %d (%s)", what, o.open_rc,
                   tu_status_name(o.open_rc));
        tally_add(&ty, &o);
        done_with(dir);
    }
    report("manifest", &ty);
    /* with repair: rebuilt from the tables and the log, all there */
    tally rt = {0};
    for (size_t i = 0; i < ps.n; i += 3) {
        snprintf(what, sizeof what, "manifest %s: byte %lld flipped, repair", f->rel, ps.p[i]);
        repair_trial(f, ps.p[i], (unsigned char)(1u << (i % 8)), what, &rt);
    }
    tally tt = {0};
    positions pt = {0};
    for (size_t i = 0; i < nb; i++) {
        pos_add(&pt, b[i].pos, len);
        pos_add(&pt, b[i].pos + 1, len);
        pos_add(&pt, b[i].end - 1, len);
    }
    pos_range(&pt, 0, TU_SEG_HEADER + 1, len);
    pos_spread(&pt, len, g_samples / 3);
    for (size_t i = 0; i < pt.n; i++) {
        t.readonly = (int)(i % 2);
        snprintf(what, sizeof what, "manifest %s: cut to %lld bytes%s", f->rel, pt.p[i],
                 t.readonly ? " (read-only)" : "");
        const char *dir = damaged_copy(f, pt.p[i], 0);
        outcome o = run_trial(dir, &t);
        tally_add(&tt, &o);
        done_with(dir);
        if (i % 3 == 0) {
            snprintf(what, sizeof what, "manifest %s: cut to %lld bytes, repair", f->rel, pt.p[i]);
            repair_trial(f, pt.p[i], 0, what, &rt);
        }
    }
    report("manifest (cut)", &tt);
    report("manifest (repair)", &rt);
    free(ps.p);
    free(pt.p);
}

static void case_current(void) {
    const file *f = find_file("CURRENT", 0);
    CHECK(f != NULL && f->len > 0);
    tally ty = {0};
    char what[400];
    trial t = {what, "CURRENT", NULL, 1, 0, &g_final, 1, 0, 0};
    static const unsigned char masks[] = {0x01, 0x02, 0x10, 0x20, 0x80, 0xff};
    for (size_t p = 0; p < f->len; p++)
        for (size_t m = 0; m < sizeof masks; m++) {
            t.readonly = (int)(m % 2);
            snprintf(what, sizeof what, "CURRENT: byte %zu ^ %#x%s", p, masks[m], t.readonly ? " (read-only)" : "");
            const char *dir = damaged_copy(f, (long long)p, masks[m]);
            outcome o = run_trial(dir, &t);
            CHECKF(o.open_rc == LSMLOG_E_CORRUPT, "%s: open gave %d (%s)", what, o.open_rc, tu_status_name(o.open_rc));
            tally_add(&ty, &o);
            done_with(dir);
        }
    /* with repair: CURRENT rewritten, nothing lost */
    tally rt = {0};
    for (size_t p = 0; p < f->len; p++) {
        snprintf(what, sizeof what, "CURRENT: byte %zu ^ %#x, repair", p, masks[p % sizeof masks]);
        repair_trial(f, (long long)p, masks[p % sizeof masks], what, &rt);
        if (p % 4 == 0) {
            snprintf(what, sizeof what, "CURRENT: cut to %zu bytes, repair", p);
            repair_trial(f, (long long)p, 0, what, &rt);
        }
    }
    report("CURRENT (repair)", &rt);
    for (size_t p = 0; p < f->len; p++) {
        t.readonly = (int)(p % 2);
        snprintf(what, sizeof what, "CURRENT: cut to %zu bytes%s", p, t.readonly ? " (read-only)" : "");
        const char *dir = damaged_copy(f, (long long)p, 0);
        outcome o = run_trial(dir, &t);
        CHECKF(o.open_rc == LSMLOG_E_CORRUPT, "%s: open gave %d (%s)", what, o.open_rc, tu_status_name(o.open_rc));
        tally_add(&ty, &o);
        done_with(dir);
    }
    report("CURRENT (flips and cuts)", &ty);
}

/* CURRENT gone altogether: a writer must not start a new, empty DB over the
 * files (it would reuse table numbers and remove the manifest); it refuses,
 * and nothing changes on disk; with repair it rebuilds the manifest from the
 * tables and the log, and nothing is lost. A directory left by a crash in a
 * DB's very first open (a manifest, no CURRENT, no log yet) still opens as a
 * new DB. */
static void case_current_missing(void) {
    const char *dir = trial_dir();
    char path[1000];
    snprintf(path, sizeof path, "%s/CURRENT", dir);
    CHECK(unlink(path) == 0);
    lsmlog_db *db = NULL;
    CHECK_EQ_INT(lsmlog_db_open(dir, NULL, &db), LSMLOG_E_CORRUPT);
    CHECK(strstr(lsmlog_errmsg(), "CURRENT") != NULL);
    lsmlog_options o = build_opts();
    o.readonly = 1;
    CHECK_EQ_INT(lsmlog_db_open(dir, &o, &db), LSMLOG_E_NOENT);
    for (int i = 0; i < g_nfiles; i++) { /* every file as it was */
        if (g_files[i].is_dir || !strcmp(g_files[i].rel, "CURRENT")) continue;
        int w = snprintf(path, sizeof path, "%s/%s", dir, g_files[i].rel);
        CHECK(w > 0 && (size_t)w < sizeof path);
        size_t n = 0;
        unsigned char *d = tu_read_file(path, &n);
        CHECKF(d && n == g_files[i].len && memcmp(d, g_files[i].data, n) == 0, "%.200s changed", g_files[i].rel);
        free(d);
    }
    /* with repair: a manifest rebuilt from the tables, nothing lost */
    trial t = {"CURRENT missing, repair", "CURRENT", NULL, 0, 0, &g_final, 1, 1, 0};
    outcome out = run_trial(dir, &t);
    CHECK(out.open_rc == LSMLOG_OK && out.errors == 0);
    check_keeps_working(dir, &t, 0);
    done_with(dir);

    /* a first open that crashed before CURRENT: only a manifest directory */
    snprintf(path, sizeof path, "%s/first", g_root);
    CHECK(mkdir(path, 0755) == 0);
    char m[1100];
    snprintf(m, sizeof m, "%s/manifest-1", path);
    CHECK(mkdir(m, 0755) == 0);
    CHECK_OK(lsmlog_db_open(path, NULL, &db));
    CHECK_OK(lsmlog_db_put(db, "k", 1, "v", 1));
    CHECK_OK(lsmlog_db_close(db));
    CHECK_OK(lsmlog_db_open(path, NULL, &db));
    CHECK_EQ_INT(lsmlog_db_get(db, NULL, "k", 1, NULL, NULL), LSMLOG_OK);
    CHECK_OK(lsmlog_db_close(db));
}

/* The write-ahead log: one record per write, all in one segment. */
static void case_wal(void) {
    const file *f = find_file("wal/", 1);
    for (int i = 0; i < g_nfiles; i++)
        if (!strncmp(g_files[i].rel, "wal/", 4) && strstr(g_files[i].rel, ".log")) f = &g_files[i];
    CHECK(f != NULL && strstr(f->rel, ".log"));
    long long len = (long long)f->len;
    static tu_batch b[MAXW];
    size_t nb = tu_parse_batches(f->data, f->len, b, MAXW);
    CHECKF((int)nb == g_nw, "the WAL holds %zu records for %d writes", nb, g_nw);
    CHECK(b[nb - 1].end == len);
    /* the candidate states: the prefixes that keep what the tables hold */
    static state prefix[MAXW + 1];
    for (int k = 0; k <= g_nw; k++) state_of(&prefix[k], k, -1);
    char what[400];

    /* flips: in the last record, a torn tail (recovered); before it, refused
     * with the position, or with repair everything but the damaged record */
    positions ps = {0};
    pos_range(&ps, 0, TU_SEG_HEADER, len);
    pos_range(&ps, b[0].pos, b[0].pos + TU_BATCH_HEADER, len);
    pos_range(&ps, b[nb - 1].pos, b[nb - 1].pos + TU_BATCH_HEADER, len); /* the last record: its header, */
    for (int i = 0; i < 24; i++)                                           /* and a spread of its body */
        pos_add(&ps, b[nb - 1].pos + TU_BATCH_HEADER + (len - b[nb - 1].pos - TU_BATCH_HEADER) * i / 24, len);
    pos_range(&ps, b[g_flushed].pos, b[g_flushed].pos + TU_BATCH_HEADER, len);
    pos_spread(&ps, len, g_samples);
    tally plain = {0}, rep = {0};
    for (size_t i = 0; i < ps.n; i++) {
        long long p = ps.p[i];
        int r = -1; /* the record holding p */
        for (size_t j = 0; j < nb; j++)
            if (p >= b[j].pos && p < b[j].end) r = (int)j;
        /* both ways in the last record and the header; elsewhere one or the other */
        int both = r == (int)nb - 1 || r < 0;
        for (int repair = both ? 0 : (int)(i % 2); repair < (both ? 2 : (int)(i % 2) + 1); repair++) {
            snprintf(what, sizeof what, "WAL %s: byte %lld (record %d of %zu) flipped%s", f->rel, p, r, nb,
                     repair ? ", repair" : "");
            const char *dir = damaged_copy(f, p, (unsigned char)(1u << (i % 8)));
            state without;
            trial t = {what, "wal", NULL, 1, 0, NULL, 0, repair, 0};
            if (r == (int)nb - 1) { /* the tail: cut, whatever the mode */
                t.allow_open_error = 0;
                t.cand = &prefix[nb - 1];
                t.ncand = 1;
            } else if (r >= 0 && repair) { /* every record but the damaged one */
                state_of(&without, g_nw, r < g_flushed ? -1 : r);
                t.allow_open_error = 0;
                t.cand = &without;
                t.ncand = 1;
            } else {
                t.cand = &g_final; /* if it opens at all, with everything */
                t.ncand = 1;
            }
            outcome o = run_trial(dir, &t);
            if (r == (int)nb - 1) {
                CHECK_EQ_INT(o.open_rc, LSMLOG_OK);
            } else if (r >= 0 && !repair) {
                CHECKF(o.open_rc == LSMLOG_E_CORRUPT, "%s: open gave %d (%s)", what, o.open_rc,
                       tu_status_name(o.open_rc));
                CHECKF(strstr(lsmlog_errmsg(), "byte") != NULL, "%s: no position in \"%s\"", what, lsmlog_errmsg());
            }
            if (o.open_rc == LSMLOG_OK && (r == (int)nb - 1 || repair)) check_keeps_working(dir, &t, 0);
            tally_add(repair ? &rep : &plain, &o);
            done_with(dir);
        }
    }
    report("WAL", &plain);
    report("WAL (repair)", &rep);

    /* cuts: always recovered, to the records wholly before the cut (at least
     * what the tables hold); then the DB keeps working */
    positions pt = {0};
    for (size_t j = 0; j < nb; j++) {
        if (j % 20 && j + 3 < nb && j != (size_t)g_flushed && j + 1 != (size_t)g_flushed) continue;
        pos_add(&pt, b[j].pos, len);
        pos_add(&pt, b[j].pos + 1, len);
        pos_add(&pt, b[j].pos + TU_BATCH_HEADER, len);
        pos_add(&pt, b[j].end - 1, len);
    }
    pos_range(&pt, 0, TU_SEG_HEADER + 1, len);
    pos_spread(&pt, len, g_samples / 2);
    tally tt = {0};
    for (size_t i = 0; i < pt.n; i++) {
        long long p = pt.p[i];
        int whole = 0;
        while ((size_t)whole < nb && b[whole].end <= p) whole++;
        int k = whole > g_flushed ? whole : g_flushed;
        snprintf(what, sizeof what, "WAL %s: cut to %lld bytes (%d whole records)", f->rel, p, whole);
        trial t = {what, "wal", NULL, 0, 0, &prefix[k], 1, 0, 0};
        const char *dir = damaged_copy(f, p, 0);
        outcome o = run_trial(dir, &t);
        check_keeps_working(dir, &t, 0);
        tally_add(&tt, &o);
        done_with(dir);
    }
    report("WAL (cut)", &tt);
    free(ps.p);
    free(pt.p);
}

int main(void) {
    tu_init("test_db_corruption");
    if (getenv("CORRUPT_SAMPLES")) g_samples = atoi(getenv("CORRUPT_SAMPLES"));
    g_root = tu_mkdtemp();
    char dir[400];
    snprintf(dir, sizeof dir, "%s/pristine", g_root);
    build(dir);
    state_of(&g_final, g_nw, -1);
    /* the pristine copy reads right */
    {
        trial t = {"pristine", "-", NULL, 0, 0, &g_final, 1, 0, 0};
        const char *d = trial_dir();
        run_trial(d, &t);
        done_with(d);
    }
    TU_CASE(case_current);
    TU_CASE(case_current_missing);
    TU_CASE(case_manifest);
    TU_CASE(case_table_l1);
    TU_CASE(case_table_l0);
    TU_CASE(case_wal);
    for (int i = 0; i < g_nfiles; i++) free(g_files[i].data);
    return tu_finish();
}
