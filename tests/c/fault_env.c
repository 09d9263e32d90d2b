/* fault_env.c — the fault-injecting file layer and allocator of fault_env.h.
 *
 * How the power-loss journal works. Every change an operation makes is
 * recorded, in time order, with what it takes to undo it:
 *  - a write: its range, the file's size before, and the bytes it replaced;
 *  - a truncation: the size before and the bytes it cut off;
 *  - a create / mkdir: the path and the new inode;
 *  - a rename: both paths, the inode moved, and a hard link (the "backup")
 *    to the file it replaced, if any;
 *  - an unlink: the path and a hard link to the removed file.
 * A successful fsync/fdatasync of a file marks its data events durable; of a
 * directory, the directory events whose parent it is. A power loss walks the
 * journal backwards undoing what is not durable (or the part the mode does
 * not keep). Data is undone through a "keeper" descriptor per file, opened
 * O_RDWR through /proc/self/fd at its first write, so that undo does not
 * depend on the file's name (it may have been renamed or unlinked since). */
#include "fault_env.h"

#include "alloc.h"
#include "env.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- state -------------------------------------------------------------- */

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static int installed;
static env_ops prev; /* the operations wrapped */
static uint64_t counts[FAULT_OP_COUNT];
static uint64_t rng = 0x5eed;

/* the failing plan */
static int fail_active, fail_err, fail_sticky;
static unsigned fail_mask;
static uint64_t fail_seen, fail_nth;
static int partial_writes, short_writes;
static uint64_t injected;
static int failed_op = -1;
static char failed_path[512];

/* the crash plan */
static int crash_active, crash_after, crash_exit;
static unsigned crash_mask;
static uint64_t crash_seen, crash_nth, crash_seed;
static fault_pl_mode crash_mode;
static int dead;
static int skip_sync;
static int no_journal; /* fault_no_journal: nothing is journaled */
static fault_pl_stats last_stats;

static const char *op_names[FAULT_OP_COUNT] = {
    "open(read)", "open(write)", "pread",  "pwrite", "pwritev", "fdatasync", "fsync", "ftruncate",
    "fstat",      "stat",        "rename", "unlink", "mkdir",   "rmdir",     "flock", "mmap",
};

const char *fault_op_name(fault_op op) {
    return op >= 0 && op < FAULT_OP_COUNT ? op_names[op] : "?";
}

const char *fault_pl_mode_name(fault_pl_mode mode) {
    switch (mode) {
    case FAULT_PL_DROP:
        return "drop";
    case FAULT_PL_TORN:
        return "torn";
    case FAULT_PL_REORDER:
        return "reorder";
    }
    return "?";
}

static uint64_t splitmix(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* ---- the journal -------------------------------------------------------- */

/* A file with unsynced data: the inode and the descriptor that undoes. */
typedef struct finode {
    dev_t dev;
    ino_t ino;
    int keeper; /* O_RDWR on the inode; -1 not yet opened, -2 impossible */
} finode;

enum { EV_WRITE, EV_TRUNC, EV_CREATE, EV_MKDIR, EV_RENAME, EV_UNLINK, EV_RMDIR };

typedef struct fevent {
    int kind;
    int durable;  /* synced: never undone */
    int doomed;   /* an fsync of it failed: lost, whatever later syncs say */
    size_t inode; /* data events: index in inodes[] */
    dev_t fdev;   /* create/mkdir/rename/unlink: the file itself */
    ino_t fino;
    uint64_t off, len; /* write: the range written; trunc: off = the new size */
    uint64_t old_size; /* data events: the size before */
    uint8_t *old;      /* the bytes replaced (write) or cut off (trunc) */
    size_t old_len;
    char *path, *path2; /* path; rename: from (path) and to (path2) */
    char *backup;       /* rename-over / unlink: a link to the old file */
    dev_t pdev, pdev2;  /* parent directory of path (and of path2) */
    ino_t pino, pino2;
} fevent;

static finode *inodes;
static size_t ninodes, inodes_cap;
static fevent *evs;
static size_t nevs, evs_cap;
static uint64_t untracked; /* changes seen but not undoable (counted at the next power loss) */
static char bakdir[256];
static uint64_t bakn;

static void *xrealloc(void *p, size_t n) {
    void *q = realloc(p, n);
    if (!q) {
        fprintf(stderr, "fault_env: out of memory\n");
        abort();
    }
    return q;
}

static char *xstrdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = xrealloc(NULL, n);
    memcpy(d, s, n);
    return d;
}

static void free_event(fevent *e) {
    free(e->old);
    free(e->path);
    free(e->path2);
    if (e->backup) unlink(e->backup);
    free(e->backup);
    memset(e, 0, sizeof *e);
}

static void journal_clear(void) {
    for (size_t i = 0; i < nevs; i++)
        free_event(&evs[i]);
    nevs = 0;
    for (size_t i = 0; i < ninodes; i++)
        if (inodes[i].keeper >= 0) close(inodes[i].keeper);
    ninodes = 0;
    untracked = 0;
    if (bakdir[0]) { /* empty now; made again when needed */
        rmdir(bakdir);
        bakdir[0] = '\0';
    }
}

static void journal_free(void) {
    journal_clear();
    free(evs);
    free(inodes);
    evs = NULL;
    inodes = NULL;
    evs_cap = inodes_cap = 0;
}

/* Drops durable events (their payload is already freed). */
static void journal_compact(void) {
    size_t k = 0;
    for (size_t i = 0; i < nevs; i++)
        if (!evs[i].durable) evs[k++] = evs[i];
    nevs = k;
}

static fevent *push_event(int kind) {
    if (nevs == evs_cap) {
        journal_compact();
        if (nevs == evs_cap) {
            evs_cap = evs_cap ? evs_cap * 2 : 256;
            evs = xrealloc(evs, evs_cap * sizeof *evs);
        }
    }
    fevent *e = &evs[nevs++];
    memset(e, 0, sizeof *e);
    e->kind = kind;
    return e;
}

/* Durable: never undone, so its payload (old bytes, paths, backup) goes. */
static void make_durable(fevent *e) {
    free_event(e);
    e->durable = 1;
}

static size_t inode_index(dev_t dev, ino_t ino) {
    for (size_t i = 0; i < ninodes; i++)
        if (inodes[i].dev == dev && inodes[i].ino == ino) return i;
    if (ninodes == inodes_cap) {
        inodes_cap = inodes_cap ? inodes_cap * 2 : 64;
        inodes = xrealloc(inodes, inodes_cap * sizeof *inodes);
    }
    inodes[ninodes] = (finode){dev, ino, -1};
    return ninodes++;
}

/* The keeper of the file behind fd (opened now if need be); -1 if impossible. */
static int keeper_for(size_t i, int fd) {
    finode *f = &inodes[i];
    if (f->keeper == -1) {
        char p[64];
        snprintf(p, sizeof p, "/proc/self/fd/%d", fd);
        f->keeper = open(p, O_RDWR | O_CLOEXEC);
        if (f->keeper < 0) f->keeper = -2;
    }
    return f->keeper >= 0 ? f->keeper : -1;
}

/* Reads [off, off+len) ∩ [0, size) of the file into a new buffer. */
static uint8_t *read_range(int fd, uint64_t off, uint64_t len, uint64_t size, size_t *got) {
    *got = 0;
    if (off >= size || len == 0) return NULL;
    size_t n = (size_t)(off + len <= size ? len : size - off);
    uint8_t *b = xrealloc(NULL, n);
    size_t done = 0;
    while (done < n) {
        ssize_t r = pread(fd, b + done, n - done, (off_t)(off + done));
        if (r <= 0) break;
        done += (size_t)r;
    }
    *got = done;
    return b;
}

/* The device and inode of dirname(path). 0, or -1. */
static int parent_id(const char *path, dev_t *dev, ino_t *ino) {
    char buf[4096];
    size_t n = strlen(path);
    if (n >= sizeof buf) return -1;
    memcpy(buf, path, n + 1);
    while (n > 1 && buf[n - 1] == '/')
        buf[--n] = '\0';
    char *slash = strrchr(buf, '/');
    if (!slash)
        strcpy(buf, ".");
    else if (slash == buf)
        buf[1] = '\0';
    else
        *slash = '\0';
    struct stat st;
    if (stat(buf, &st) != 0) return -1;
    *dev = st.st_dev;
    *ino = st.st_ino;
    return 0;
}

/* A hard link keeping the file at `path` alive; owned path, or NULL. */
static char *make_backup(const char *path) {
    if (!bakdir[0]) {
        const char *t = getenv("TMPDIR");
        snprintf(bakdir, sizeof bakdir, "%s/fault_env_XXXXXX", t && *t ? t : "/tmp");
        if (!mkdtemp(bakdir)) bakdir[0] = '\0';
    }
    char b[4352];
    if (bakdir[0]) {
        snprintf(b, sizeof b, "%s/%llu", bakdir, (unsigned long long)bakn++);
        if (link(path, b) == 0) return xstrdup(b);
    }
    /* another file system: next to the file, under a name no store uses */
    snprintf(b, sizeof b, "%s.fault_env_bak.%d.%llu", path, (int)getpid(),
             (unsigned long long)bakn++);
    if (link(path, b) == 0) return xstrdup(b);
    return NULL;
}

static void note_failed_path(int fd, const char *path) {
    if (path) {
        snprintf(failed_path, sizeof failed_path, "%s", path);
        return;
    }
    char p[64];
    snprintf(p, sizeof p, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(p, failed_path, sizeof failed_path - 1);
    failed_path[n > 0 ? n : 0] = '\0';
}

/* ---- power loss --------------------------------------------------------- */

static void zero_fill(int fd, uint64_t from, uint64_t to) {
    static const uint8_t zeros[4096];
    while (from < to) {
        size_t k = to - from < sizeof zeros ? (size_t)(to - from) : sizeof zeros;
        if (pwrite(fd, zeros, k, (off_t)from) <= 0) return;
        from += k;
    }
}

static int rm_tree(const char *path) {
    struct stat st;
    if (lstat(path, &st) != 0) return 0;
    if (!S_ISDIR(st.st_mode)) return unlink(path);
    DIR *d = opendir(path);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            char sub[4352];
            snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
            rm_tree(sub);
        }
        closedir(d);
    }
    return rmdir(path);
}

/* Undoes a write or truncation. keep: bytes of a write's new data kept from
 * its start (0: all undone; TORN); reorder: sector by sector (REORDER). */
static void undo_data(fevent *e, uint64_t keep, int zeros_tail, int reorder, uint64_t *st,
                      fault_pl_stats *s) {
    int fd = inodes[e->inode].keeper;
    if (fd < 0) {
        s->unrestorable++;
        return;
    }
    s->writes_undone++;
    if (e->kind == EV_TRUNC) {
        if (e->off < e->old_size) {
            if (ftruncate(fd, (off_t)e->old_size) != 0) s->unrestorable++;
            if (e->old_len && pwrite(fd, e->old, e->old_len, (off_t)e->off) != (ssize_t)e->old_len)
                s->unrestorable++;
            s->bytes_undone += e->old_size - e->off;
        } else if (ftruncate(fd, (off_t)e->old_size) != 0) {
            s->unrestorable++;
        }
        return;
    }
    uint64_t end = e->off + e->len;
    int grew = end > e->old_size;
    if (reorder) {
        uint64_t reverted = 0;
        for (uint64_t sec = e->off / 512 * 512; sec < end; sec += 512) {
            if (splitmix(st) & 1) continue;
            uint64_t a = sec > e->off ? sec : e->off, b = sec + 512 < end ? sec + 512 : end;
            uint64_t oe = e->off + e->old_len; /* old bytes cover [off, oe) */
            if (a < oe) {
                uint64_t k = (b < oe ? b : oe) - a;
                if (pwrite(fd, e->old + (a - e->off), (size_t)k, (off_t)a) != (ssize_t)k)
                    s->unrestorable++;
            }
            if (b > oe) zero_fill(fd, a > oe ? a : oe, b);
            reverted += b - a;
        }
        if (grew && (splitmix(st) & 1)) {
            if (ftruncate(fd, (off_t)e->old_size) != 0) s->unrestorable++;
            reverted = e->len;
        }
        s->bytes_undone += reverted;
        if (reverted == 0) {
            s->writes_undone--;
            s->writes_kept++;
        }
        return;
    }
    /* old bytes back over [off+keep, off+old_len) */
    if (keep < e->old_len && pwrite(fd, e->old + keep, e->old_len - keep, (off_t)(e->off + keep)) !=
                                 (ssize_t)(e->old_len - keep))
        s->unrestorable++;
    if (grew) {
        uint64_t keep_to = e->off + keep > e->old_size ? e->off + keep : e->old_size;
        if (zeros_tail)
            zero_fill(fd, keep_to, end); /* the size reached the disk, the data not */
        else if (ftruncate(fd, (off_t)keep_to) != 0)
            s->unrestorable++;
    }
    s->bytes_undone += e->len - keep;
}

static void undo_dir(fevent *e, fault_pl_stats *s) {
    struct stat st;
    s->dir_undone++;
    switch (e->kind) {
    case EV_CREATE:
        /* gone already (renamed away durably, say): nothing to undo here */
        if (lstat(e->path, &st) == 0 && st.st_ino == e->fino && st.st_dev == e->fdev)
            unlink(e->path);
        break;
    case EV_MKDIR:
        if (lstat(e->path, &st) == 0 && st.st_ino == e->fino && st.st_dev == e->fdev)
            rm_tree(e->path);
        break;
    case EV_RENAME:
        if (lstat(e->path2, &st) == 0 && st.st_ino == e->fino && st.st_dev == e->fdev) {
            if (rename(e->path2, e->path) != 0) s->unrestorable++;
        } else {
            s->unrestorable++;
        }
        if (e->backup) {
            if (rename(e->backup, e->path2) != 0) s->unrestorable++;
            free(e->backup);
            e->backup = NULL;
        }
        break;
    case EV_UNLINK:
        if (e->backup && lstat(e->path, &st) != 0 && rename(e->backup, e->path) == 0) {
            free(e->backup);
            e->backup = NULL;
        } else {
            s->unrestorable++;
        }
        break;
    case EV_RMDIR:
        if (mkdir(e->path, 0755) != 0) s->unrestorable++;
        break;
    }
}

static int is_data(const fevent *e) {
    return e->kind == EV_WRITE || e->kind == EV_TRUNC;
}

/* Where a torn write stops: bytes of it kept from its start, at a sector
 * boundary of the file (a sector is written whole or not at all), so a write
 * within one sector is all or nothing. */
static uint64_t tear_point(const fevent *e, uint64_t *st) {
    uint64_t first = (e->off / 512 + 1) * 512, end = e->off + e->len;
    uint64_t bounds = first < end ? (end - 1 - first) / 512 + 1 : 0; /* boundaries inside */
    uint64_t k = splitmix(st) % (bounds + 1);
    return k == 0 ? 0 : first + (k - 1) * 512 - e->off;
}

static int power_loss_locked(fault_pl_mode mode, uint64_t seed, fault_pl_stats *out) {
    fault_pl_stats s;
    memset(&s, 0, sizeof s);
    uint64_t st = seed ^ 0xA5A5A5A5DEADBEEFull;
    s.unrestorable = untracked;

    /* Decide, in time order, what survives. Per file: TORN keeps the first
     * keep[i] unsynced writes and may tear the next one; doomed writes (a
     * failed fsync) are always lost. Directory operations: TORN and REORDER
     * keep the first dir_keep non-durable ones. */
    size_t *pending = calloc(ninodes + 1, sizeof *pending),
           *keep = calloc(ninodes + 1, sizeof *keep);
    size_t *seen = calloc(ninodes + 1, sizeof *seen);
    int *torn = calloc(ninodes + 1, sizeof *torn);
    if (!pending || !keep || !seen || !torn) abort();
    size_t ndir = 0;
    for (size_t i = 0; i < nevs; i++) {
        fevent *e = &evs[i];
        if (e->durable) continue;
        if (!is_data(e))
            ndir++;
        else if (!e->doomed)
            pending[e->inode]++;
    }
    for (size_t i = 0; i < ninodes; i++) {
        if (pending[i]) s.files++;
        keep[i] = mode == FAULT_PL_TORN ? (size_t)(splitmix(&st) % (pending[i] + 1)) : 0;
        torn[i] = mode == FAULT_PL_TORN && (splitmix(&st) & 1);
    }
    /* a doomed write ends the prefix that may be kept */
    for (size_t i = 0; i < nevs; i++) {
        fevent *e = &evs[i];
        if (e->durable || !is_data(e)) continue;
        if (e->doomed && seen[e->inode] < keep[e->inode]) keep[e->inode] = seen[e->inode];
        if (!e->doomed) seen[e->inode]++;
    }
    size_t dir_keep = mode == FAULT_PL_DROP ? 0 : (size_t)(splitmix(&st) % (ndir + 1));

    /* which events are kept, by position */
    char *kept = calloc(nevs + 1, 1);
    uint64_t *tear_at = calloc(nevs + 1, sizeof *tear_at); /* bytes kept + 1; 0: no tear */
    if (!kept || !tear_at) abort();
    memset(seen, 0, (ninodes + 1) * sizeof *seen);
    size_t dir_seen = 0;
    for (size_t i = 0; i < nevs; i++) {
        fevent *e = &evs[i];
        if (e->durable) continue;
        if (!is_data(e)) {
            kept[i] = dir_seen++ < dir_keep;
            continue;
        }
        if (e->doomed) continue;
        size_t j = seen[e->inode]++;
        if (j < keep[e->inode])
            kept[i] = 1;
        else if (j == keep[e->inode] && torn[e->inode] && e->kind == EV_WRITE)
            tear_at[i] = 1 + tear_point(e, &st);
    }

    /* undo, newest first */
    for (size_t i = nevs; i-- > 0;) {
        fevent *e = &evs[i];
        if (e->durable) continue;
        if (kept[i]) {
            if (is_data(e))
                s.writes_kept++;
            else
                s.dir_kept++;
            continue;
        }
        if (!is_data(e))
            undo_dir(e, &s);
        else if (mode == FAULT_PL_REORDER && !e->doomed && e->kind == EV_WRITE)
            undo_data(e, 0, 0, 1, &st, &s);
        else if (mode == FAULT_PL_REORDER && !e->doomed && (splitmix(&st) & 1))
            s.writes_kept++; /* a truncation that made it */
        else if (tear_at[i])
            undo_data(e, tear_at[i] - 1, (int)(splitmix(&st) & 1), 0, &st, &s);
        else
            undo_data(e, 0, 0, 0, &st, &s);
    }
    free(pending);
    free(keep);
    free(seen);
    free(torn);
    free(kept);
    free(tear_at);
    journal_clear(); /* what is left is the new durable state; backups go */
    last_stats = s;
    if (out) *out = s;
    return s.unrestorable ? -1 : 0;
}

int fault_power_loss(fault_pl_mode mode, uint64_t seed, fault_pl_stats *stats) {
    pthread_mutex_lock(&mu);
    int rc = power_loss_locked(mode, seed, stats);
    pthread_mutex_unlock(&mu);
    return rc;
}

fault_pl_stats fault_pl_last(void) {
    pthread_mutex_lock(&mu);
    fault_pl_stats s = last_stats;
    pthread_mutex_unlock(&mu);
    return s;
}

/* ---- the gate every operation passes ------------------------------------ */

typedef struct gate {
    int fail; /* return -1 with errno err instead of running */
    int err;
    int crash_after; /* run, then power loss */
} gate;

static void crash_now(void) {
    /* The process dies in the middle of a call of the core, and what that
     * call holds only in a callee-saved register is still in use: spill them
     * into this frame. Valgrind memcheck's leak check at exit looks at the
     * stack of the thread that called _exit but not at its registers, and
     * reported as definitely lost the list of segments a crashed
     * truncate_before held in r14 (log.c drop_front, crashing in its
     * directory fsync), which that call frees when it returns. */
    __builtin_unwind_init();
    power_loss_locked(crash_mode, crash_seed, NULL);
    if (crash_exit >= 0) _exit(crash_exit);
    dead = 1;
}

/* With mu held: counts the operation and decides its fate. */
static gate enter(fault_op op, int fd, const char *path) {
    gate g = {0, 0, 0};
    unsigned bit = FAULT_MASK(op);
    counts[op]++;
    if (dead) {
        g.fail = 1;
        g.err = EIO;
        return g;
    }
    if (crash_active && (crash_mask & bit) && crash_seen++ == crash_nth) {
        crash_active = 0;
        if (crash_after) {
            g.crash_after = 1;
        } else {
            crash_now(); /* may not return */
            g.fail = 1;
            g.err = EIO;
            return g;
        }
    }
    if (fail_active && (fail_mask & bit)) {
        uint64_t i = fail_seen++;
        if (i == fail_nth || (fail_sticky && i > fail_nth)) {
            g.fail = 1;
            g.err = fail_err;
            injected++;
            if (failed_op < 0) {
                failed_op = (int)op;
                note_failed_path(fd, path);
            }
        }
    }
    return g;
}

/* With mu held: after the operation ran. Keeps errno. */
static void leave(const gate *g) {
    if (!g->crash_after) return;
    int e = errno;
    crash_now();
    errno = e;
}

#define LOCK() pthread_mutex_lock(&mu)
#define UNLOCK() pthread_mutex_unlock(&mu)

/* ---- data operations ---------------------------------------------------- */

/* Writes iov at off through the wrapped ops and journals it. */
static ssize_t tracked_write(int fd, const struct iovec *iov, int cnt, off_t off, int vec) {
    if (no_journal)
        return vec ? prev.pwritev(fd, iov, cnt, off)
                   : prev.pwrite(fd, iov[0].iov_base, iov[0].iov_len, off);
    struct stat st;
    uint64_t total = 0;
    for (int i = 0; i < cnt; i++)
        total += iov[i].iov_len;
    size_t ino = SIZE_MAX, old_len = 0;
    uint8_t *old = NULL;
    int kfd = -1;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
        ino = inode_index(st.st_dev, st.st_ino);
        kfd = keeper_for(ino, fd);
        if (kfd >= 0) old = read_range(kfd, (uint64_t)off, total, (uint64_t)st.st_size, &old_len);
    }
    ssize_t w = vec ? prev.pwritev(fd, iov, cnt, off)
                    : prev.pwrite(fd, iov[0].iov_base, iov[0].iov_len, off);
    if (w > 0 && ino != SIZE_MAX) {
        if (kfd < 0) {
            untracked++;
        } else {
            fevent *e = push_event(EV_WRITE);
            e->inode = ino;
            e->off = (uint64_t)off;
            e->len = (uint64_t)w;
            e->old_size = (uint64_t)st.st_size;
            e->old = old;
            e->old_len = old_len < (size_t)w ? old_len : (size_t)w;
            old = NULL;
        }
    }
    free(old);
    return w;
}

/* The write path shared by pwrite and pwritev: failure (with a partial
 * prefix), short writes, tracking. */
static ssize_t do_write(fault_op op, int fd, const struct iovec *iov, int cnt, off_t off) {
    LOCK();
    gate g = enter(op, fd, NULL);
    uint64_t total = 0;
    for (int i = 0; i < cnt; i++)
        total += iov[i].iov_len;
    uint64_t limit = total;
    if (g.fail) {
        limit = partial_writes && !dead && total > 1 ? 1 + splitmix(&rng) % (total - 1) : 0;
    } else if (short_writes && total > 1) {
        limit = 1 + splitmix(&rng) % (total - 1);
    }
    ssize_t w;
    if (limit == total) {
        w = tracked_write(fd, iov, cnt, off, op == FAULT_OP_PWRITEV);
    } else if (limit == 0) {
        w = 0;
    } else {
        /* the first `limit` bytes of the pieces */
        struct iovec small[16], *v = cnt <= 16 ? small : xrealloc(NULL, (size_t)cnt * sizeof *v);
        int k = 0;
        uint64_t left = limit;
        for (int i = 0; i < cnt && left > 0; i++) {
            v[k] = iov[i];
            if (v[k].iov_len > left) v[k].iov_len = (size_t)left;
            left -= v[k].iov_len;
            k++;
        }
        w = tracked_write(fd, v, k, off, 1);
        if (v != small) free(v);
    }
    if (g.fail) {
        errno = g.err;
        w = -1;
    }
    leave(&g);
    UNLOCK();
    return w;
}

static ssize_t w_pwrite(int fd, const void *buf, size_t n, off_t off) {
    struct iovec v = {(void *)buf, n};
    return do_write(FAULT_OP_PWRITE, fd, &v, 1, off);
}

static ssize_t w_pwritev(int fd, const struct iovec *iov, int cnt, off_t off) {
    return do_write(FAULT_OP_PWRITEV, fd, iov, cnt, off);
}

static int w_ftruncate(int fd, off_t len) {
    LOCK();
    gate g = enter(FAULT_OP_FTRUNCATE, fd, NULL);
    int r = -1;
    if (g.fail) {
        errno = g.err;
    } else if (no_journal) {
        r = prev.ftruncate(fd, len);
    } else {
        struct stat st;
        size_t ino = SIZE_MAX, old_len = 0;
        uint8_t *old = NULL;
        int kfd = -1;
        if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
            ino = inode_index(st.st_dev, st.st_ino);
            kfd = keeper_for(ino, fd);
            if (kfd >= 0 && (uint64_t)len < (uint64_t)st.st_size)
                old = read_range(kfd, (uint64_t)len, (uint64_t)st.st_size - (uint64_t)len,
                                 (uint64_t)st.st_size, &old_len);
        }
        r = prev.ftruncate(fd, len);
        if (r == 0 && ino != SIZE_MAX && (uint64_t)len != (uint64_t)st.st_size) {
            if (kfd < 0) {
                untracked++;
            } else {
                fevent *e = push_event(EV_TRUNC);
                e->inode = ino;
                e->off = (uint64_t)len;
                e->old_size = (uint64_t)st.st_size;
                e->old = old;
                e->old_len = old_len;
                old = NULL;
            }
        }
        free(old);
    }
    leave(&g);
    UNLOCK();
    return r;
}

/* A successful sync of fd: its data, or (a directory) its entries, are durable. */
static void synced(int fd) {
    struct stat st;
    if (fstat(fd, &st) != 0) return;
    for (size_t i = 0; i < nevs; i++) {
        fevent *e = &evs[i];
        if (e->durable) continue;
        if (S_ISDIR(st.st_mode) && !is_data(e)) {
            int here = (e->pdev == st.st_dev && e->pino == st.st_ino) ||
                       (e->kind == EV_RENAME && e->pdev2 == st.st_dev && e->pino2 == st.st_ino);
            if (here) make_durable(e);
        } else if (S_ISREG(st.st_mode) && is_data(e) && !e->doomed) {
            const finode *f = &inodes[e->inode];
            if (f->dev == st.st_dev && f->ino == st.st_ino) make_durable(e);
        }
    }
}

/* A failed sync of fd: its unsynced data may be gone for good (the kernel
 * marks the pages clean; PostgreSQL's "fsyncgate"), so no later sync saves it. */
static void sync_failed(int fd) {
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) return;
    for (size_t i = 0; i < nevs; i++) {
        fevent *e = &evs[i];
        if (!e->durable && is_data(e) && inodes[e->inode].dev == st.st_dev &&
            inodes[e->inode].ino == st.st_ino)
            e->doomed = 1;
    }
}

static int do_sync(fault_op op, int fd) {
    LOCK();
    gate g = enter(op, fd, NULL);
    int r;
    if (g.fail) {
        if (!dead) sync_failed(fd);
        errno = g.err;
        r = -1;
    } else {
        r = skip_sync ? 0 : op == FAULT_OP_FSYNC ? prev.fsync(fd) : prev.fdatasync(fd);
        if (r == 0) synced(fd);
    }
    leave(&g);
    UNLOCK();
    return r;
}

static int w_fdatasync(int fd) {
    return do_sync(FAULT_OP_FDATASYNC, fd);
}
static int w_fsync(int fd) {
    return do_sync(FAULT_OP_FSYNC, fd);
}

/* ---- name operations ---------------------------------------------------- */

static int w_open(const char *path, int flags, mode_t mode) {
    int writes = (flags & (O_WRONLY | O_RDWR | O_CREAT | O_TRUNC)) != 0;
    LOCK();
    gate g = enter(writes ? FAULT_OP_OPEN_WRITE : FAULT_OP_OPEN_READ, -1, path);
    int fd = -1;
    if (g.fail) {
        errno = g.err;
    } else if (no_journal) {
        fd = prev.open(path, flags, mode);
    } else {
        struct stat before, st;
        int existed = lstat(path, &before) == 0;
        uint8_t *old = NULL;
        size_t old_len = 0;
        if (existed && (flags & O_TRUNC) && S_ISREG(before.st_mode) && before.st_size > 0) {
            int rfd = open(path, O_RDONLY | O_CLOEXEC);
            if (rfd >= 0) {
                old = read_range(rfd, 0, (uint64_t)before.st_size, (uint64_t)before.st_size,
                                 &old_len);
                close(rfd);
            }
        }
        fd = prev.open(path, flags, mode);
        int e = errno;
        if (fd >= 0 && fstat(fd, &st) == 0) {
            if (!existed && (flags & O_CREAT)) {
                fevent *ev = push_event(EV_CREATE);
                ev->path = xstrdup(path);
                ev->fdev = st.st_dev;
                ev->fino = st.st_ino;
                if (parent_id(path, &ev->pdev, &ev->pino) != 0) untracked++;
            } else if (existed && (flags & O_TRUNC) && S_ISREG(st.st_mode) && before.st_size > 0) {
                size_t ino = inode_index(st.st_dev, st.st_ino);
                if (keeper_for(ino, fd) < 0) {
                    untracked++;
                } else {
                    fevent *ev = push_event(EV_TRUNC);
                    ev->inode = ino;
                    ev->off = 0;
                    ev->old_size = (uint64_t)before.st_size;
                    ev->old = old;
                    ev->old_len = old_len;
                    old = NULL;
                }
            }
        }
        free(old);
        errno = e;
    }
    leave(&g);
    UNLOCK();
    return fd;
}

static int w_rename(const char *from, const char *to) {
    LOCK();
    gate g = enter(FAULT_OP_RENAME, -1, from);
    int r = -1;
    if (g.fail) {
        errno = g.err;
    } else if (no_journal) {
        r = prev.rename(from, to);
    } else {
        struct stat sf, st;
        int fok = lstat(from, &sf) == 0, tok = lstat(to, &st) == 0;
        char *bak = NULL;
        if (fok && tok && !S_ISDIR(st.st_mode) &&
            !(st.st_ino == sf.st_ino && st.st_dev == sf.st_dev)) {
            bak = make_backup(to);
            if (!bak) untracked++;
        }
        dev_t pd = 0, pd2 = 0;
        ino_t pi = 0, pi2 = 0;
        int pok = parent_id(from, &pd, &pi) == 0 && parent_id(to, &pd2, &pi2) == 0;
        r = prev.rename(from, to);
        int e = errno;
        if (r == 0 && fok) {
            fevent *ev = push_event(EV_RENAME);
            ev->path = xstrdup(from);
            ev->path2 = xstrdup(to);
            ev->fdev = sf.st_dev;
            ev->fino = sf.st_ino;
            ev->backup = bak;
            ev->pdev = pd;
            ev->pino = pi;
            ev->pdev2 = pd2;
            ev->pino2 = pi2;
            if (!pok) untracked++;
        } else if (bak) {
            unlink(bak);
            free(bak);
        }
        errno = e;
    }
    leave(&g);
    UNLOCK();
    return r;
}

static int w_unlink(const char *path) {
    LOCK();
    gate g = enter(FAULT_OP_UNLINK, -1, path);
    int r = -1;
    if (g.fail) {
        errno = g.err;
    } else if (no_journal) {
        r = prev.unlink(path);
    } else {
        struct stat st;
        int ok = lstat(path, &st) == 0 && !S_ISDIR(st.st_mode);
        char *bak = ok ? make_backup(path) : NULL;
        dev_t pd = 0;
        ino_t pi = 0;
        int pok = parent_id(path, &pd, &pi) == 0;
        r = prev.unlink(path);
        int e = errno;
        if (r == 0 && ok) {
            fevent *ev = push_event(EV_UNLINK);
            ev->path = xstrdup(path);
            ev->fdev = st.st_dev;
            ev->fino = st.st_ino;
            ev->backup = bak;
            ev->pdev = pd;
            ev->pino = pi;
            if (!bak || !pok) untracked++;
        } else if (bak) {
            unlink(bak);
            free(bak);
        }
        errno = e;
    }
    leave(&g);
    UNLOCK();
    return r;
}

static int w_mkdir(const char *path, mode_t mode) {
    LOCK();
    gate g = enter(FAULT_OP_MKDIR, -1, path);
    int r = -1;
    if (g.fail) {
        errno = g.err;
    } else if (no_journal) {
        r = prev.mkdir(path, mode);
    } else {
        r = prev.mkdir(path, mode);
        int e = errno;
        struct stat st;
        if (r == 0 && lstat(path, &st) == 0) {
            fevent *ev = push_event(EV_MKDIR);
            ev->path = xstrdup(path);
            ev->fdev = st.st_dev;
            ev->fino = st.st_ino;
            if (parent_id(path, &ev->pdev, &ev->pino) != 0) untracked++;
        }
        errno = e;
    }
    leave(&g);
    UNLOCK();
    return r;
}

static int w_rmdir(const char *path) {
    LOCK();
    gate g = enter(FAULT_OP_RMDIR, -1, path);
    int r = -1;
    if (g.fail) {
        errno = g.err;
    } else if (no_journal) {
        r = prev.rmdir(path);
    } else {
        dev_t pd = 0;
        ino_t pi = 0;
        int pok = parent_id(path, &pd, &pi) == 0;
        r = prev.rmdir(path);
        int e = errno;
        if (r == 0) {
            fevent *ev = push_event(EV_RMDIR);
            ev->path = xstrdup(path);
            ev->pdev = pd;
            ev->pino = pi;
            if (!pok) untracked++;
        }
        errno = e;
    }
    leave(&g);
    UNLOCK();
    return r;
}

/* ---- operations that change nothing ------------------------------------- */

static ssize_t w_pread(int fd, void *buf, size_t n, off_t off) {
    LOCK();
    gate g = enter(FAULT_OP_PREAD, fd, NULL);
    ssize_t r = -1;
    if (g.fail)
        errno = g.err;
    else
        r = prev.pread(fd, buf, n, off);
    leave(&g);
    UNLOCK();
    return r;
}

static int w_fstat(int fd, struct stat *st) {
    LOCK();
    gate g = enter(FAULT_OP_FSTAT, fd, NULL);
    int r = -1;
    if (g.fail)
        errno = g.err;
    else
        r = prev.fstat(fd, st);
    leave(&g);
    UNLOCK();
    return r;
}

static int w_stat(const char *path, struct stat *st) {
    LOCK();
    gate g = enter(FAULT_OP_STAT, -1, path);
    int r = -1;
    if (g.fail)
        errno = g.err;
    else
        r = prev.stat(path, st);
    leave(&g);
    UNLOCK();
    return r;
}

static int w_flock(int fd, int op) {
    LOCK();
    gate g = enter(FAULT_OP_FLOCK, fd, NULL);
    int r = -1;
    if (g.fail)
        errno = g.err;
    else
        r = prev.flock(fd, op);
    leave(&g);
    UNLOCK();
    return r;
}

static void *w_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off) {
    LOCK();
    gate g = enter(FAULT_OP_MMAP, fd, NULL);
    void *r = MAP_FAILED;
    if (g.fail)
        errno = g.err;
    else
        r = prev.mmap(addr, len, prot, flags, fd, off);
    leave(&g);
    UNLOCK();
    return r;
}

/* close and munmap always work: the core ignores their result, and a dead
 * process's descriptors must still be released. */
static int w_close(int fd) {
    return prev.close(fd);
}
static int w_munmap(void *addr, size_t len) {
    return prev.munmap(addr, len);
}

/* ---- install ------------------------------------------------------------ */

static void reset_plans(void) {
    memset(counts, 0, sizeof counts);
    fail_active = crash_active = dead = 0;
    fail_seen = crash_seen = injected = 0;
    failed_op = -1;
    failed_path[0] = '\0';
    partial_writes = short_writes = skip_sync = no_journal = 0;
    memset(&last_stats, 0, sizeof last_stats);
}

void fault_env_install(void) {
    LOCK();
    if (!installed) prev = *env_get_ops();
    installed = 1;
    reset_plans();
    journal_clear();
    env_ops o = {w_open,  w_close,     w_pread, w_pwrite, w_pwritev, w_fdatasync,
                 w_fsync, w_ftruncate, w_fstat, w_stat,   w_rename,  w_unlink,
                 w_mkdir, w_rmdir,     w_flock, w_mmap,   w_munmap};
    env_set_ops(&o);
    UNLOCK();
}

void fault_env_uninstall(void) {
    LOCK();
    if (installed) {
        env_set_ops(&prev);
        installed = 0;
        reset_plans();
        journal_free();
    }
    UNLOCK();
}

void fault_seed(uint64_t seed) {
    LOCK();
    rng = seed;
    UNLOCK();
}

uint64_t fault_count(unsigned mask) {
    LOCK();
    uint64_t n = 0;
    for (int i = 0; i < FAULT_OP_COUNT; i++)
        if (mask & FAULT_MASK(i)) n += counts[i];
    UNLOCK();
    return n;
}

void fault_fail_nth(unsigned mask, uint64_t nth, int err, int sticky) {
    LOCK();
    fail_active = 1;
    fail_mask = mask;
    fail_nth = nth;
    fail_seen = 0;
    fail_err = err;
    fail_sticky = sticky;
    failed_op = -1;
    failed_path[0] = '\0';
    UNLOCK();
}

void fault_fail_off(void) {
    LOCK();
    fail_active = 0;
    UNLOCK();
}

void fault_partial_writes(int on) {
    LOCK();
    partial_writes = on;
    UNLOCK();
}

void fault_short_writes(int on) {
    LOCK();
    short_writes = on;
    UNLOCK();
}

uint64_t fault_injected(void) {
    LOCK();
    uint64_t n = injected;
    UNLOCK();
    return n;
}

int fault_failed_op(void) {
    LOCK();
    int op = failed_op;
    UNLOCK();
    return op;
}

const char *fault_failed_path(void) {
    return failed_path; /* written only while failing, under the lock */
}

void fault_no_journal(void) {
    LOCK();
    no_journal = 1;
    journal_clear();
    UNLOCK();
}

void fault_skip_real_sync(int on) {
    LOCK();
    skip_sync = on;
    UNLOCK();
}

void fault_crash_at(unsigned mask, uint64_t nth, int after, fault_pl_mode mode, uint64_t seed,
                    int exit_code) {
    LOCK();
    crash_active = 1;
    crash_mask = mask;
    crash_nth = nth;
    crash_seen = 0;
    crash_after = after;
    crash_mode = mode;
    crash_seed = seed;
    crash_exit = exit_code;
    UNLOCK();
}

int fault_dead(void) {
    LOCK();
    int d = dead;
    UNLOCK();
    return d;
}

/* ---- allocation --------------------------------------------------------- */

static _Atomic uint64_t alloc_count, alloc_base, alloc_injected_n;
static _Atomic uint64_t alloc_nth = UINT64_MAX;
static _Atomic int alloc_sticky;

static int alloc_fails(void) {
    uint64_t i = atomic_fetch_add(&alloc_count, 1) - atomic_load(&alloc_base);
    uint64_t nth = atomic_load(&alloc_nth);
    if (nth == UINT64_MAX) return 0;
    if (i == nth || (atomic_load(&alloc_sticky) && i > nth)) {
        atomic_fetch_add(&alloc_injected_n, 1);
        return 1;
    }
    return 0;
}

static void *fa_malloc(size_t n) {
    return alloc_fails() ? NULL : malloc(n);
}
static void *fa_realloc(void *p, size_t n) {
    return alloc_fails() ? NULL : realloc(p, n);
}
static void fa_free(void *p) {
    free(p);
}

void fault_alloc_install(void) {
    atomic_store(&alloc_nth, UINT64_MAX);
    atomic_store(&alloc_count, 0);
    atomic_store(&alloc_base, 0);
    atomic_store(&alloc_injected_n, 0);
    alloc_hooks h = {fa_malloc, fa_realloc, fa_free};
    alloc_set_hooks(&h);
}

void fault_alloc_uninstall(void) {
    alloc_set_hooks(NULL);
    atomic_store(&alloc_nth, UINT64_MAX);
}

void fault_alloc_fail_nth(uint64_t nth, int sticky) {
    atomic_store(&alloc_nth, UINT64_MAX);
    atomic_store(&alloc_sticky, sticky);
    atomic_store(&alloc_base, atomic_load(&alloc_count));
    atomic_store(&alloc_nth, nth);
}

void fault_alloc_fail_off(void) {
    atomic_store(&alloc_nth, UINT64_MAX);
}

uint64_t fault_alloc_count(void) {
    return atomic_load(&alloc_count);
}

uint64_t fault_alloc_injected(void) {
    return atomic_load(&alloc_injected_n);
}
