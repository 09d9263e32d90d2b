/* version.h — the DB's set of live tables.
 *
 * A version is an immutable snapshot of which table is in which level.
 * Readers and iterators pin the version they started with; a version pins its
 * tables; a table file becomes obsolete (and is deleted) only when no version
 * holds it, so compactions may run under any reader.
 *
 * The version set keeps the current version and the manifest: a Log in
 * <dir>/manifest-<n>/ with durability "sync", one version edit per record.
 * <dir>/CURRENT names the manifest in use. A new manifest starts with one edit
 * that describes the whole current version; CURRENT is then replaced by writing
 * CURRENT.tmp, fsyncing it, renaming it, and fsyncing the directory. */
#ifndef LSMLOG_VERSION_H
#define LSMLOG_VERSION_H

#include "version_edit.h"

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

typedef struct lsmlog_log lsmlog_log;

/* A table, shared by the versions that hold it. */
typedef struct table_file {
    file_meta meta;
    int refs;         /* versions holding it; guarded by the set's mutex */
    struct vset *set; /* told when the last version lets go */
    /* The open reader of the table, set once by whoever opens it first (the
     * DB, under its own lock); reader_free(reader) runs when the table is
     * freed. */
    void *reader;
    void (*reader_free)(void *reader);
    /* An input of a running compaction (the DB's, under its mutex): no other
     * compaction may take it. */
    int compacting;
} table_file;

typedef struct version {
    table_file **files[DB_LEVELS]; /* level 0: oldest first; others: by smallest key */
    size_t nfiles[DB_LEVELS];
    int refs;                      /* guarded by the set's mutex */
    struct vset *set;
} version;

/* Called (with the set's mutex held) when a table no longer belongs to any
 * version: the DB deletes its file and drops it from the block cache. */
typedef void (*vset_obsolete_fn)(void *ctx, uint64_t number);

typedef struct vset {
    char *dir;
    pthread_mutex_t mu;
    version *current;
    uint64_t next_file;   /* next number for a table or a manifest */
    uint64_t last_seq;
    uint64_t wal_offset;  /* WAL records below this are in tables */
    uint64_t manifest_number;
    lsmlog_log *manifest; /* NULL for read-only sets */
    int readonly;
    vset_obsolete_fn obsolete;
    void *obsolete_ctx;
} vset;

/* Opens the version set of the DB in dir: reads CURRENT and replays its
 * manifest; with `create` and no CURRENT, starts an empty set. A writer then
 * starts a fresh manifest holding the whole version (so manifests never grow
 * without bound across opens). LSMLOG_E_CORRUPT names the manifest and the
 * record; LSMLOG_E_NOENT when there is no DB and create is off. */
int vset_open(const char *dir, int create, int readonly, vset **out);
void vset_close(vset *vs);

/* Records an edit in the manifest (fdatasynced), then installs the version it
 * makes. The tables the edit adds must be on stable storage already.
 * LSMLOG_E_CORRUPT if the edit would overlap tables in a level >= 1. */
int vset_apply(vset *vs, vedit *e);

/* The current version, pinned (release with version_unref). */
version *vset_current(vset *vs);
void version_ref(version *v);
void version_unref(version *v);

/* Read-only sets: replays the manifest CURRENT names now and installs the
 * version it describes (tables already held keep their objects, so their
 * open readers carry over). */
int vset_reload(vset *vs);

/* The manifest number CURRENT names (LSMLOG_E_NOENT without CURRENT). */
int vset_read_current(const char *dir, uint64_t *number);

/* <dir>/manifest-<number>; owned (lm_free), NULL when out of memory. */
char *vset_manifest_path(const char *dir, uint64_t number);

/* A new table number. */
uint64_t vset_new_file_number(vset *vs);

/* Bytes in a level of a version. */
uint64_t version_level_bytes(const version *v, int level);

/* Repair (db_repair.c): a writer's version set holding exactly what edit e
 * adds (its next_file, last_seq and wal_offset too), recorded as the first
 * edit of a new manifest that CURRENT does not name yet. Edits applied to it
 * go to that manifest, but an open after a crash still sees what CURRENT
 * named before, until vset_publish points CURRENT at the new one. e's
 * next_file is advanced past the manifest's number. */
int vset_open_repaired(const char *dir, vedit *e, vset **out);
int vset_publish(vset *vs);

#endif
