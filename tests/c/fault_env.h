/* fault_env.h — a fault-injecting file layer and allocator for tests.
 *
 * Installed with env_set_ops (core/src/env.h) and alloc_set_hooks
 * (core/src/alloc.h), so it sees every file operation and every allocation
 * of the core, whichever store (Log or DB) makes them. It does four things:
 *
 *  1. COUNTS every operation, by kind (fault_op below).
 *  2. FAILS the Nth operation of a chosen set of kinds with an errno (EIO,
 *     ENOSPC, ...), once or from then on ("sticky"). A failing write may
 *     first write a random prefix of its bytes (what a full disk does to a
 *     long write). Separately, writes can be made SHORT: each pwrite/pwritev
 *     transfers a random 1..n-1 of its n bytes (the caller must loop).
 *  3. SIMULATES POWER LOSS. From install on, it journals what is not yet
 *     durable, and fault_power_loss() takes it back on disk:
 *       - file data: every pwrite/pwritev/ftruncate (and O_TRUNC at open)
 *         since the file's last fsync/fdatasync, with the bytes it
 *         replaced. Data becomes durable when the file (any descriptor of
 *         the same inode) is fsynced or fdatasynced;
 *       - directory entries: creates (open with O_CREAT that made the
 *         file), renames, unlinks, mkdir, rmdir. An entry becomes durable
 *         when its parent directory is fsynced (a rename across directories:
 *         when either is, as a journaling file system commits it whole).
 *     Modes (fault_pl_mode):
 *       FAULT_PL_DROP    every non-durable change is undone: each file is
 *                        back to its content at its last sync, every
 *                        non-durable create/rename/unlink/mkdir undone;
 *       FAULT_PL_TORN    per file, a random prefix of its unsynced writes
 *                        (in the order they were made) is kept and the
 *                        first dropped write may be torn at a 512-byte
 *                        sector boundary of the file (its sectors before
 *                        the tear kept, the rest old bytes, or zeros with
 *                        the size kept, as after a metadata-first
 *                        writeback); a random prefix of the non-durable
 *                        directory operations (in time order) is kept;
 *       FAULT_PL_REORDER unsynced writes reach the disk in any order, at
 *                        512-byte sector granularity: each written sector
 *                        independently keeps its new or old bytes (zeros
 *                        where the file had none), and a grown file keeps or
 *                        loses its new size; directory operations as TORN.
 *     fault_crash_at() triggers a power loss when the Nth operation of a set
 *     is reached (before it runs, or right after), then either _exit()s the
 *     process (the faithful crash: run the workload in a forked child) or
 *     makes every later operation fail with EIO ("dead").
 *  4. FAILS the Nth allocation (lm_malloc / lm_calloc / lm_realloc /
 *     lm_strdup all count), once or from then on.
 *
 * What the power-loss model does NOT model, honestly:
 *  - The state at install counts as durable (as if sync(1) ran then).
 *  - Only operations through env_ops are seen: files the test itself writes
 *    with libc, and the core's opendir/readdir (env_list_dir), are not.
 *  - Writes through a shared writable mmap are not seen (the core maps
 *    read-only). close/munmap are never failed nor counted.
 *  - An unlinked file, or a file replaced by a rename, is kept alive by a
 *    hard link in a private backup directory ($TMPDIR or /tmp, removed when
 *    the journal empties: at power loss and uninstall; a process that exits
 *    without either leaves it) so that it can be restored; if
 *    link() fails (another file system), that undo is impossible and is
 *    counted in fault_pl_stats.unrestorable. An undone rmdir comes back
 *    empty. An undone mkdir takes its whole subtree with it.
 *  - fsync of a file does not make its own directory entry durable (POSIX;
 *    ext4 often does more). The parent of a rename or unlink is identified
 *    by the inode of dirname(path) at the time of the call.
 *  - Metadata other than size and names (mode, times) is not tracked.
 *    Sectors (512 bytes, aligned in the file) are atomic: a write is torn
 *    only between sectors, so a write inside one sector (a segment header)
 *    lands whole or not at all. Disks that tear inside a sector are not
 *    modelled (the checksums would catch it; recovery might then refuse).
 *  - Data written to a file whose create is undone goes with it; data of a
 *    file whose unlink is undone comes back as it was at its last sync (or
 *    as the mode keeps it).
 *
 * Everything here is for tests: one global state, guarded by one mutex (so
 * the core's threads may call in), and install/uninstall must not race with
 * calls into the core. Randomness comes from fault_seed() (splitmix64). */
#ifndef LSMLOG_FAULT_ENV_H
#define LSMLOG_FAULT_ENV_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef enum fault_op {
    FAULT_OP_OPEN_READ,  /* open with none of O_WRONLY, O_RDWR, O_CREAT, O_TRUNC */
    FAULT_OP_OPEN_WRITE, /* open for writing or creating */
    FAULT_OP_PREAD,
    FAULT_OP_PWRITE,
    FAULT_OP_PWRITEV,
    FAULT_OP_FDATASYNC,
    FAULT_OP_FSYNC,
    FAULT_OP_FTRUNCATE,
    FAULT_OP_FSTAT,
    FAULT_OP_STAT,
    FAULT_OP_RENAME,
    FAULT_OP_UNLINK,
    FAULT_OP_MKDIR,
    FAULT_OP_RMDIR,
    FAULT_OP_FLOCK,
    FAULT_OP_MMAP,
    FAULT_OP_COUNT
} fault_op;

#define FAULT_MASK(op) (1u << (op))
/* Operations that change files or names. */
#define FAULT_MASK_MUTATING                                                                        \
    (FAULT_MASK(FAULT_OP_OPEN_WRITE) | FAULT_MASK(FAULT_OP_PWRITE) |                               \
     FAULT_MASK(FAULT_OP_PWRITEV) | FAULT_MASK(FAULT_OP_FDATASYNC) | FAULT_MASK(FAULT_OP_FSYNC) |  \
     FAULT_MASK(FAULT_OP_FTRUNCATE) | FAULT_MASK(FAULT_OP_RENAME) | FAULT_MASK(FAULT_OP_UNLINK) |  \
     FAULT_MASK(FAULT_OP_MKDIR) | FAULT_MASK(FAULT_OP_RMDIR))
#define FAULT_MASK_SYNC (FAULT_MASK(FAULT_OP_FDATASYNC) | FAULT_MASK(FAULT_OP_FSYNC))
#define FAULT_MASK_WRITE (FAULT_MASK(FAULT_OP_PWRITE) | FAULT_MASK(FAULT_OP_PWRITEV))
#define FAULT_MASK_ALL ((1u << FAULT_OP_COUNT) - 1)

/* "pwrite", "fdatasync", ... */
const char *fault_op_name(fault_op op);

/* Whether FAULT_FULL is set (and not "0"): the campaigns then try every
 * mode and every allocation, not the CI's share. */
static inline int fault_full(void) {
    const char *f = getenv("FAULT_FULL");
    return f && *f && strcmp(f, "0") != 0;
}

/* FAULT_STRIDE=k (default 1, every point): the fault and power-loss
 * campaigns try every k-th point of each sweep (fault, allocation or crash
 * point), from a start below k that the test draws from its seed, so that
 * early, middle and late points are all covered, and other ones on the next
 * seed. For slow runs: scripts/test.sh runs them so under valgrind. */
static inline uint64_t fault_stride(void) {
    const char *s = getenv("FAULT_STRIDE");
    long long k = s ? atoll(s) : 1;
    return k > 1 ? (uint64_t)k : 1;
}

/* ---- install ------------------------------------------------------------ */

/* Wraps the env operations in place now (usually the real ones). Resets
 * counters, plans and the journal: the files as they are count as durable. */
void fault_env_install(void);
/* Puts back the operations found at install; leaves the files as they are
 * (non-durable changes stay: it is not a power loss) and forgets the
 * journal. No-op when not installed. */
void fault_env_uninstall(void);

/* Seeds the randomness of partial/short writes and power loss. */
void fault_seed(uint64_t seed);

/* ---- counting ----------------------------------------------------------- */

/* Operations of the kinds in `mask` seen since install. */
uint64_t fault_count(unsigned mask);

/* ---- failing ------------------------------------------------------------ */

/* Fails the operation number `nth` (0-based, counted from this call) among
 * those in `mask` with errno `err`; with `sticky`, that one and every later
 * one in `mask`. Replaces an earlier plan. */
void fault_fail_nth(unsigned mask, uint64_t nth, int err, int sticky);
/* Cancels the plan (the counters stay). */
void fault_fail_off(void);
/* A failing pwrite/pwritev first writes a random part of its bytes. */
void fault_partial_writes(int on);
/* Every pwrite/pwritev of n > 1 bytes transfers only a random 1..n-1. */
void fault_short_writes(int on);

/* Failures returned so far (a sticky plan counts each). */
uint64_t fault_injected(void);
/* The first failure of the current plan: its kind and its path (for a
 * descriptor operation, the file it named at the time), or -1 / "". */
int fault_failed_op(void);
const char *fault_failed_path(void);

/* ---- power loss --------------------------------------------------------- */

typedef enum fault_pl_mode { FAULT_PL_DROP, FAULT_PL_TORN, FAULT_PL_REORDER } fault_pl_mode;

const char *fault_pl_mode_name(fault_pl_mode mode);

/* What the last fault_power_loss undid. */
typedef struct fault_pl_stats {
    uint64_t files;         /* files with unsynced data */
    uint64_t bytes_undone;  /* bytes of written data taken back (old bytes or zeros) */
    uint64_t writes_undone; /* writes and truncations taken back, whole or in part */
    uint64_t writes_kept;   /* unsynced writes that survived (TORN, REORDER) */
    uint64_t dir_undone;    /* creates, renames, unlinks, mkdirs, rmdirs undone */
    uint64_t dir_kept;      /* non-durable directory operations that survived */
    uint64_t unrestorable;  /* undos that could not be done (see the header comment) */
} fault_pl_stats;

/* Don't call the real fsync/fdatasync (still counted, and still making data
 * durable in the model): the simulation makes them moot, and they are slow. */
void fault_skip_real_sync(int on);

/* Until the next install, journal nothing (no saved bytes, no backups, no
 * keepers): for runs that fail operations but never lose power, which are
 * then much cheaper. fault_power_loss and fault_crash_at undo nothing. */
void fault_no_journal(void);

/* Undoes what is not durable, as `mode` says, with randomness from `seed`;
 * then what is left counts as durable. Returns 0, or -1 if some undo was
 * impossible (counted in stats). Handles must not be used on the files
 * afterwards except to close them (their mappings may now be past EOF). */
int fault_power_loss(fault_pl_mode mode, uint64_t seed, fault_pl_stats *stats);

/* When the operation number `nth` (0-based from this call) among `mask` is
 * reached: if !after, power loss before it runs; if after, it runs (its
 * result is kept) and then power loss. Then, with exit_code >= 0, _exit
 * (exit_code) at once (no atexit handlers, no stdio flush: a crash); with
 * exit_code < 0, the operation returns its result (or EIO if it did not
 * run) and every later operation fails with EIO (fault_dead() is 1). */
void fault_crash_at(unsigned mask, uint64_t nth, int after, fault_pl_mode mode, uint64_t seed,
                    int exit_code);
int fault_dead(void);
/* The stats of the last power loss (of fault_crash_at too). */
fault_pl_stats fault_pl_last(void);

/* ---- allocation --------------------------------------------------------- */

/* Installs counting allocation hooks (alloc_set_hooks); resets counters. */
void fault_alloc_install(void);
void fault_alloc_uninstall(void);
/* Fails allocation number `nth` (0-based from this call); with sticky, every
 * later one too. */
void fault_alloc_fail_nth(uint64_t nth, int sticky);
void fault_alloc_fail_off(void);
uint64_t fault_alloc_count(void);    /* allocations since install */
uint64_t fault_alloc_injected(void); /* allocations failed */

#endif
