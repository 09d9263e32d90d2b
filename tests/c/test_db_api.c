/* test_db_api.c — every public DB call (lsmlog.h, lsmlog_db_*), through the
 * public header only: what it does and each error it documents.
 *
 * Opening (create, missing, read-only, a file in the way, bad options), one
 * writer per directory in this process and across processes, read-only
 * handles that refuse writes and follow a writer in another process, close
 * refused while children are open, empty keys and values and keys with zero
 * bytes, size limits, a 32 MiB value, batches, TTL, snapshots, iterators,
 * compaction with progress and cancel, stats, recovery after close and after
 * a process ends without closing, and a ~30 MB DB that background compaction
 * takes down to level 2.
 *
 * Children made by fork leave with _exit (the parent's atexit handlers and
 * temp dirs are not theirs). */
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include "db_internal.h"
#include "env.h"
#include "test_util.h"

/* ---- helpers -------------------------------------------------------------------- */

static lsmlog_options db_opts(uint64_t memtable_bytes) {
    lsmlog_options o;
    lsmlog_options_init(&o);
    if (memtable_bytes) o.memtable_bytes = memtable_bytes;
    return o;
}

static lsmlog_db *open_db(const char *dir, const lsmlog_options *o) {
    lsmlog_db *db = NULL;
    int rc = lsmlog_db_open(dir, o, &db);
    CHECKF(rc == LSMLOG_OK, "open %s: %d (%s)", dir, rc, tu_status_name(rc));
    CHECK(db != NULL);
    return db;
}

static void put_s(lsmlog_db *db, const char *k, const char *v) {
    CHECK_OK(lsmlog_db_put(db, k, strlen(k), v, strlen(v)));
}

/* get(k) as of snap must be exactly v (also as an existence test). */
static void expect_bin(lsmlog_db *db, const lsmlog_snapshot *snap, const void *k, size_t kl,
                       const void *v, size_t vl, int line) {
    void *got = NULL;
    size_t gl = 12345;
    int rc = lsmlog_db_get(db, snap, k, kl, &got, &gl);
    CHECKF(rc == LSMLOG_OK, "line %d: get of a %zu-byte key: %d (%s)", line, kl, rc, tu_status_name(rc));
    CHECKF(got != NULL, "line %d: get gave a NULL value", line);
    CHECKF(gl == vl && (vl == 0 || memcmp(got, v, vl) == 0),
           "line %d: get of a %zu-byte key: %zu bytes, want %zu, first difference at %zu", line, kl, gl, vl,
           tu_first_diff(got, gl, v, vl));
    lsmlog_free(got);
    gl = 12345;
    rc = lsmlog_db_get(db, snap, k, kl, NULL, &gl);
    CHECKF(rc == LSMLOG_OK && gl == vl, "line %d: existence test: %d (%s), len %zu, want %zu", line, rc,
           tu_status_name(rc), gl, vl);
    CHECKF(lsmlog_db_get(db, snap, k, kl, NULL, NULL) == LSMLOG_OK, "line %d: existence test", line);
}

static void expect_nobin(lsmlog_db *db, const lsmlog_snapshot *snap, const void *k, size_t kl, int line) {
    void *got = (void *)1;
    size_t gl = 12345;
    int rc = lsmlog_db_get(db, snap, k, kl, &got, &gl);
    CHECKF(rc == LSMLOG_NOTFOUND, "line %d: get of a %zu-byte key: %d (%s), want NOTFOUND", line, kl, rc,
           tu_status_name(rc));
    CHECKF(got == NULL && gl == 0, "line %d: a NOTFOUND get must clear its outputs", line);
    CHECKF(lsmlog_db_get(db, snap, k, kl, NULL, NULL) == LSMLOG_NOTFOUND, "line %d: existence test", line);
}

#define EXPECT(db, snap, k, v) expect_bin((db), (snap), (k), strlen(k), (v), strlen(v), __LINE__)
#define EXPECT_NO(db, snap, k) expect_nobin((db), (snap), (k), strlen(k), __LINE__)

/* A readable rendering of a scan: "key=value;..." with bytes outside
 * [0x21, 0x7e] (and '=', ';', '\\') as \xx. Owned (free). */
typedef struct sbuf {
    char *p;
    size_t n, cap;
} sbuf;

static void sb_add(sbuf *s, const void *data, size_t len, int escape) {
    const unsigned char *d = data;
    if (s->cap - s->n < len * 4 + 8) {
        s->cap = (s->cap + len * 4 + 8) * 2;
        s->p = realloc(s->p, s->cap);
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = d[i];
        if (escape && (c < 0x21 || c > 0x7e || c == '=' || c == ';' || c == '\\'))
            s->n += (size_t)sprintf(s->p + s->n, "\\%02x", c);
        else
            s->p[s->n++] = (char)c;
    }
    s->p[s->n] = 0;
}

/* Walks the iterator from where it stands to the end (next) or start (prev). */
static char *walk(lsmlog_db_iter *it, int reverse) {
    sbuf s = {0};
    sb_add(&s, "", 0, 0);
    int rc = LSMLOG_OK;
    while (lsmlog_db_iter_valid(it)) {
        size_t kl, vl;
        const void *k = lsmlog_db_iter_key(it, &kl), *v = lsmlog_db_iter_value(it, &vl);
        CHECK(k != NULL && v != NULL);
        sb_add(&s, k, kl, 1);
        sb_add(&s, "=", 1, 0);
        sb_add(&s, v, vl, 1);
        sb_add(&s, ";", 1, 0);
        rc = reverse ? lsmlog_db_iter_prev(it) : lsmlog_db_iter_next(it);
        CHECK_OK(rc);
    }
    return s.p;
}

/* A whole scan with the given bounds, forward or backward. */
static char *scan(lsmlog_db *db, const lsmlog_db_iter_opts *o, int reverse) {
    lsmlog_db_iter *it = NULL;
    CHECK_OK(lsmlog_db_iter_open(db, o, &it));
    CHECK_OK(reverse ? lsmlog_db_iter_last(it) : lsmlog_db_iter_first(it));
    char *s = walk(it, reverse);
    lsmlog_db_iter_close(it);
    return s;
}

#define CHECK_STR(got, want)                                                                       \
    do {                                                                                           \
        char *g_ = (got);                                                                          \
        CHECKF(strcmp(g_, (want)) == 0, "got  \"%s\"\n    want \"%s\"", g_, (want));               \
        free(g_);                                                                                  \
    } while (0)

/* scan of everything, forward and backward, must both be `want` (forward order). */
static void check_all(lsmlog_db *db, const lsmlog_snapshot *snap, const char *want) {
    lsmlog_db_iter_opts o;
    lsmlog_db_iter_opts_init(&o);
    o.snapshot = snap;
    CHECK_STR(scan(db, &o, 0), want);
    /* backward: reverse the ';'-separated items of want */
    size_t n = strlen(want);
    char *rev = malloc(n + 1), *w = rev;
    const char *end = want + n;
    while (end > want) {
        const char *p = end - 1; /* the ';' closing the item */
        while (p > want && p[-1] != ';') p--;
        memcpy(w, p, (size_t)(end - p));
        w += end - p;
        end = p;
    }
    *w = 0;
    CHECK_STR(scan(db, &o, 1), rev);
    free(rev);
}

static void first_ok(lsmlog_db_iter *it) {
    CHECK_OK(lsmlog_db_iter_first(it));
}

static void next_ok(lsmlog_db_iter *it) {
    CHECK_OK(lsmlog_db_iter_next(it));
}

static const char *cur_key(lsmlog_db_iter *it) {
    static char buf[64];
    if (!lsmlog_db_iter_valid(it)) return "(invalid)";
    size_t kl;
    const char *k = lsmlog_db_iter_key(it, &kl);
    snprintf(buf, sizeof buf, "%.*s", (int)kl, k);
    return buf;
}

static lsmlog_db_stats stats_of(lsmlog_db *db) {
    lsmlog_db_stats st;
    CHECK_OK(lsmlog_db_get_stats(db, &st));
    return st;
}

static void path_in(char *buf, size_t cap, const char *dir, const char *name) {
    snprintf(buf, cap, "%s/%s", dir, name);
}

/* ---- pipes to a forked child ---------------------------------------------------- */

static void write_all(int fd, const void *p, size_t n) {
    const char *c = p;
    while (n) {
        ssize_t w = write(fd, c, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) _exit(9); /* the other side is gone */
        c += w;
        n -= (size_t)w;
    }
}

static int read_all(int fd, void *p, size_t n, int timeout_ms) {
    char *c = p;
    while (n) {
        struct pollfd pf = {fd, POLLIN, 0};
        int pr = poll(&pf, 1, timeout_ms);
        if (pr < 0 && errno == EINTR) continue;
        if (pr <= 0) return -1;
        ssize_t r = read(fd, c, n);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return -1;
        c += r;
        n -= (size_t)r;
    }
    return 0;
}

typedef struct child {
    pid_t pid;
    int cmd_w, reply_r;
} child;

typedef struct cmd {
    char op;
    int arg;
} cmd;

/* The child side of the read-only test: a writer driven over a pipe. */
static void writer_child_loop(const char *dir, int cmd_r, int reply_w) {
    lsmlog_db *db = NULL;
    for (;;) {
        cmd c;
        if (read_all(cmd_r, &c, sizeof c, 60000) != 0) _exit(3);
        int rc = LSMLOG_OK;
        char k[32], v[32];
        switch (c.op) {
        case 'o': {
            lsmlog_options o = db_opts(128 << 10);
            rc = lsmlog_db_open(dir, &o, &db);
            break;
        }
        case 'p': /* batch arg: keys r<arg*100 + i>, one batch */
        {
            lsmlog_batch *b = NULL;
            rc = lsmlog_batch_new(&b);
            for (int i = 0; rc == LSMLOG_OK && i < 100; i++) {
                snprintf(k, sizeof k, "r%05d", c.arg * 100 + i);
                snprintf(v, sizeof v, "value-%d", c.arg * 100 + i);
                rc = lsmlog_batch_put(b, k, strlen(k), v, strlen(v));
            }
            if (rc == LSMLOG_OK) rc = lsmlog_db_write(db, b);
            lsmlog_batch_free(b);
            break;
        }
        case 'd': /* delete key r<arg> */
            snprintf(k, sizeof k, "r%05d", c.arg);
            rc = lsmlog_db_delete(db, k, strlen(k));
            break;
        case 'f':
            rc = lsmlog_db_flush_memtable(db);
            break;
        case 'c':
            rc = lsmlog_db_compact(db, NULL, 0, NULL, 0, NULL, NULL);
            break;
        case 'x':
            rc = lsmlog_db_close(db);
            db = NULL;
            write_all(reply_w, &rc, sizeof rc);
            _exit(0);
        default:
            rc = -1;
        }
        write_all(reply_w, &rc, sizeof rc);
    }
}

static child start_writer_child(const char *dir) {
    int cp[2], rp[2];
    CHECK(pipe(cp) == 0 && pipe(rp) == 0);
    fflush(NULL);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        close(cp[1]);
        close(rp[0]);
        writer_child_loop(dir, cp[0], rp[1]);
        _exit(0);
    }
    close(cp[0]);
    close(rp[1]);
    child c = {pid, cp[1], rp[0]};
    return c;
}

static int child_do(const child *c, char op, int arg) {
    cmd m;
    memset(&m, 0, sizeof m); /* no uninitialised padding through the pipe */
    m.op = op;
    m.arg = arg;
    write_all(c->cmd_w, &m, sizeof m);
    int rc = -999;
    CHECKF(read_all(c->reply_r, &rc, sizeof rc, 60000) == 0, "no reply from the child for '%c'", op);
    return rc;
}

static void child_end(child *c) {
    int status = 0;
    CHECK(waitpid(c->pid, &status, 0) == c->pid);
    CHECKF(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d", status);
    close(c->cmd_w);
    close(c->reply_r);
}

/* Runs fn(dir) in a child process and returns its exit code. */
static int in_child(void (*fn)(const char *), const char *dir) {
    fflush(NULL);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        fn(dir);
        _exit(0);
    }
    int status = 0;
    CHECK(waitpid(pid, &status, 0) == pid);
    CHECKF(WIFEXITED(status), "child status %d", status);
    return WEXITSTATUS(status);
}

/* ---- opening -------------------------------------------------------------------- */

static void case_open_errors(void) {
    const char *root = tu_mkdtemp();
    char dir[400], file[400];
    lsmlog_db *db = NULL;

    /* create (the default) makes missing parents too */
    snprintf(dir, sizeof dir, "%s/a/b/db", root);
    db = open_db(dir, NULL);
    char p[500];
    path_in(p, sizeof p, dir, "CURRENT");
    CHECK(tu_exists(p));
    path_in(p, sizeof p, dir, "wal");
    CHECK(tu_is_dir(p));
    const lsmlog_recovery *r = lsmlog_db_recovery(db);
    CHECK(r != NULL && r->message != NULL);
    CHECK_EQ_U64(r->truncated_bytes, 0);
    CHECK_OK(lsmlog_db_close(db));
    CHECK_OK(lsmlog_db_close(NULL));
    CHECK(lsmlog_db_recovery(NULL) == NULL);

    lsmlog_options o = db_opts(0);
    /* missing with create off, and read-only missing */
    snprintf(dir, sizeof dir, "%s/missing", root);
    o.create = 0;
    db = (lsmlog_db *)1;
    CHECK_EQ_INT(lsmlog_db_open(dir, &o, &db), LSMLOG_E_NOENT);
    CHECK(db == NULL);
    CHECK(strstr(lsmlog_errmsg(), "missing") != NULL);
    CHECK(!tu_exists(dir));
    o = db_opts(0);
    o.readonly = 1;
    CHECK_EQ_INT(lsmlog_db_open(dir, &o, &db), LSMLOG_E_NOENT);
    CHECK(!tu_exists(dir));
    /* a directory that holds no DB: not made into one by create-off or read-only opens */
    snprintf(dir, sizeof dir, "%s/empty", root);
    CHECK(mkdir(dir, 0755) == 0);
    CHECK_EQ_INT(lsmlog_db_open(dir, &o, &db), LSMLOG_E_NOENT);
    o = db_opts(0);
    o.create = 0;
    CHECK_EQ_INT(lsmlog_db_open(dir, &o, &db), LSMLOG_E_NOENT);
    path_in(p, sizeof p, dir, "CURRENT");
    CHECK(!tu_exists(p));

    /* the path is a file */
    snprintf(file, sizeof file, "%s/file", root);
    CHECK(tu_write_file(file, "x", 1) == 0);
    CHECK_EQ_INT(lsmlog_db_open(file, NULL, &db), LSMLOG_E_IO);
    CHECK(strstr(lsmlog_errmsg(), "file") != NULL);
    o = db_opts(0);
    o.readonly = 1;
    CHECK_EQ_INT(lsmlog_db_open(file, &o, &db), LSMLOG_E_IO);
    /* ... or a file lies on the way */
    snprintf(dir, sizeof dir, "%s/file/db", root);
    int rc = lsmlog_db_open(dir, NULL, &db);
    CHECKF(rc == LSMLOG_E_IO || rc == LSMLOG_E_NOENT, "rc %d", rc);

    /* bad arguments and options */
    snprintf(dir, sizeof dir, "%s/opts", root);
    CHECK_EQ_INT(lsmlog_db_open(NULL, NULL, &db), LSMLOG_E_INVALID);
    CHECK_EQ_INT(lsmlog_db_open("", NULL, &db), LSMLOG_E_INVALID);
    CHECK_EQ_INT(lsmlog_db_open(dir, NULL, NULL), LSMLOG_E_INVALID);
    struct {
        const char *what;
        lsmlog_options o;
    } bad[8];
    int nb = 0;
    for (int i = 0; i < 8; i++) bad[i].o = db_opts(0);
    bad[nb].what = "durability 3", bad[nb++].o.durability = 3;
    bad[nb].what = "durability -1", bad[nb++].o.durability = -1;
    bad[nb].what = "memtable_bytes 100", bad[nb++].o.memtable_bytes = 100;
    bad[nb].what = "memtable_bytes 0", bad[nb++].o.memtable_bytes = 0;
    bad[nb].what = "memtable_bytes 2^40", bad[nb++].o.memtable_bytes = 1ull << 40;
    bad[nb].what = "bloom_bits -1", bad[nb++].o.bloom_bits = -1;
    bad[nb].what = "bloom_bits 1000", bad[nb++].o.bloom_bits = 1000;
    bad[nb].what = "cache_bytes 2^62", bad[nb++].o.cache_bytes = 1ull << 62;
    for (int i = 0; i < nb; i++) {
        db = (lsmlog_db *)1;
        rc = lsmlog_db_open(dir, &bad[i].o, &db);
        CHECKF(rc == LSMLOG_E_INVALID, "%s: %d (%s)", bad[i].what, rc, tu_status_name(rc));
        CHECKF(db == NULL, "%s: *out not cleared", bad[i].what);
        CHECKF(strlen(lsmlog_errmsg()) > 0, "%s: no message", bad[i].what);
    }
    CHECK(!tu_exists(dir)); /* refused before anything was made */
    /* the edges that are allowed */
    o = db_opts(4096);
    o.bloom_bits = 0;
    o.cache_bytes = 0;
    db = open_db(dir, &o);
    put_s(db, "k", "v");
    CHECK_OK(lsmlog_db_flush_memtable(db));
    EXPECT(db, NULL, "k", "v");
    CHECK_OK(lsmlog_db_close(db));

    /* NULL handles */
    CHECK_EQ_INT(lsmlog_db_put(NULL, "k", 1, "v", 1), LSMLOG_E_INVALID);
    CHECK_EQ_INT(lsmlog_db_get(NULL, NULL, "k", 1, NULL, NULL), LSMLOG_E_INVALID);
    CHECK_EQ_INT(lsmlog_db_delete(NULL, "k", 1), LSMLOG_E_INVALID);
    CHECK_EQ_INT(lsmlog_db_flush(NULL), LSMLOG_E_INVALID);
    CHECK_EQ_INT(lsmlog_db_sync(NULL), LSMLOG_E_INVALID);
    CHECK_EQ_INT(lsmlog_db_flush_memtable(NULL), LSMLOG_E_INVALID);
    CHECK_EQ_INT(lsmlog_db_compact(NULL, NULL, 0, NULL, 0, NULL, NULL), LSMLOG_E_INVALID);
    lsmlog_db_stats st;
    CHECK_EQ_INT(lsmlog_db_get_stats(NULL, &st), LSMLOG_E_INVALID);
    lsmlog_snapshot *snap = NULL;
    CHECK_EQ_INT(lsmlog_db_snapshot(NULL, &snap), LSMLOG_E_INVALID);
    lsmlog_db_iter *it = NULL;
    CHECK_EQ_INT(lsmlog_db_iter_open(NULL, NULL, &it), LSMLOG_E_INVALID);
    lsmlog_db_snapshot_release(NULL);
    lsmlog_db_iter_close(NULL);
    lsmlog_batch_free(NULL);
}

static void case_lock_same_process(void) {
    const char *dir = tu_mkdtemp();
    lsmlog_db *a = open_db(dir, NULL), *b = (lsmlog_db *)1;
    CHECK_EQ_INT(lsmlog_db_open(dir, NULL, &b), LSMLOG_E_LOCKED);
    CHECK(b == NULL);
    CHECK(strstr(lsmlog_errmsg(), dir) != NULL);
    /* the refused open broke nothing of the first */
    put_s(a, "k", "v");
    EXPECT(a, NULL, "k", "v");
    /* read-only handles take no lock */
    lsmlog_options o = db_opts(0);
    o.readonly = 1;
    lsmlog_db *ro1 = open_db(dir, &o), *ro2 = open_db(dir, &o);
    EXPECT(ro1, NULL, "k", "v");
    EXPECT(ro2, NULL, "k", "v");
    CHECK_OK(lsmlog_db_close(ro1));
    CHECK_OK(lsmlog_db_close(ro2));
    CHECK_OK(lsmlog_db_close(a));
    /* the lock goes with the close */
    b = open_db(dir, NULL);
    EXPECT(b, NULL, "k", "v");
    CHECK_OK(lsmlog_db_close(b));
}

static void try_open_writer(const char *dir) {
    lsmlog_db *db = NULL;
    int rc = lsmlog_db_open(dir, NULL, &db);
    if (rc == LSMLOG_E_LOCKED) _exit(42);
    if (rc == LSMLOG_OK) lsmlog_db_close(db);
    _exit(rc == LSMLOG_OK ? 0 : 1);
}

static void case_lock_other_process(void) {
    const char *dir = tu_mkdtemp();
    /* the child holds the writer's lock: the parent is refused */
    child c = start_writer_child(dir);
    CHECK_OK(child_do(&c, 'o', 0));
    CHECK_OK(child_do(&c, 'p', 0));
    lsmlog_db *db = (lsmlog_db *)1;
    CHECK_EQ_INT(lsmlog_db_open(dir, NULL, &db), LSMLOG_E_LOCKED);
    CHECK(db == NULL);
    CHECK_OK(child_do(&c, 'x', 0));
    child_end(&c);
    db = open_db(dir, NULL);
    EXPECT(db, NULL, "r00042", "value-42");
    /* the parent holds it: a child is refused, and then allowed once it is closed */
    CHECK_EQ_INT(in_child(try_open_writer, dir), 42);
    CHECK_OK(lsmlog_db_close(db));
    CHECK_EQ_INT(in_child(try_open_writer, dir), 0);
}

/* ---- read-only handles ---------------------------------------------------------- */

static void check_refuses_writes(lsmlog_db *ro) {
    CHECK_EQ_INT(lsmlog_db_put(ro, "k", 1, "v", 1), LSMLOG_E_READONLY);
    CHECK_EQ_INT(lsmlog_db_put_ttl(ro, "k", 1, "v", 1, 1000), LSMLOG_E_READONLY);
    CHECK_EQ_INT(lsmlog_db_delete(ro, "k", 1), LSMLOG_E_READONLY);
    lsmlog_batch *b = NULL;
    CHECK_OK(lsmlog_batch_new(&b));
    CHECK_EQ_INT(lsmlog_db_write(ro, b), LSMLOG_E_READONLY); /* empty: still a write */
    CHECK_OK(lsmlog_batch_put(b, "k", 1, "v", 1));
    CHECK_EQ_INT(lsmlog_db_write(ro, b), LSMLOG_E_READONLY);
    lsmlog_batch_free(b);
    CHECK_EQ_INT(lsmlog_db_flush(ro), LSMLOG_E_READONLY);
    CHECK_EQ_INT(lsmlog_db_sync(ro), LSMLOG_E_READONLY);
    CHECK_EQ_INT(lsmlog_db_flush_memtable(ro), LSMLOG_E_READONLY);
    CHECK_EQ_INT(lsmlog_db_compact(ro, NULL, 0, NULL, 0, NULL, NULL), LSMLOG_E_READONLY);
    CHECK(strstr(lsmlog_errmsg(), "read-only") != NULL);
}

static int count_keys(lsmlog_db *db, const lsmlog_snapshot *snap) {
    lsmlog_db_iter_opts o;
    lsmlog_db_iter_opts_init(&o);
    o.snapshot = snap;
    lsmlog_db_iter *it = NULL;
    CHECK_OK(lsmlog_db_iter_open(db, &o, &it));
    int n = 0;
    for (first_ok((it)); lsmlog_db_iter_valid(it); next_ok(it)) n++;
    lsmlog_db_iter_close(it);
    return n;
}

static void case_readonly_follows_writer(void) {
    const char *dir = tu_mkdtemp();
    child c = start_writer_child(dir);
    CHECK_OK(child_do(&c, 'o', 0));
    lsmlog_options o = db_opts(0);
    o.readonly = 1;
    lsmlog_db *ro = open_db(dir, &o);
    check_refuses_writes(ro);
    EXPECT_NO(ro, NULL, "r00000");
    CHECK_EQ_INT(count_keys(ro, NULL), 0);

    /* each read sees what the writer wrote before it */
    CHECK_OK(child_do(&c, 'p', 0));
    EXPECT(ro, NULL, "r00000", "value-0");
    EXPECT(ro, NULL, "r00099", "value-99");
    CHECK_EQ_INT(count_keys(ro, NULL), 100);
    /* a snapshot of the read-only handle stays where it was taken */
    lsmlog_snapshot *snap = NULL;
    CHECK_OK(lsmlog_db_snapshot(ro, &snap));
    CHECK_OK(child_do(&c, 'p', 1));
    CHECK_EQ_INT(count_keys(ro, NULL), 200);
    EXPECT_NO(ro, snap, "r00150");
    EXPECT(ro, snap, "r00050", "value-50");
    CHECK_EQ_INT(count_keys(ro, snap), 100);
    lsmlog_db_snapshot_release(snap);
    /* an iterator opened before a write does not see it */
    lsmlog_db_iter *it = NULL;
    CHECK_OK(lsmlog_db_iter_open(ro, NULL, &it));
    /* tables: the writer flushes and compacts (the files under the reader change) */
    for (int i = 2; i < 8; i++) {
        CHECK_OK(child_do(&c, 'p', i));
        if (i % 2) CHECK_OK(child_do(&c, 'f', 0));
    }
    CHECK_OK(child_do(&c, 'c', 0));
    EXPECT(ro, NULL, "r00777", "value-777");
    CHECK_EQ_INT(count_keys(ro, NULL), 800);
    int n = 0;
    for (first_ok((it)); lsmlog_db_iter_valid(it); next_ok(it)) n++;
    CHECK_EQ_INT(n, 200);
    lsmlog_db_iter_close(it);
    /* deletes, in the memtable and then in tables */
    CHECK_OK(child_do(&c, 'd', 5));
    EXPECT_NO(ro, NULL, "r00005");
    CHECK_OK(child_do(&c, 'd', 6));
    CHECK_OK(child_do(&c, 'f', 0));
    CHECK_OK(child_do(&c, 'c', 0));
    EXPECT_NO(ro, NULL, "r00006");
    EXPECT_NO(ro, NULL, "r00005");
    CHECK_EQ_INT(count_keys(ro, NULL), 798);
    lsmlog_db_stats st = stats_of(ro);
    CHECK(st.levels[0].files + st.levels[1].files + st.levels[2].files > 0);

    /* a second read-only handle opened now sees the same */
    lsmlog_db *ro2 = open_db(dir, &o);
    CHECK_EQ_INT(count_keys(ro2, NULL), 798);
    CHECK_OK(lsmlog_db_close(ro2));

    CHECK_OK(child_do(&c, 'x', 0));
    child_end(&c);
    /* the writer is gone: the view stays */
    CHECK_EQ_INT(count_keys(ro, NULL), 798);
    CHECK_OK(lsmlog_db_close(ro));
}

/* ---- close with children open --------------------------------------------------- */

static void case_close_busy(void) {
    const char *dir = tu_mkdtemp();
    lsmlog_db *db = open_db(dir, NULL);
    put_s(db, "a", "1");
    lsmlog_db_iter *it = NULL;
    CHECK_OK(lsmlog_db_iter_open(db, NULL, &it));
    CHECK_EQ_INT(lsmlog_db_close(db), LSMLOG_E_BUSY);
    CHECK(strstr(lsmlog_errmsg(), "iterator") != NULL);
    /* still open and working */
    put_s(db, "b", "2");
    EXPECT(db, NULL, "b", "2");
    CHECK_OK(lsmlog_db_iter_first(it));
    CHECK(lsmlog_db_iter_valid(it));
    lsmlog_db_iter_close(it);
    lsmlog_snapshot *s1 = NULL, *s2 = NULL;
    CHECK_OK(lsmlog_db_snapshot(db, &s1));
    CHECK_OK(lsmlog_db_snapshot(db, &s2));
    CHECK_EQ_INT(lsmlog_db_close(db), LSMLOG_E_BUSY);
    lsmlog_db_snapshot_release(s1);
    CHECK_EQ_INT(lsmlog_db_close(db), LSMLOG_E_BUSY);
    EXPECT(db, s2, "a", "1");
    lsmlog_db_snapshot_release(s2);
    CHECK_OK(lsmlog_db_close(db));
    db = open_db(dir, NULL);
    EXPECT(db, NULL, "b", "2");
    CHECK_OK(lsmlog_db_close(db));
}

/* ---- keys and values ------------------------------------------------------------ */

static void check_odd_keys(lsmlog_db *db) {
    expect_bin(db, NULL, "", 0, "empty-key", 9, __LINE__);
    expect_bin(db, NULL, "e", 1, "", 0, __LINE__);
    expect_bin(db, NULL, "a", 1, "A", 1, __LINE__);
    expect_bin(db, NULL, "a\0", 2, "A0", 2, __LINE__);
    expect_bin(db, NULL, "a\0b", 3, "A0B", 3, __LINE__);
    expect_bin(db, NULL, "\0", 1, "\0\0", 2, __LINE__);
    expect_nobin(db, NULL, "a\0\0", 3, __LINE__);
    expect_nobin(db, NULL, "b", 1, __LINE__);
    expect_nobin(db, NULL, "\0\0", 2, __LINE__);
    check_all(db, NULL, "=empty-key;\\00=\\00\\00;a=A;a\\00=A0;a\\00b=A0B;e=;");
}

static void case_empty_and_zero_bytes(void) {
    const char *dir = tu_mkdtemp();
    lsmlog_db *db = open_db(dir, NULL);
    CHECK_OK(lsmlog_db_put(db, "", 0, "empty-key", 9));
    CHECK_OK(lsmlog_db_put(db, NULL, 0, "x", 1)); /* NULL with length 0 is the empty key */
    CHECK_OK(lsmlog_db_put(db, "", 0, "empty-key", 9));
    CHECK_OK(lsmlog_db_put(db, "e", 1, NULL, 0));
    CHECK_OK(lsmlog_db_put(db, "a", 1, "A", 1));
    CHECK_OK(lsmlog_db_put(db, "a\0", 2, "A0", 2));
    CHECK_OK(lsmlog_db_put(db, "a\0b", 3, "A0B", 3));
    CHECK_OK(lsmlog_db_put(db, "\0", 1, "\0\0", 2));
    CHECK_OK(lsmlog_db_put(db, "b", 1, "B", 1));
    CHECK_OK(lsmlog_db_delete(db, "b", 1));
    CHECK_OK(lsmlog_db_put(db, "\0\0", 2, "x", 1));
    CHECK_OK(lsmlog_db_delete(db, "\0\0", 2));
    /* an empty value comes back as a non-NULL pointer */
    void *v = NULL;
    size_t vl = 9;
    CHECK_OK(lsmlog_db_get(db, NULL, "e", 1, &v, &vl));
    CHECK(v != NULL && vl == 0);
    lsmlog_free(v);
    check_odd_keys(db);
    /* NULL with a length is refused */
    CHECK_EQ_INT(lsmlog_db_put(db, NULL, 1, "v", 1), LSMLOG_E_INVALID);
    CHECK_EQ_INT(lsmlog_db_put(db, "k", 1, NULL, 1), LSMLOG_E_INVALID);
    CHECK_EQ_INT(lsmlog_db_delete(db, NULL, 1), LSMLOG_E_INVALID);
    CHECK_EQ_INT(lsmlog_db_get(db, NULL, NULL, 1, NULL, NULL), LSMLOG_E_INVALID);
    /* in a table, in level 1, after reopen */
    CHECK_OK(lsmlog_db_flush_memtable(db));
    check_odd_keys(db);
    CHECK_OK(lsmlog_db_compact(db, NULL, 0, NULL, 0, NULL, NULL));
    lsmlog_db_stats st = stats_of(db);
    CHECK_EQ_U64(st.levels[0].files, 0);
    check_odd_keys(db);
    CHECK_OK(lsmlog_db_close(db));
    db = open_db(dir, NULL);
    check_odd_keys(db);
    /* a range compaction whose bounds are the empty key and a key with a zero byte */
    CHECK_OK(lsmlog_db_compact(db, "", 0, "a\0", 2, NULL, NULL));
    check_odd_keys(db);
    CHECK_OK(lsmlog_db_close(db));
}

static void case_too_big(void) {
    const char *dir = tu_mkdtemp();
    lsmlog_db *db = open_db(dir, NULL);
    size_t max = 64u << 10;
    char *k = malloc(max + 2);
    memset(k, 'k', max + 2);
    /* the largest key works, in the memtable and in a table */
    CHECK_OK(lsmlog_db_put(db, k, max, "v", 1));
    expect_bin(db, NULL, k, max, "v", 1, __LINE__);
    CHECK_EQ_INT(lsmlog_db_put(db, k, max + 1, "v", 1), LSMLOG_E_TOOBIG);
    CHECK(strstr(lsmlog_errmsg(), "key") != NULL);
    CHECK_EQ_INT(lsmlog_db_put_ttl(db, k, max + 1, "v", 1, 1000), LSMLOG_E_TOOBIG);
    CHECK_EQ_INT(lsmlog_db_delete(db, k, max + 1), LSMLOG_E_TOOBIG);
    lsmlog_batch *b = NULL;
    CHECK_OK(lsmlog_batch_new(&b));
    CHECK_OK(lsmlog_batch_put(b, "x", 1, "1", 1));
    CHECK_EQ_INT(lsmlog_batch_put(b, k, max + 1, "v", 1), LSMLOG_E_TOOBIG);
    CHECK_EQ_INT(lsmlog_batch_delete(b, k, max + 1), LSMLOG_E_TOOBIG);
    CHECK_EQ_INT(lsmlog_batch_put_ttl(b, k, max + 1, "v", 1, 10), LSMLOG_E_TOOBIG);
    CHECK_EQ_INT(lsmlog_batch_count(b), 1); /* the refused ops left the batch as it was */
    CHECK_OK(lsmlog_db_write(db, b));
    lsmlog_batch_free(b);
    EXPECT(db, NULL, "x", "1");
    CHECK_OK(lsmlog_db_flush_memtable(db));
    expect_bin(db, NULL, k, max, "v", 1, __LINE__);
    expect_nobin(db, NULL, k, max + 1, __LINE__);
    expect_nobin(db, NULL, k, max - 1, __LINE__);
    free(k);

    /* a write the write-ahead log cannot hold in one segment (64 MiB) is
     * refused, and the refusal does not stop the DB (it used to: the WAL's
     * refusal was taken for a failed memtable insert) */
    {
        size_t n = (64u << 20) + 100;
        unsigned char *big = calloc(1, n);
        CHECK(big != NULL);
        CHECK_EQ_INT(lsmlog_db_put(db, "big", 3, big, n), LSMLOG_E_TOOBIG);
        CHECK_OK(lsmlog_batch_new(&b)); /* values that fit, a batch that does not */
        for (int i = 0; i < 3; i++) CHECK_OK(lsmlog_batch_put(b, "big", 3, big, 23u << 20));
        CHECK_EQ_INT(lsmlog_db_write(db, b), LSMLOG_E_TOOBIG);
        lsmlog_batch_free(b);
        free(big);
        put_s(db, "after-64m", "ok");
        EXPECT(db, NULL, "after-64m", "ok");
        EXPECT_NO(db, NULL, "big");
    }

    /* a value far over the limit, refused without being read
     * or copied: the pages are never touched (PROT_NONE would fault) */
    size_t huge = (1u << 30) + 1;
    void *m = mmap(NULL, huge, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    CHECK(m != MAP_FAILED);
    CHECK_EQ_INT(lsmlog_db_put(db, "big", 3, m, huge), LSMLOG_E_TOOBIG);
    CHECK(strstr(lsmlog_errmsg(), "value") != NULL);
    CHECK_OK(lsmlog_batch_new(&b));
    CHECK_EQ_INT(lsmlog_batch_put(b, "big", 3, m, huge), LSMLOG_E_TOOBIG);
    CHECK_EQ_INT(lsmlog_batch_put_ttl(b, "big", 3, m, huge, 1000), LSMLOG_E_TOOBIG);
    CHECK_EQ_INT(lsmlog_batch_count(b), 0);
    lsmlog_batch_free(b);
    munmap(m, huge);
    /* a refused write does not stop the DB */
    put_s(db, "after", "ok");
    EXPECT(db, NULL, "after", "ok");
    CHECK_OK(lsmlog_db_close(db));
}

/* A 32 MiB value: through the memtable, a table, compaction and a reopen. */
static void case_big_value(void) {
    const char *dir = tu_mkdtemp();
    size_t n = 32u << 20;
    unsigned char *v = malloc(n);
    uint64_t st = tu_rand();
    tu_fill_random(&st, v, n);
    lsmlog_options o = db_opts(1 << 20);
    lsmlog_db *db = open_db(dir, &o);
    put_s(db, "a", "before");
    CHECK_OK(lsmlog_db_put(db, "big", 3, v, n));
    put_s(db, "z", "after");
    expect_bin(db, NULL, "big", 3, v, n, __LINE__);
    CHECK_OK(lsmlog_db_flush_memtable(db));
    expect_bin(db, NULL, "big", 3, v, n, __LINE__);
    EXPECT(db, NULL, "a", "before");
    EXPECT(db, NULL, "z", "after");
    /* through an iterator */
    lsmlog_db_iter *it = NULL;
    CHECK_OK(lsmlog_db_iter_open(db, NULL, &it));
    CHECK_OK(lsmlog_db_iter_seek(it, "big", 3));
    CHECK(lsmlog_db_iter_valid(it));
    size_t vl;
    const void *iv = lsmlog_db_iter_value(it, &vl);
    CHECK(vl == n && memcmp(iv, v, n) == 0);
    lsmlog_db_iter_close(it);
    CHECK_OK(lsmlog_db_close(db));
    db = open_db(dir, &o);
    expect_bin(db, NULL, "big", 3, v, n, __LINE__);
    CHECK_OK(lsmlog_db_compact(db, NULL, 0, NULL, 0, NULL, NULL));
    expect_bin(db, NULL, "big", 3, v, n, __LINE__);
    /* and unflushed, recovered from the write-ahead log at open */
    v[0] ^= 1;
    CHECK_OK(lsmlog_db_put(db, "big2", 4, v, n));
    CHECK_OK(lsmlog_db_close(db));
    db = open_db(dir, &o);
    expect_bin(db, NULL, "big2", 4, v, n, __LINE__);
    v[0] ^= 1;
    expect_bin(db, NULL, "big", 3, v, n, __LINE__);
    CHECK_OK(lsmlog_db_close(db));
    free(v);
}

/* A table that moves down a level without being rewritten (a trivial move)
 * keeps its file: level 1 over its 10 MiB sends its tables to the empty
 * level 2 as they are. (The moved table's old object used to report the
 * number obsolete when the old version went, deleting the file just moved.) */
static void case_trivial_move(void) {
    const char *dir = tu_mkdtemp();
    lsmlog_db *db = open_db(dir, NULL);
    size_t n = 1u << 20;
    unsigned char *v = malloc(n);
    char k[16];
    for (int i = 0; i < 14; i++) {
        memset(v, 'a' + i, n);
        snprintf(k, sizeof k, "m%02d", i);
        CHECK_OK(lsmlog_db_put(db, k, strlen(k), v, n));
    }
    CHECK_OK(lsmlog_db_compact(db, NULL, 0, NULL, 0, NULL, NULL)); /* 14 MiB in level 1 */
    lsmlog_db_stats st;
    double t0 = tu_mono_ms();
    do { /* the background moves tables down until level 1 is under 10 MiB */
        tu_sleep_ms(10);
        st = stats_of(db);
        CHECKF(tu_mono_ms() - t0 < 60000, "no move to level 2 in 60 s (level 1: %" PRIu64 " bytes)", st.levels[1].bytes);
    } while (st.levels[2].files == 0 || st.levels[1].bytes > (10u << 20));
    CHECK(st.trivial_moves >= 1);
    uint64_t tables = 0;
    for (int l = 0; l < LSMLOG_DB_LEVELS; l++) tables += st.levels[l].files;
    CHECKF(tu_count_suffix(dir, ".sst") == tables, "%zu .sst files for %" PRIu64 " tables",
           tu_count_suffix(dir, ".sst"), tables);
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < 14; i++) {
            memset(v, 'a' + i, n);
            snprintf(k, sizeof k, "m%02d", i);
            expect_bin(db, NULL, k, strlen(k), v, n, __LINE__);
        }
        CHECK_OK(lsmlog_db_close(db));
        db = open_db(dir, NULL);
    }
    CHECK_OK(lsmlog_db_close(db));
    free(v);
}

/* ---- batches -------------------------------------------------------------------- */

static void case_batches(void) {
    const char *dir = tu_mkdtemp();
    lsmlog_db *db = open_db(dir, NULL);
    lsmlog_batch *b = NULL;
    CHECK_EQ_INT(lsmlog_batch_new(NULL), LSMLOG_E_INVALID);
    CHECK_OK(lsmlog_batch_new(&b));
    CHECK_EQ_INT(lsmlog_batch_count(b), 0);
    CHECK_EQ_INT(lsmlog_batch_count(NULL), 0);
    /* an empty batch is a no-op */
    lsmlog_db_stats s0 = stats_of(db);
    CHECK_OK(lsmlog_db_write(db, b));
    lsmlog_db_stats s1 = stats_of(db);
    CHECK_EQ_U64(s1.last_seq, s0.last_seq);
    CHECK_EQ_INT(lsmlog_db_write(db, NULL), LSMLOG_E_INVALID);
    CHECK_EQ_INT(lsmlog_db_write(NULL, b), LSMLOG_E_INVALID);

    /* ops apply in order: the later one wins */
    CHECK_OK(lsmlog_batch_put(b, "a", 1, "1", 1));
    CHECK_OK(lsmlog_batch_put(b, "b", 1, "2", 1));
    CHECK_OK(lsmlog_batch_delete(b, "a", 1));
    CHECK_OK(lsmlog_batch_put(b, "c", 1, "3", 1));
    CHECK_OK(lsmlog_batch_put(b, "c", 1, "33", 2));
    CHECK_OK(lsmlog_batch_put(b, "", 0, "", 0));
    CHECK_OK(lsmlog_batch_put_ttl(b, "t", 1, "ttl", 3, 3600 * 1000));
    CHECK_EQ_INT(lsmlog_batch_count(b), 7);
    CHECK_OK(lsmlog_db_write(db, b));
    CHECK_EQ_INT(lsmlog_batch_count(b), 7); /* left as it was */
    EXPECT_NO(db, NULL, "a");
    EXPECT(db, NULL, "b", "2");
    EXPECT(db, NULL, "c", "33");
    EXPECT(db, NULL, "", "");
    EXPECT(db, NULL, "t", "ttl");
    lsmlog_db_stats s2 = stats_of(db);
    CHECK_EQ_U64(s2.last_seq, s1.last_seq + 7); /* one sequence number per op */

    /* reuse after a write: the same ops again; then clear and reuse */
    put_s(db, "b", "changed");
    CHECK_OK(lsmlog_db_write(db, b));
    EXPECT(db, NULL, "b", "2");
    lsmlog_batch_clear(b);
    CHECK_EQ_INT(lsmlog_batch_count(b), 0);
    CHECK_OK(lsmlog_db_write(db, b)); /* empty again: a no-op */
    CHECK_OK(lsmlog_batch_put(b, "d", 1, "4", 1));
    CHECK_OK(lsmlog_batch_delete(b, "b", 1));
    CHECK_EQ_INT(lsmlog_batch_count(b), 2);
    CHECK_OK(lsmlog_db_write(db, b));
    check_all(db, NULL, "=;c=33;d=4;t=ttl;");
    lsmlog_batch_clear(b);
    lsmlog_batch_clear(NULL);

    /* bad arguments */
    CHECK_EQ_INT(lsmlog_batch_put(NULL, "a", 1, "1", 1), LSMLOG_E_INVALID);
    CHECK_EQ_INT(lsmlog_batch_put(b, NULL, 1, "1", 1), LSMLOG_E_INVALID);
    CHECK_EQ_INT(lsmlog_batch_put(b, "a", 1, NULL, 1), LSMLOG_E_INVALID);
    CHECK_EQ_INT(lsmlog_batch_delete(b, NULL, 1), LSMLOG_E_INVALID);
    CHECK_EQ_INT(lsmlog_batch_delete(NULL, "a", 1), LSMLOG_E_INVALID);
    CHECK_EQ_INT(lsmlog_batch_put_ttl(b, "a", 1, "1", 1, 0), LSMLOG_E_INVALID);
    CHECK_EQ_INT(lsmlog_batch_put_ttl(b, "a", 1, "1", 1, -5), LSMLOG_E_INVALID);
    CHECK_EQ_INT(lsmlog_batch_put_ttl(NULL, "a", 1, "1", 1, 5), LSMLOG_E_INVALID);
    CHECK_EQ_INT(lsmlog_batch_count(b), 0);

    /* a batch is not tied to a DB */
    const char *dir2 = tu_mkdtemp();
    lsmlog_db *db2 = open_db(dir2, NULL);
    CHECK_OK(lsmlog_batch_put(b, "x", 1, "y", 1));
    CHECK_OK(lsmlog_db_write(db, b));
    CHECK_OK(lsmlog_db_write(db2, b));
    EXPECT(db, NULL, "x", "y");
    EXPECT(db2, NULL, "x", "y");
    CHECK_OK(lsmlog_db_close(db2));

    /* a big batch (many ops, over the group-commit size) is still one unit */
    lsmlog_batch_clear(b);
    char k[32], v[300];
    memset(v, 'v', sizeof v);
    for (int i = 0; i < 5000; i++) {
        snprintf(k, sizeof k, "big%05d", i);
        CHECK_OK(lsmlog_batch_put(b, k, strlen(k), v, sizeof v));
    }
    CHECK_OK(lsmlog_db_write(db, b));
    lsmlog_batch_free(b);
    CHECK_OK(lsmlog_db_close(db));
    db = open_db(dir, NULL);
    expect_bin(db, NULL, "big04999", 8, v, sizeof v, __LINE__);
    expect_bin(db, NULL, "big00000", 8, v, sizeof v, __LINE__);
    EXPECT(db, NULL, "d", "4");
    CHECK_OK(lsmlog_db_close(db));
}

/* ---- TTL ------------------------------------------------------------------------ */

/* Whether `now` is still safely before a TTL that started at t0. */
static int before_expiry(int64_t t0, int64_t ttl) {
    return tu_now_ms() < t0 + ttl - 5;
}

static void case_ttl(void) {
    const char *dir = tu_mkdtemp();
    lsmlog_db *db = open_db(dir, NULL);
    CHECK_EQ_INT(lsmlog_db_put_ttl(db, "k", 1, "v", 1, 0), LSMLOG_E_INVALID);
    CHECK_EQ_INT(lsmlog_db_put_ttl(db, "k", 1, "v", 1, -1), LSMLOG_E_INVALID);
    CHECK_EQ_INT(lsmlog_db_put_ttl(db, "k", 1, "v", 1, INT64_MIN), LSMLOG_E_INVALID);
    CHECK(strstr(lsmlog_errmsg(), "TTL") != NULL);
    EXPECT_NO(db, NULL, "k");
    /* a very long TTL does not overflow into the past */
    CHECK_OK(lsmlog_db_put_ttl(db, "forever", 7, "yes", 3, INT64_MAX));
    EXPECT(db, NULL, "forever", "yes");

    /* 50 ms: visible, then gone (get, existence test, iterator), and it hides
     * the older value of its key too. On a busy machine the "visible" checks
     * are skipped when 50 ms have already passed. */
    int checked_visible = 0;
    for (int attempt = 0; attempt < 20 && !checked_visible; attempt++) {
        put_s(db, "old", "older-value");
        int64_t t0 = tu_now_ms();
        CHECK_OK(lsmlog_db_put_ttl(db, "old", 3, "short", 5, 50));
        CHECK_OK(lsmlog_db_put_ttl(db, "t", 1, "short", 5, 50));
        void *v = NULL;
        size_t vl = 0;
        int rc = lsmlog_db_get(db, NULL, "t", 1, &v, &vl);
        int rc2 = lsmlog_db_get(db, NULL, "old", 3, NULL, NULL);
        char *all = NULL;
        {
            lsmlog_db_iter_opts o;
            lsmlog_db_iter_opts_init(&o);
            all = scan(db, &o, 0);
        }
        if (before_expiry(t0, 50)) {
            CHECK_OK(rc);
            CHECK(vl == 5 && memcmp(v, "short", 5) == 0);
            CHECK_OK(rc2);
            CHECKF(strcmp(all, "forever=yes;old=short;t=short;") == 0, "%s", all);
            checked_visible = 1;
        }
        lsmlog_free(v);
        free(all);
        tu_sleep_ms(80);
        EXPECT_NO(db, NULL, "t");
        EXPECT_NO(db, NULL, "old"); /* not "older-value" */
        check_all(db, NULL, "forever=yes;");
    }
    CHECKF(checked_visible, "the machine never let 45 ms pass between a put and a get");

    /* through a flush and a compaction */
    put_s(db, "old", "older-value");
    CHECK_OK(lsmlog_db_flush_memtable(db));
    CHECK_OK(lsmlog_db_compact(db, NULL, 0, NULL, 0, NULL, NULL)); /* "older-value" in level 1 */
    int64_t t0 = tu_now_ms();
    CHECK_OK(lsmlog_db_put_ttl(db, "old", 3, "short", 5, 300));
    CHECK_OK(lsmlog_db_put_ttl(db, "t", 1, "short", 5, 300));
    lsmlog_snapshot *snap = NULL;
    CHECK_OK(lsmlog_db_snapshot(db, &snap));
    CHECK_OK(lsmlog_db_flush_memtable(db));
    if (before_expiry(t0, 300)) {
        EXPECT(db, NULL, "t", "short");
        EXPECT(db, NULL, "old", "short");
    }
    tu_sleep_ms(350);
    EXPECT_NO(db, NULL, "t");
    EXPECT_NO(db, NULL, "old");
    EXPECT_NO(db, snap, "t"); /* an expired key is gone in every view */
    CHECK_OK(lsmlog_db_compact(db, NULL, 0, NULL, 0, NULL, NULL));
    EXPECT_NO(db, NULL, "t");
    EXPECT_NO(db, NULL, "old");
    check_all(db, NULL, "forever=yes;");
    lsmlog_db_snapshot_release(snap);
    CHECK_OK(lsmlog_db_compact(db, NULL, 0, NULL, 0, NULL, NULL));
    EXPECT_NO(db, NULL, "old");
    check_all(db, NULL, "forever=yes;");
    /* a new put of an expired key is a normal key again */
    put_s(db, "t", "again");
    EXPECT(db, NULL, "t", "again");
    /* and after reopen */
    CHECK_OK(lsmlog_db_close(db));
    db = open_db(dir, NULL);
    EXPECT_NO(db, NULL, "old");
    check_all(db, NULL, "forever=yes;t=again;");
    CHECK_OK(lsmlog_db_close(db));
}

/* ---- snapshots ------------------------------------------------------------------ */

static void case_snapshots(void) {
    const char *dir = tu_mkdtemp();
    lsmlog_options o = db_opts(128 << 10);
    lsmlog_db *db = open_db(dir, &o);
    put_s(db, "a", "a1");
    put_s(db, "b", "b1");
    put_s(db, "d", "d1");
    lsmlog_snapshot *s1 = NULL, *s2 = NULL, *s3 = NULL;
    CHECK_EQ_INT(lsmlog_db_snapshot(db, NULL), LSMLOG_E_INVALID);
    CHECK_OK(lsmlog_db_snapshot(db, &s1));
    put_s(db, "a", "a2");
    CHECK_OK(lsmlog_db_delete(db, "b", 1));
    put_s(db, "c", "c2");
    CHECK_OK(lsmlog_db_snapshot(db, &s2));
    put_s(db, "a", "a3");
    CHECK_OK(lsmlog_db_delete(db, "d", 1));
    CHECK_OK(lsmlog_db_snapshot(db, &s3));
    CHECK_OK(lsmlog_db_delete(db, "a", 1));
    put_s(db, "b", "b4");

    const char *want1 = "a=a1;b=b1;d=d1;", *want2 = "a=a2;c=c2;d=d1;", *want3 = "a=a3;c=c2;",
               *want_now = "b=b4;c=c2;";
    for (int round = 0; round < 4; round++) {
        /* 0: memtable; 1: level 0; 2: compacted; 3: reopened (snapshots are gone then) */
        if (round < 3) {
            EXPECT(db, s1, "a", "a1");
            EXPECT(db, s1, "b", "b1");
            EXPECT_NO(db, s1, "c");
            EXPECT(db, s2, "a", "a2");
            EXPECT_NO(db, s2, "b");
            EXPECT(db, s3, "a", "a3");
            EXPECT_NO(db, s3, "d");
            check_all(db, s1, want1);
            check_all(db, s2, want2);
            check_all(db, s3, want3);
        }
        EXPECT_NO(db, NULL, "a");
        EXPECT(db, NULL, "b", "b4");
        check_all(db, NULL, want_now);
        if (round == 0) CHECK_OK(lsmlog_db_flush_memtable(db));
        if (round == 1) {
            /* many more writes, flushes and compactions under the snapshots */
            char k[32], v[64];
            for (int i = 0; i < 3000; i++) {
                snprintf(k, sizeof k, "x%05d", i % 700);
                snprintf(v, sizeof v, "value %d of %d", i, i % 700);
                put_s(db, k, v);
                if (i % 700 == 0) {
                    put_s(db, "a", "noise");
                    CHECK_OK(lsmlog_db_delete(db, "a", 1));
                }
            }
            for (int i = 0; i < 700; i++) {
                snprintf(k, sizeof k, "x%05d", i);
                CHECK_OK(lsmlog_db_delete(db, k, strlen(k)));
            }
            CHECK_OK(lsmlog_db_compact(db, NULL, 0, NULL, 0, NULL, NULL));
            CHECK_OK(lsmlog_db_compact(db, "a", 1, "e", 1, NULL, NULL));
            lsmlog_db_stats st = stats_of(db);
            CHECK(st.levels[0].files == 0 && st.compactions > 0);
        }
        if (round == 2) {
            lsmlog_db_snapshot_release(s1);
            lsmlog_db_snapshot_release(s2);
            lsmlog_db_snapshot_release(s3);
            CHECK_OK(lsmlog_db_compact(db, NULL, 0, NULL, 0, NULL, NULL));
            check_all(db, NULL, want_now);
            CHECK_OK(lsmlog_db_close(db));
            db = open_db(dir, &o);
        }
    }
    /* a snapshot of another DB is refused */
    const char *dir2 = tu_mkdtemp();
    lsmlog_db *db2 = open_db(dir2, NULL);
    CHECK_OK(lsmlog_db_snapshot(db2, &s1));
    CHECK_EQ_INT(lsmlog_db_get(db, s1, "a", 1, NULL, NULL), LSMLOG_E_INVALID);
    lsmlog_db_iter_opts io;
    lsmlog_db_iter_opts_init(&io);
    io.snapshot = s1;
    lsmlog_db_iter *it = NULL;
    CHECK_EQ_INT(lsmlog_db_iter_open(db, &io, &it), LSMLOG_E_INVALID);
    lsmlog_db_snapshot_release(s1);
    CHECK_OK(lsmlog_db_close(db2));
    CHECK_OK(lsmlog_db_close(db));
}

/* ---- iterators ------------------------------------------------------------------ */

#define AT(it, want) CHECKF(strcmp(cur_key(it), (want)) == 0, "at %s, want %s", cur_key(it), (want))

static char *bounded(lsmlog_db *db, const char *start, const char *stop, const char *prefix, int reverse) {
    lsmlog_db_iter_opts o;
    lsmlog_db_iter_opts_init(&o);
    o.start = start;
    o.start_len = start ? strlen(start) : 0;
    o.stop = stop;
    o.stop_len = stop ? strlen(stop) : 0;
    o.prefix = prefix;
    o.prefix_len = prefix ? strlen(prefix) : 0;
    return scan(db, &o, reverse);
}

static void case_iterators(void) {
    const char *dir = tu_mkdtemp();
    lsmlog_db *db = open_db(dir, NULL);
    char k[16], v[16];
    for (int i = 0; i < 10; i++) {
        snprintf(k, sizeof k, "k%02d", i);
        snprintf(v, sizeof v, "v%02d", i);
        put_s(db, k, v);
    }
    CHECK_OK(lsmlog_db_delete(db, "k05", 3));
    CHECK_OK(lsmlog_db_flush_memtable(db));
    CHECK_OK(lsmlog_db_compact(db, NULL, 0, NULL, 0, NULL, NULL)); /* k00..k09 in level 1 */
    put_s(db, "k06", "v06");
    CHECK_OK(lsmlog_db_delete(db, "k06", 3));
    for (int i = 10; i < 15; i++) {
        snprintf(k, sizeof k, "k%02d", i);
        snprintf(v, sizeof v, "v%02d", i);
        put_s(db, k, v);
    }
    CHECK_OK(lsmlog_db_flush_memtable(db)); /* level 0 */
    for (int i = 15; i < 20; i++) {
        snprintf(k, sizeof k, "k%02d", i);
        snprintf(v, sizeof v, "v%02d", i);
        put_s(db, k, v);
    }
    CHECK_OK(lsmlog_db_delete(db, "k03", 3)); /* memtable */
    put_s(db, "k10", "new10");
    const char *all = "k00=v00;k01=v01;k02=v02;k04=v04;k07=v07;k08=v08;k09=v09;k10=new10;k11=v11;"
                      "k12=v12;k13=v13;k14=v14;k15=v15;k16=v16;k17=v17;k18=v18;k19=v19;";
    check_all(db, NULL, all);

    lsmlog_db_iter *it = NULL;
    CHECK_EQ_INT(lsmlog_db_iter_open(db, NULL, NULL), LSMLOG_E_INVALID);
    CHECK_OK(lsmlog_db_iter_open(db, NULL, &it));
    /* not positioned yet */
    CHECK(!lsmlog_db_iter_valid(it));
    CHECK_EQ_INT(lsmlog_db_iter_next(it), LSMLOG_E_INVALID);
    CHECK_EQ_INT(lsmlog_db_iter_prev(it), LSMLOG_E_INVALID);
    size_t len = 7;
    CHECK(lsmlog_db_iter_key(it, &len) == NULL && len == 0);
    len = 7;
    CHECK(lsmlog_db_iter_value(it, &len) == NULL && len == 0);
    CHECK(!lsmlog_db_iter_valid(NULL));
    CHECK_EQ_INT(lsmlog_db_iter_first(NULL), LSMLOG_E_INVALID);
    CHECK_EQ_INT(lsmlog_db_iter_next(NULL), LSMLOG_E_INVALID);

    CHECK_OK(lsmlog_db_iter_first(it));
    AT(it, "k00");
    CHECK_OK(lsmlog_db_iter_last(it));
    AT(it, "k19");
    CHECK_OK(lsmlog_db_iter_seek(it, "k055", 4));
    AT(it, "k07");
    CHECK_OK(lsmlog_db_iter_seek(it, "k04", 3));
    AT(it, "k04");
    CHECK_OK(lsmlog_db_iter_seek_for_prev(it, "k065", 4));
    AT(it, "k04");
    CHECK_OK(lsmlog_db_iter_seek_for_prev(it, "k07", 3));
    AT(it, "k07");
    CHECK_OK(lsmlog_db_iter_seek(it, "", 0));
    AT(it, "k00");
    CHECK_OK(lsmlog_db_iter_seek(it, NULL, 0));
    AT(it, "k00");
    CHECK_EQ_INT(lsmlog_db_iter_seek(it, NULL, 1), LSMLOG_E_INVALID);
    CHECK_EQ_INT(lsmlog_db_iter_seek_for_prev(it, NULL, 1), LSMLOG_E_INVALID);
    CHECK_OK(lsmlog_db_iter_seek_for_prev(it, "zzz", 3));
    AT(it, "k19");
    /* direction switches across the sources */
    CHECK_OK(lsmlog_db_iter_seek(it, "k10", 3));
    AT(it, "k10");
    size_t vl;
    const char *vv = lsmlog_db_iter_value(it, &vl);
    CHECK(vl == 5 && memcmp(vv, "new10", 5) == 0);
    CHECK_OK(lsmlog_db_iter_prev(it));
    AT(it, "k09");
    CHECK_OK(lsmlog_db_iter_next(it));
    AT(it, "k10");
    CHECK_OK(lsmlog_db_iter_next(it));
    AT(it, "k11");
    CHECK_OK(lsmlog_db_iter_seek(it, "k04", 3));
    CHECK_OK(lsmlog_db_iter_next(it));
    AT(it, "k07");
    CHECK_OK(lsmlog_db_iter_prev(it));
    AT(it, "k04");
    CHECK_OK(lsmlog_db_iter_prev(it));
    AT(it, "k02");
    /* off either end: invalid, and next/prev refuse */
    CHECK_OK(lsmlog_db_iter_seek(it, "k99", 3));
    CHECK(!lsmlog_db_iter_valid(it));
    CHECK_EQ_INT(lsmlog_db_iter_next(it), LSMLOG_E_INVALID);
    CHECK_EQ_INT(lsmlog_db_iter_prev(it), LSMLOG_E_INVALID);
    CHECK_OK(lsmlog_db_iter_seek_for_prev(it, "a", 1));
    CHECK(!lsmlog_db_iter_valid(it));
    CHECK_EQ_INT(lsmlog_db_iter_prev(it), LSMLOG_E_INVALID);
    CHECK_OK(lsmlog_db_iter_last(it));
    CHECK_OK(lsmlog_db_iter_next(it));
    CHECK(!lsmlog_db_iter_valid(it));
    CHECK_EQ_INT(lsmlog_db_iter_next(it), LSMLOG_E_INVALID);
    CHECK_OK(lsmlog_db_iter_first(it));
    CHECK_OK(lsmlog_db_iter_prev(it));
    CHECK(!lsmlog_db_iter_valid(it));
    /* the iterator is a view as of its opening */
    put_s(db, "k045", "later");
    CHECK_OK(lsmlog_db_delete(db, "k00", 3));
    CHECK_OK(lsmlog_db_flush_memtable(db));
    CHECK_OK(lsmlog_db_compact(db, NULL, 0, NULL, 0, NULL, NULL));
    CHECK_OK(lsmlog_db_iter_first(it));
    CHECK_STR(walk(it, 0), all);
    lsmlog_db_iter_close(it);
    const char *all2 = "k01=v01;k02=v02;k04=v04;k045=later;k07=v07;k08=v08;k09=v09;k10=new10;k11=v11;"
                       "k12=v12;k13=v13;k14=v14;k15=v15;k16=v16;k17=v17;k18=v18;k19=v19;";
    check_all(db, NULL, all2);

    /* bounds */
    CHECK_STR(bounded(db, "k02", "k08", NULL, 0), "k02=v02;k04=v04;k045=later;k07=v07;");
    CHECK_STR(bounded(db, "k02", "k08", NULL, 1), "k07=v07;k045=later;k04=v04;k02=v02;");
    CHECK_STR(bounded(db, "k03", "k07", NULL, 0), "k04=v04;k045=later;");
    CHECK_STR(bounded(db, NULL, "k02", NULL, 0), "k01=v01;");
    CHECK_STR(bounded(db, "k18", NULL, NULL, 0), "k18=v18;k19=v19;");
    CHECK_STR(bounded(db, "k18", NULL, NULL, 1), "k19=v19;k18=v18;");
    CHECK_STR(bounded(db, NULL, NULL, "k1", 0),
              "k10=new10;k11=v11;k12=v12;k13=v13;k14=v14;k15=v15;k16=v16;k17=v17;k18=v18;k19=v19;");
    CHECK_STR(bounded(db, NULL, NULL, "k04", 1), "k045=later;k04=v04;");
    CHECK_STR(bounded(db, "k15", NULL, "k1", 0), "k15=v15;k16=v16;k17=v17;k18=v18;k19=v19;");
    CHECK_STR(bounded(db, NULL, "k12", "k1", 1), "k11=v11;k10=new10;");
    CHECK_STR(bounded(db, "k0", "k2", "k1", 0),
              "k10=new10;k11=v11;k12=v12;k13=v13;k14=v14;k15=v15;k16=v16;k17=v17;k18=v18;k19=v19;");
    /* empty ranges */
    CHECK_STR(bounded(db, "k05", "k05", NULL, 0), "");
    CHECK_STR(bounded(db, "k05", "k05", NULL, 1), "");
    CHECK_STR(bounded(db, "k05", "k06", NULL, 0), ""); /* both deleted */
    CHECK_STR(bounded(db, "k10", "k02", NULL, 0), "");
    CHECK_STR(bounded(db, "k10", "k02", NULL, 1), "");
    CHECK_STR(bounded(db, NULL, NULL, "zz", 0), "");
    CHECK_STR(bounded(db, NULL, NULL, "k2", 1), "");
    CHECK_STR(bounded(db, NULL, "", NULL, 0), ""); /* stop at the empty key */
    CHECK_STR(bounded(db, "", NULL, NULL, 0), all2);
    CHECK_STR(bounded(db, "k2", NULL, "k1", 0), "");
    /* moves stay inside the bounds */
    lsmlog_db_iter_opts o;
    lsmlog_db_iter_opts_init(&o);
    o.start = "k04";
    o.start_len = 3;
    o.stop = "k10";
    o.stop_len = 3;
    CHECK_OK(lsmlog_db_iter_open(db, &o, &it));
    CHECK_OK(lsmlog_db_iter_seek(it, "k00", 3));
    AT(it, "k04");
    CHECK_OK(lsmlog_db_iter_seek(it, "k15", 3));
    CHECK(!lsmlog_db_iter_valid(it));
    CHECK_OK(lsmlog_db_iter_seek_for_prev(it, "k15", 3));
    AT(it, "k09");
    CHECK_OK(lsmlog_db_iter_next(it));
    CHECK(!lsmlog_db_iter_valid(it));
    CHECK_OK(lsmlog_db_iter_seek_for_prev(it, "k03", 3));
    CHECK(!lsmlog_db_iter_valid(it));
    CHECK_OK(lsmlog_db_iter_first(it));
    CHECK_OK(lsmlog_db_iter_prev(it));
    CHECK(!lsmlog_db_iter_valid(it));
    lsmlog_db_iter_close(it);
    /* NULL bound with a length */
    lsmlog_db_iter_opts_init(&o);
    o.start_len = 1;
    CHECK_EQ_INT(lsmlog_db_iter_open(db, &o, &it), LSMLOG_E_INVALID);
    lsmlog_db_iter_opts_init(&o);
    o.prefix_len = 1;
    CHECK_EQ_INT(lsmlog_db_iter_open(db, &o, &it), LSMLOG_E_INVALID);
    lsmlog_db_iter_opts_init(NULL);
    /* many iterators at once, over a DB that keeps changing */
    lsmlog_db_iter *its[8];
    for (int i = 0; i < 8; i++) {
        CHECK_OK(lsmlog_db_iter_open(db, NULL, &its[i]));
        snprintf(k, sizeof k, "k%02d", 20 + i);
        put_s(db, k, "x");
        if (i % 3 == 2) CHECK_OK(lsmlog_db_flush_memtable(db));
    }
    CHECK_OK(lsmlog_db_compact(db, NULL, 0, NULL, 0, NULL, NULL));
    for (int i = 0; i < 8; i++) {
        int n = 0;
        for (first_ok((its[i])); lsmlog_db_iter_valid(its[i]); next_ok(its[i]))
            n++;
        CHECK_EQ_INT(n, 17 + i);
        lsmlog_db_iter_close(its[i]);
    }
    CHECK_OK(lsmlog_db_close(db));
}

/* ---- compaction with progress --------------------------------------------------- */

typedef struct prog {
    int calls, cancel_at;
    uint64_t done[4096], total[4096];
} prog;

static int on_progress(void *ctx, uint64_t done, uint64_t total) {
    prog *p = ctx;
    if (p->calls < 4096) {
        p->done[p->calls] = done;
        p->total[p->calls] = total;
    }
    p->calls++;
    return p->cancel_at && p->calls >= p->cancel_at;
}

static void check_progress(const prog *p) {
    CHECKF(p->calls >= 1, "%d progress calls", p->calls);
    int n = p->calls < 4096 ? p->calls : 4096;
    for (int i = 0; i < n; i++) {
        CHECKF(p->done[i] <= p->total[i], "call %d: done %" PRIu64 " > total %" PRIu64, i, p->done[i], p->total[i]);
        if (i) {
            CHECKF(p->done[i] >= p->done[i - 1], "call %d: done went back (%" PRIu64 " < %" PRIu64 ")", i, p->done[i],
                   p->done[i - 1]);
            CHECKF(p->total[i] >= p->total[i - 1] || i == n - 1, "call %d: total shrank", i);
        }
    }
    CHECKF(p->done[n - 1] == p->total[n - 1], "last call: done %" PRIu64 " != total %" PRIu64, p->done[n - 1],
           p->total[n - 1]);
}

#define PK 3000
static void pkey(int i, char *k) {
    snprintf(k, 16, "p%06d", i);
}
static size_t pval(int i, int gen, unsigned char *v) {
    return tu_make_value((uint64_t)gen, (uint64_t)i, 1500, v);
}

static void check_pdata(lsmlog_db *db, const int *gen) {
    char k[16];
    unsigned char v[1600];
    for (int i = 0; i < PK; i++) {
        pkey(i, k);
        if (gen[i] < 0) {
            expect_nobin(db, NULL, k, 7, __LINE__);
        } else {
            size_t n = pval(i, gen[i], v);
            expect_bin(db, NULL, k, 7, v, n, __LINE__);
        }
    }
    int n = 0;
    for (int i = 0; i < PK; i++) n += gen[i] >= 0;
    CHECK_EQ_INT(count_keys(db, NULL), n);
}

static void write_pdata(lsmlog_db *db, int *gen, int g) {
    char k[16];
    unsigned char v[1600];
    for (int i = 0; i < PK; i++) {
        int r = (int)tu_rand_below(10);
        pkey(i, k);
        if (r < 6) {
            size_t n = pval(i, g, v);
            CHECK_OK(lsmlog_db_put(db, k, 7, v, n));
            gen[i] = g;
        } else if (r < 7) {
            CHECK_OK(lsmlog_db_delete(db, k, 7));
            gen[i] = -1;
        }
    }
}

static void case_compact_progress(void) {
    const char *dir = tu_mkdtemp();
    lsmlog_options o = db_opts(256 << 10);
    lsmlog_db *db = open_db(dir, &o);
    static int gen[PK];
    for (int i = 0; i < PK; i++) gen[i] = -1;
    static prog p;
    CHECK_EQ_INT(lsmlog_db_compact(db, NULL, 1, NULL, 0, NULL, NULL), LSMLOG_E_INVALID);
    CHECK_EQ_INT(lsmlog_db_compact(db, NULL, 0, NULL, 1, NULL, NULL), LSMLOG_E_INVALID);
    /* an empty DB: still a finished progress */
    memset(&p, 0, sizeof p);
    CHECK_OK(lsmlog_db_compact(db, NULL, 0, NULL, 0, on_progress, &p));
    check_progress(&p);

    for (int g = 0; g < 3; g++) write_pdata(db, gen, g);
    memset(&p, 0, sizeof p);
    CHECK_OK(lsmlog_db_compact(db, NULL, 0, NULL, 0, on_progress, &p));
    check_progress(&p);
    CHECKF(p.calls >= 3, "%d calls for megabytes of work", p.calls);
    lsmlog_db_stats st = stats_of(db);
    CHECK_EQ_U64(st.levels[0].files, 0);
    check_pdata(db, gen);

    /* a range */
    write_pdata(db, gen, 3);
    memset(&p, 0, sizeof p);
    CHECK_OK(lsmlog_db_compact(db, "p001000", 7, "p002000", 7, on_progress, &p));
    check_progress(&p);
    check_pdata(db, gen);

    /* canceled at once, and in the middle: the DB stays whole and usable */
    for (int cancel_at = 1; cancel_at <= 3; cancel_at++) {
        write_pdata(db, gen, 4 + cancel_at);
        memset(&p, 0, sizeof p);
        p.cancel_at = cancel_at;
        int rc = lsmlog_db_compact(db, NULL, 0, NULL, 0, on_progress, &p);
        CHECKF(rc == LSMLOG_E_CANCELED, "cancel at call %d: %d (%s), %d calls", cancel_at, rc, tu_status_name(rc),
               p.calls);
        CHECK_EQ_INT(p.calls, cancel_at);
        CHECK(strstr(lsmlog_errmsg(), "cancel") != NULL);
        check_pdata(db, gen);
        write_pdata(db, gen, 10 + cancel_at);
        check_pdata(db, gen);
    }
    /* no table is left behind by the canceled work: a full compaction and a
     * reopen find the same data */
    CHECK_OK(lsmlog_db_compact(db, NULL, 0, NULL, 0, NULL, NULL));
    check_pdata(db, gen);
    st = stats_of(db);
    CHECK_OK(lsmlog_db_close(db));
    db = open_db(dir, &o);
    check_pdata(db, gen);
    uint64_t tables = 0;
    for (int l = 0; l < LSMLOG_DB_LEVELS; l++) tables += st.levels[l].files;
    CHECKF(tu_count_suffix(dir, ".sst") == tables, "%zu .sst files, %" PRIu64 " tables", tu_count_suffix(dir, ".sst"),
           tables);
    CHECK_OK(lsmlog_db_close(db));
}

/* ---- stats ---------------------------------------------------------------------- */

static void *no_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off) {
    (void)addr, (void)len, (void)prot, (void)flags, (void)fd, (void)off;
    errno = ENOMEM;
    return MAP_FAILED;
}

static void case_stats(void) {
    const char *dir = tu_mkdtemp();
    lsmlog_db *db = open_db(dir, NULL);
    CHECK_EQ_INT(lsmlog_db_get_stats(db, NULL), LSMLOG_E_INVALID);
    lsmlog_db_stats st = stats_of(db);
    for (int l = 0; l < LSMLOG_DB_LEVELS; l++) CHECK(st.levels[l].files == 0 && st.levels[l].bytes == 0);
    CHECK(st.user_bytes == 0 && st.wal_bytes == 0 && st.write_amp == 0.0 && st.flushes == 0 && st.last_seq == 0);
    char k[16], v[128];
    memset(v, 'v', sizeof v);
    uint64_t user = 0;
    for (int i = 0; i < 2000; i += 2) { /* even keys only */
        snprintf(k, sizeof k, "s%05d", i);
        CHECK_OK(lsmlog_db_put(db, k, 6, v, 100));
        user += 106;
    }
    st = stats_of(db);
    CHECK_EQ_U64(st.user_bytes, user);
    CHECK_EQ_U64(st.last_seq, 1000);
    CHECK(st.wal_bytes >= user);
    CHECK(st.memtable_bytes > 0);
    CHECK(st.write_amp >= 1.0);
    CHECK_OK(lsmlog_db_flush_memtable(db));
    st = stats_of(db);
    CHECK_EQ_U64(st.flushes, 1);
    CHECK_EQ_U64(st.levels[0].files, 1);
    CHECK(st.levels[0].bytes > 0 && st.flush_bytes == st.levels[0].bytes);


    /* the block cache: a second read of the same block hits. Only a table
     * that could not be mapped is read through it, so the mapping fails here
     * while the table's reader opens. */
    env_ops saved = *env_get_ops(), unmapped = saved;
    unmapped.mmap = no_mmap;
    env_set_ops(&unmapped);
    EXPECT_NO(db, NULL, "s00001"); /* opens the table's reader */
    env_set_ops(&saved);
    expect_bin(db, NULL, "s00000", 6, v, 100, __LINE__);
    lsmlog_db_stats a = stats_of(db);
    expect_bin(db, NULL, "s01000", 6, v, 100, __LINE__);
    lsmlog_db_stats b = stats_of(db);
    CHECKF(b.cache_misses > a.cache_misses, "misses %" PRIu64 " -> %" PRIu64, a.cache_misses, b.cache_misses);
    expect_bin(db, NULL, "s01000", 6, v, 100, __LINE__);
    lsmlog_db_stats c = stats_of(db);
    CHECKF(c.cache_hits > b.cache_hits, "hits %" PRIu64 " -> %" PRIu64, b.cache_hits, c.cache_hits);
    CHECKF(c.cache_misses == b.cache_misses, "misses %" PRIu64 " -> %" PRIu64, b.cache_misses, c.cache_misses);

    /* bloom filters: absent keys inside the table's range are answered by the filter */
    for (int i = 1; i < 400; i += 2) {
        snprintf(k, sizeof k, "s%05d", i);
        CHECK_EQ_INT(lsmlog_db_get(db, NULL, k, 6, NULL, NULL), LSMLOG_NOTFOUND);
    }
    lsmlog_db_stats d = stats_of(db);
    CHECKF(d.bloom_useful - c.bloom_useful >= 180, "bloom_useful %" PRIu64 " -> %" PRIu64, c.bloom_useful,
           d.bloom_useful);
    CHECKF(d.bloom_useless - c.bloom_useless <= 20, "bloom_useless %" PRIu64 " -> %" PRIu64, c.bloom_useless,
           d.bloom_useless);
    /* present keys are no filter's business */
    expect_bin(db, NULL, "s00002", 6, v, 100, __LINE__);
    lsmlog_db_stats e = stats_of(db);
    CHECK_EQ_U64(e.bloom_useful, d.bloom_useful);

    /* compaction: level 1, write amplification above 1 */
    for (int i = 0; i < 2000; i += 4) {
        snprintf(k, sizeof k, "s%05d", i);
        CHECK_OK(lsmlog_db_put(db, k, 6, v, 120));
    }
    CHECK_OK(lsmlog_db_compact(db, NULL, 0, NULL, 0, NULL, NULL));
    st = stats_of(db);
    CHECK_EQ_U64(st.levels[0].files, 0);
    CHECK(st.levels[1].files >= 1 && st.levels[1].bytes > 0);
    CHECK(st.compactions >= 1);
    CHECK(st.compact_read_bytes > 0 && st.compact_write_bytes > 0);
    CHECK_EQ_U64(st.flushes, 2);
    CHECKF(st.write_amp > 1.0, "write_amp %.3f", st.write_amp);
    double want = (double)(st.wal_bytes + st.flush_bytes + st.compact_write_bytes) / (double)st.user_bytes;
    CHECKF(st.write_amp > want * 0.999 && st.write_amp < want * 1.001, "write_amp %.3f, want %.3f", st.write_amp, want);
    CHECK_EQ_U64(st.last_seq, 1500);
    /* the compacted table is mapped: read in place, past the cache */
    for (int i = 0; i < 2000; i += 50) {
        snprintf(k, sizeof k, "s%05d", i);
        CHECK_OK(lsmlog_db_get(db, NULL, k, 6, NULL, NULL));
    }
    lsmlog_db_stats f = stats_of(db);
    CHECK(f.cache_hits == st.cache_hits && f.cache_misses == st.cache_misses);
    CHECK_OK(lsmlog_db_close(db));
    /* after reopen: the levels, the sequence; counters since open start at 0 */
    db = open_db(dir, NULL);
    lsmlog_db_stats r = stats_of(db);
    CHECK_EQ_U64(r.levels[1].files, st.levels[1].files);
    CHECK_EQ_U64(r.levels[1].bytes, st.levels[1].bytes);
    CHECK_EQ_U64(r.last_seq, 1500);
    CHECK_EQ_U64(r.user_bytes, 0);
    CHECK_OK(lsmlog_db_close(db));

    /* without bloom filters nothing is answered by one */
    const char *dir2 = tu_mkdtemp();
    lsmlog_options o = db_opts(0);
    o.bloom_bits = 0;
    db = open_db(dir2, &o);
    for (int i = 0; i < 200; i += 2) {
        snprintf(k, sizeof k, "s%05d", i);
        CHECK_OK(lsmlog_db_put(db, k, 6, v, 10));
    }
    CHECK_OK(lsmlog_db_flush_memtable(db));
    for (int i = 1; i < 200; i += 2) {
        snprintf(k, sizeof k, "s%05d", i);
        CHECK_EQ_INT(lsmlog_db_get(db, NULL, k, 6, NULL, NULL), LSMLOG_NOTFOUND);
    }
    st = stats_of(db);
    CHECK_EQ_U64(st.bloom_useful, 0);
    CHECK_OK(lsmlog_db_close(db));
}

/* ---- recovery ------------------------------------------------------------------- */

#define RK 3000
static int g_durability;

static void rkey(int i, char *k) {
    snprintf(k, 16, "c%05d", i);
}
static void rval(int i, char *v) {
    snprintf(v, 32, "val-%d", i);
}

/* Writes RK keys (a flush in the middle, some deletes, a batch), then ends
 * the process without closing. */
static void write_and_vanish(const char *dir) {
    lsmlog_options o = db_opts(128 << 10);
    o.durability = g_durability;
    lsmlog_db *db = NULL;
    if (lsmlog_db_open(dir, &o, &db) != LSMLOG_OK) _exit(1);
    char k[16], v[32];
    lsmlog_batch *b = NULL;
    if (lsmlog_batch_new(&b) != LSMLOG_OK) _exit(5);
    for (int i = 0; i < RK; i++) { /* single puts, then batches of 25 (sync mode: fewer fsyncs) */
        rkey(i, k);
        rval(i, v);
        if (i < 300) {
            if (lsmlog_db_put(db, k, strlen(k), v, strlen(v)) != LSMLOG_OK) _exit(2);
        } else {
            if (lsmlog_batch_put(b, k, strlen(k), v, strlen(v)) != LSMLOG_OK) _exit(2);
            if (lsmlog_batch_count(b) == 25 || i == RK - 1) {
                if (lsmlog_db_write(db, b) != LSMLOG_OK) _exit(2);
                lsmlog_batch_clear(b);
            }
        }
        if (i == RK / 2 && lsmlog_db_flush_memtable(db) != LSMLOG_OK) _exit(3);
    }
    lsmlog_batch_clear(b);
    for (int i = 0; i < RK; i += 7) {
        rkey(i, k);
        if (lsmlog_db_delete(db, k, strlen(k)) != LSMLOG_OK) _exit(4);
    }
    lsmlog_batch_put(b, "batch-a", 7, "A", 1);
    lsmlog_batch_put(b, "batch-b", 7, "B", 1);
    if (lsmlog_db_write(db, b) != LSMLOG_OK) _exit(6);
    if (g_durability == LSMLOG_DURABILITY_BUFFERED && lsmlog_db_flush(db) != LSMLOG_OK) _exit(7);
    _exit(0); /* no close: what os durability promises must be there */
}

static void check_recovered(lsmlog_db *db, int with_after) {
    char k[16], v[32];
    for (int i = 0; i < RK; i++) {
        rkey(i, k);
        rval(i, v);
        if (i % 7 == 0) EXPECT_NO(db, NULL, k);
        else EXPECT(db, NULL, k, v);
    }
    EXPECT(db, NULL, "batch-a", "A");
    EXPECT(db, NULL, "batch-b", "B");
    /* the scan agrees with the gets, key by key */
    lsmlog_db_iter *it = NULL;
    CHECK_OK(lsmlog_db_iter_open(db, NULL, &it));
    first_ok(it);
    const char *extra[3] = {"after", "batch-a", "batch-b"};
    for (int x = !with_after; x < 3; x++) {
        CHECKF(strcmp(cur_key(it), extra[x]) == 0, "scan at %s, want %s", cur_key(it), extra[x]);
        next_ok(it);
    }
    for (int i = 0; i < RK; i++) {
        if (i % 7 == 0) continue;
        rkey(i, k);
        rval(i, v);
        CHECKF(strcmp(cur_key(it), k) == 0, "scan at %s, want %s", cur_key(it), k);
        size_t vl;
        const void *iv = lsmlog_db_iter_value(it, &vl);
        CHECKF(vl == strlen(v) && memcmp(iv, v, vl) == 0, "scan: value of %s", k);
        next_ok(it);
    }
    CHECKF(!lsmlog_db_iter_valid(it), "scan at %s after the last key", cur_key(it));
    lsmlog_db_iter_close(it);
}

/* Gets that reach the last table that may hold their key read it as the
 * likely one while recent such gets found their keys there, and not while
 * they ask for absent keys; the answers are the same either way. */
static void case_likely_last_table(void) {
    const char *dir = tu_mkdtemp();
    lsmlog_db *db = open_db(dir, NULL);
    char k[16], v[64];
    for (int i = 0; i < 3000; i += 2) {
        snprintf(k, sizeof k, "k%06d", i);
        snprintf(v, sizeof v, "value of %d", i);
        CHECK_OK(lsmlog_db_put(db, k, strlen(k), v, strlen(v)));
    }
    CHECK_OK(lsmlog_db_compact(db, NULL, 0, NULL, 0, NULL, NULL)); /* one table, in level 1 */
    CHECK_EQ_INT(atomic_load(&db->last_table_hits), 0);
    for (int round = 0; round < 2; round++) {
        for (int i = 1; i < 100; i += 2) { /* absent, inside the table's range */
            snprintf(k, sizeof k, "k%06d", i);
            EXPECT_NO(db, NULL, k);
        }
        CHECK_EQ_INT(atomic_load(&db->last_table_hits), -DB_LIKELY_SPAN);
        for (int i = 0; i < 100; i += 2) {
            snprintf(k, sizeof k, "k%06d", i);
            snprintf(v, sizeof v, "value of %d", i);
            expect_bin(db, NULL, k, strlen(k), v, strlen(v), __LINE__);
        }
        CHECK_EQ_INT(atomic_load(&db->last_table_hits), DB_LIKELY_SPAN);
    }
    CHECK_OK(lsmlog_db_close(db));
}

static void case_recovery(void) {
    int modes[3] = {LSMLOG_DURABILITY_OS, LSMLOG_DURABILITY_SYNC, LSMLOG_DURABILITY_BUFFERED};
    for (int m = 0; m < 3; m++) {
        const char *dir = tu_mkdtemp();
        g_durability = modes[m];
        CHECK_EQ_INT(in_child(write_and_vanish, dir), 0);
        lsmlog_options o = db_opts(128 << 10);
        lsmlog_db *db = open_db(dir, &o);
        const lsmlog_recovery *r = lsmlog_db_recovery(db);
        CHECK(r != NULL);
        CHECK_EQ_U64(r->truncated_bytes, 0);
        CHECK_EQ_U64(r->dropped_batches, 0);
        check_recovered(db, 0);
        lsmlog_db_stats st = stats_of(db);
        CHECK(st.last_seq >= RK);
        /* more writes after recovery, and a clean close and reopen */
        put_s(db, "after", "recovery");
        CHECK_OK(lsmlog_db_compact(db, NULL, 0, NULL, 0, NULL, NULL));
        CHECK_OK(lsmlog_db_close(db));
        db = open_db(dir, &o);
        check_recovered(db, 1);
        EXPECT(db, NULL, "after", "recovery");
        st = stats_of(db);
        CHECK_EQ_U64(st.levels[0].files, 0);
        CHECK_OK(lsmlog_db_close(db));
        /* a read-only open of what a vanished writer left */
        CHECK_EQ_INT(in_child(write_and_vanish, dir), 0);
        o.readonly = 1;
        db = open_db(dir, &o);
        check_recovered(db, 1);
        CHECK_OK(lsmlog_db_close(db));
        tu_rmtemp(dir);
    }
}

/* ---- a DB of ~30 MB, default options -------------------------------------------- */

#define BIG_KEYS 30000
#define BIG_VAL 1000

static void big_key(uint32_t i, char *k) {
    /* a scattered order: every flush covers the whole key range */
    snprintf(k, 24, "b%08x", (uint32_t)(i * 2654435761u));
}

static size_t big_val(uint32_t i, unsigned char *v) {
    size_t n = BIG_VAL - 50 + (size_t)(tu_hash2(7, i) % 100);
    uint64_t st = tu_hash2(tu_seed, i);
    tu_fill_random(&st, v, n);
    return n;
}

static void case_big_db(void) {
    const char *dir = tu_mkdtemp();
    lsmlog_db *db = open_db(dir, NULL);
    static unsigned char v[BIG_VAL + 64];
    char k[24];
    double t0 = tu_mono_ms();
    lsmlog_batch *b = NULL;
    CHECK_OK(lsmlog_batch_new(&b));
    for (uint32_t i = 0; i < BIG_KEYS; i++) {
        big_key(i, k);
        size_t n = big_val(i, v);
        CHECK_OK(lsmlog_batch_put(b, k, strlen(k), v, n));
        if (lsmlog_batch_count(b) == 50) {
            CHECK_OK(lsmlog_db_write(db, b));
            lsmlog_batch_clear(b);
        }
    }
    CHECK_OK(lsmlog_db_write(db, b));
    lsmlog_batch_free(b);
    double t1 = tu_mono_ms();
    /* background compaction takes it down to level 2: wait for it to settle */
    lsmlog_db_stats st;
    for (;;) {
        st = stats_of(db);
        int settled = st.levels[2].files > 0 && st.levels[0].files < 4 && st.levels[1].bytes <= (10u << 20);
        if (settled) break;
        CHECKF(tu_mono_ms() - t1 < 240000,
               "background compaction did not settle in 240 s: L0 %" PRIu64 " files, L1 %" PRIu64 " bytes, L2 %" PRIu64
               " files",
               st.levels[0].files, st.levels[1].bytes, st.levels[2].files);
        tu_sleep_ms(50);
    }
    double t2 = tu_mono_ms();
    CHECK(st.flushes >= 6);
    CHECK(st.compactions + st.trivial_moves >= 2);
    CHECKF(st.write_amp > 1.5, "write_amp %.2f", st.write_amp);
    uint64_t bytes = 0;
    for (int l = 0; l < LSMLOG_DB_LEVELS; l++) bytes += st.levels[l].bytes;
    CHECKF(bytes > 20u << 20 && bytes < 60u << 20, "%" PRIu64 " bytes in tables", bytes);
    /* every key, by get and by a full scan in key order */
    for (uint32_t i = 0; i < BIG_KEYS; i++) {
        big_key(i, k);
        size_t n = big_val(i, v);
        expect_bin(db, NULL, k, strlen(k), v, n, __LINE__);
    }
    CHECK_EQ_INT(count_keys(db, NULL), BIG_KEYS);
    double t3 = tu_mono_ms();
    CHECK_OK(lsmlog_db_close(db));
    db = open_db(dir, NULL);
    CHECK_EQ_INT(count_keys(db, NULL), BIG_KEYS);
    for (uint32_t i = 0; i < BIG_KEYS; i += 97) {
        big_key(i, k);
        size_t n = big_val(i, v);
        expect_bin(db, NULL, k, strlen(k), v, n, __LINE__);
    }
    CHECK_OK(lsmlog_db_close(db));
    if (getenv("VERBOSE"))
        fprintf(stderr,
                "  big DB: write %.0f ms, settle %.0f ms, verify %.0f ms; L0 %" PRIu64 " L1 %" PRIu64 " L2 %" PRIu64
                " files; flushes %" PRIu64 " compactions %" PRIu64 " moves %" PRIu64 " stalls %" PRIu64
                " wamp %.2f\n",
                t1 - t0, t2 - t1, t3 - t2, st.levels[0].files, st.levels[1].files, st.levels[2].files, st.flushes,
                st.compactions, st.trivial_moves, st.stalls, st.write_amp);
}

int main(void) {
    tu_init("test_db_api");
    signal(SIGPIPE, SIG_IGN);
    TU_CASE(case_open_errors);
    TU_CASE(case_lock_same_process);
    TU_CASE(case_lock_other_process);
    TU_CASE(case_readonly_follows_writer);
    TU_CASE(case_close_busy);
    TU_CASE(case_empty_and_zero_bytes);
    TU_CASE(case_too_big);
    TU_CASE(case_big_value);
    TU_CASE(case_trivial_move);
    TU_CASE(case_batches);
    TU_CASE(case_ttl);
    TU_CASE(case_snapshots);
    TU_CASE(case_iterators);
    TU_CASE(case_compact_progress);
    TU_CASE(case_stats);
    TU_CASE(case_likely_last_table);
    TU_CASE(case_recovery);
    TU_CASE(case_big_db);
    return tu_finish();
}
