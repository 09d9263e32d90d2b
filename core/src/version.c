/* version.c — versions, the version set, and the manifest that records it. */
#include "version.h"

#include "alloc.h"
#include "dbformat.h"
#include "env.h"
#include "lsmlog.h"
#include "status.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CURRENT_NAME "CURRENT"

/* ---- tables and versions (refs guarded by vs->mu) ----------------------- */

static void table_unref(table_file *t) {
    if (--t->refs > 0) return;
    if (t->reader && t->reader_free) t->reader_free(t->reader);
    if (t->set && t->set->obsolete) t->set->obsolete(t->set->obsolete_ctx, t->meta.number);
    file_meta_free(&t->meta);
    lm_free(t);
}

static void version_free(version *v) {
    for (int l = 0; l < DB_LEVELS; l++) {
        for (size_t i = 0; i < v->nfiles[l]; i++) table_unref(v->files[l][i]);
        lm_free(v->files[l]);
    }
    lm_free(v);
}

void version_ref(version *v) {
    pthread_mutex_lock(&v->set->mu);
    v->refs++;
    pthread_mutex_unlock(&v->set->mu);
}

void version_unref(version *v) {
    if (!v) return;
    vset *vs = v->set;
    pthread_mutex_lock(&vs->mu);
    if (--v->refs == 0) version_free(v);
    pthread_mutex_unlock(&vs->mu);
}

version *vset_current(vset *vs) {
    pthread_mutex_lock(&vs->mu);
    version *v = vs->current;
    v->refs++;
    pthread_mutex_unlock(&vs->mu);
    return v;
}

uint64_t version_level_bytes(const version *v, int level) {
    uint64_t n = 0;
    for (size_t i = 0; i < v->nfiles[level]; i++) n += v->files[level][i]->meta.size;
    return n;
}

uint64_t vset_new_file_number(vset *vs) {
    pthread_mutex_lock(&vs->mu);
    uint64_t n = vs->next_file++;
    pthread_mutex_unlock(&vs->mu);
    return n;
}

/* ---- building a version from a base and edits --------------------------- */

/* Per-level lists of tables, each holding one reference. */
typedef struct flists {
    table_file **v[DB_LEVELS];
    size_t n[DB_LEVELS], cap[DB_LEVELS];
} flists;

static void flists_release(flists *f) {
    for (int l = 0; l < DB_LEVELS; l++) {
        for (size_t i = 0; i < f->n[l]; i++) table_unref(f->v[l][i]);
        lm_free(f->v[l]);
    }
    memset(f, 0, sizeof *f);
}

static int flists_push(flists *f, int l, table_file *t) {
    if (f->n[l] == f->cap[l]) {
        size_t cap = f->cap[l] ? f->cap[l] * 2 : 8;
        table_file **v = lm_realloc(f->v[l], cap * sizeof *v);
        if (!v) return st_error(LSMLOG_E_NOMEM, "out of memory building a version");
        f->v[l] = v;
        f->cap[l] = cap;
    }
    t->refs++;
    f->v[l][f->n[l]++] = t;
    return LSMLOG_OK;
}

static int flists_from(flists *f, const version *v) {
    memset(f, 0, sizeof *f);
    for (int l = 0; v && l < DB_LEVELS; l++)
        for (size_t i = 0; i < v->nfiles[l]; i++) {
            int rc = flists_push(f, l, v->files[l][i]);
            if (rc) return rc;
        }
    return LSMLOG_OK;
}

/* Applies an edit's deletions, then its additions. A table the edit removes
 * and adds again (a trivial move to the next level) keeps its object: were a
 * new one made, the old object's last reference would go with the old
 * version and report the number obsolete, deleting the file just moved. */
static int flists_apply(vset *vs, flists *f, const vedit *e, const char *what) {
    table_file **removed = NULL;
    size_t nremoved = 0;
    int rc = LSMLOG_OK;
    if (e->ndeleted && !(removed = lm_malloc(e->ndeleted * sizeof *removed)))
        return st_error(LSMLOG_E_NOMEM, "out of memory building a version");
    for (size_t k = 0; rc == LSMLOG_OK && k < e->ndeleted; k++) {
        int l = e->deleted[k].level;
        size_t i = 0;
        while (i < f->n[l] && f->v[l][i]->meta.number != e->deleted[k].number) i++;
        if (i == f->n[l]) {
            rc = st_error(LSMLOG_E_CORRUPT, "%s: an edit removes table %llu from level %d, which does not hold it",
                          what, (unsigned long long)e->deleted[k].number, l);
            break;
        }
        removed[nremoved++] = f->v[l][i]; /* keeps the list's reference until the end */
        memmove(&f->v[l][i], &f->v[l][i + 1], (f->n[l] - i - 1) * sizeof *f->v[l]);
        f->n[l]--;
    }
    for (size_t k = 0; rc == LSMLOG_OK && k < e->nadded; k++) {
        const file_meta *m = &e->added[k];
        table_file *moved = NULL;
        for (size_t j = 0; j < nremoved && !moved; j++)
            if (removed[j]->meta.number == m->number) moved = removed[j];
        if (moved) {
            rc = flists_push(f, m->level, moved);
            continue;
        }
        table_file *t = lm_calloc(1, sizeof *t);
        uint8_t *s = lm_malloc(m->smallest_len), *g = lm_malloc(m->largest_len);
        if (!t || !s || !g) {
            lm_free(t), lm_free(s), lm_free(g);
            rc = st_error(LSMLOG_E_NOMEM, "out of memory building a version");
            break;
        }
        t->meta = *m;
        t->meta.smallest = s;
        t->meta.largest = g;
        memcpy(s, m->smallest, m->smallest_len);
        memcpy(g, m->largest, m->largest_len);
        t->set = vs;
        rc = flists_push(f, m->level, t); /* takes the only reference */
        if (rc) {
            file_meta_free(&t->meta);
            lm_free(t);
        }
    }
    for (size_t j = 0; j < nremoved; j++) table_unref(removed[j]);
    lm_free(removed);
    return rc;
}

static int by_number(const void *a, const void *b) {
    uint64_t x = (*(table_file *const *)a)->meta.number, y = (*(table_file *const *)b)->meta.number;
    return x < y ? -1 : x > y;
}

static int by_smallest(const void *a, const void *b) {
    const file_meta *x = &(*(table_file *const *)a)->meta, *y = &(*(table_file *const *)b)->meta;
    return ikey_cmp(x->smallest, x->smallest_len, y->smallest, y->smallest_len);
}

/* Sorts the lists, checks that levels >= 1 do not overlap, and makes a
 * version (refs 1) holding its own references. */
static int make_version(vset *vs, flists *f, const char *what, version **out) {
    for (int l = 0; l < DB_LEVELS; l++) {
        if (f->n[l] > 1) qsort(f->v[l], f->n[l], sizeof *f->v[l], l == 0 ? by_number : by_smallest);
        for (size_t i = 1; l > 0 && i < f->n[l]; i++) {
            const file_meta *a = &f->v[l][i - 1]->meta, *b = &f->v[l][i]->meta;
            if (ikey_cmp(a->largest, a->largest_len, b->smallest, b->smallest_len) >= 0)
                return st_error(LSMLOG_E_CORRUPT, "%s: tables %llu and %llu overlap in level %d", what,
                                (unsigned long long)a->number, (unsigned long long)b->number, l);
        }
    }
    version *v = lm_calloc(1, sizeof *v);
    if (!v) return st_error(LSMLOG_E_NOMEM, "out of memory building a version");
    v->refs = 1;
    v->set = vs;
    for (int l = 0; l < DB_LEVELS; l++) {
        if (f->n[l] && !(v->files[l] = lm_malloc(f->n[l] * sizeof *v->files[l]))) {
            version_free(v);
            return st_error(LSMLOG_E_NOMEM, "out of memory building a version");
        }
        for (size_t i = 0; i < f->n[l]; i++) {
            v->files[l][i] = f->v[l][i];
            f->v[l][i]->refs++;
            v->nfiles[l]++;
        }
    }
    *out = v;
    return LSMLOG_OK;
}

/* ---- the manifest -------------------------------------------------------- */

char *vset_manifest_path(const char *dir, uint64_t number) {
    char name[48];
    snprintf(name, sizeof name, "manifest-%llu", (unsigned long long)number);
    return env_join(dir, name);
}

int vset_read_current(const char *dir, uint64_t *number) {
    char *path = env_join(dir, CURRENT_NAME);
    if (!path) return st_error(LSMLOG_E_NOMEM, "out of memory");
    uint8_t *b;
    size_t n;
    int rc = env_read_file(path, &b, &n);
    if (rc == LSMLOG_OK) {
        char text[64] = "";
        unsigned long long v;
        char extra;
        if (n < sizeof text) memcpy(text, b, n);
        if (n >= sizeof text || sscanf(text, "manifest-%llu%c", &v, &extra) != 2 || extra != '\n')
            rc = st_error(LSMLOG_E_CORRUPT, "%s: does not name a manifest", path);
        else *number = v;
        lm_free(b);
    }
    lm_free(path);
    return rc;
}

/* Points CURRENT at manifest `number`: CURRENT.tmp written and fsynced,
 * renamed over CURRENT, the directory fsynced (env_write_file_atomic's
 * steps, done here to tell the caller how far they got). *renamed: the
 * rename was done, so CURRENT names the new manifest now (durably or not:
 * the directory's fsync may have failed after it). */
static int write_current(vset *vs, uint64_t number, int *renamed) {
    char text[48], *path = env_join(vs->dir, CURRENT_NAME), *tmp = env_join(vs->dir, CURRENT_NAME ".tmp");
    int n = snprintf(text, sizeof text, "manifest-%llu\n", (unsigned long long)number);
    int fd = -1, rc = path && tmp ? LSMLOG_OK : st_error(LSMLOG_E_NOMEM, "out of memory");
    *renamed = 0;
    if (rc == LSMLOG_OK) rc = env_open(tmp, O_WRONLY | O_CREAT | O_TRUNC, &fd);
    if (rc == LSMLOG_OK) {
        rc = env_pwrite_all(fd, text, (size_t)n, 0, tmp);
        if (rc == LSMLOG_OK && env_get_ops()->fsync(fd) != 0) rc = st_errno(LSMLOG_E_IO, "fsync %s", tmp);
        env_close(fd);
        if (rc == LSMLOG_OK) rc = env_rename(tmp, path);
        if (rc != LSMLOG_OK) env_get_ops()->unlink(tmp);
        else *renamed = 1;
        if (rc == LSMLOG_OK) rc = env_fsync_dir(vs->dir);
    }
    lm_free(path);
    lm_free(tmp);
    return rc;
}

static int append_edit(lsmlog_log *m, const vedit *e) {
    uint8_t *b;
    size_t n;
    int rc = vedit_encode(e, &b, &n);
    if (rc) return rc;
    rc = lsmlog_log_append(m, b, n, LSMLOG_NOW, NULL);
    lm_free(b);
    return rc;
}

/* Replays manifest `number` into lists and counters. */
static int replay(vset *vs, uint64_t number, flists *f) {
    char *path = vset_manifest_path(vs->dir, number);
    if (!path) return st_error(LSMLOG_E_NOMEM, "out of memory");
    lsmlog_options o;
    lsmlog_options_init(&o);
    o.create = 0;
    o.readonly = 1; /* replay only reads; a torn last edit is simply not there */
    lsmlog_log *m = NULL;
    lsmlog_log_iter *it = NULL;
    int rc = lsmlog_log_open(path, &o, &m);
    if (rc == LSMLOG_E_NOENT) rc = st_error(LSMLOG_E_CORRUPT, "%s: CURRENT names a manifest that does not exist", path);
    if (rc == LSMLOG_OK) rc = lsmlog_log_iter_open(m, NULL, &it);
    lsmlog_record r;
    while (rc == LSMLOG_OK && (rc = lsmlog_log_iter_next(it, &r)) == LSMLOG_OK) {
        char what[600];
        snprintf(what, sizeof what, "%s record %llu", path, (unsigned long long)r.offset);
        vedit e;
        rc = vedit_decode(&e, r.value, r.len, what);
        if (rc == LSMLOG_OK) {
            rc = flists_apply(vs, f, &e, what);
            if (e.has_next_file && e.next_file > vs->next_file) vs->next_file = e.next_file;
            if (e.has_last_seq && e.last_seq > vs->last_seq) vs->last_seq = e.last_seq;
            if (e.has_wal_offset) vs->wal_offset = e.wal_offset;
            vedit_free(&e);
        }
    }
    if (rc == LSMLOG_NOTFOUND) rc = LSMLOG_OK;
    lsmlog_log_iter_close(it);
    lsmlog_log_close(m);
    lm_free(path);
    return rc;
}

/* Starts manifest `number` holding the whole current version, points CURRENT
 * at it, and removes the previous one. */
static int new_manifest(vset *vs) {
    uint64_t number = vs->next_file++;
    char *path = vset_manifest_path(vs->dir, number);
    if (!path) return st_error(LSMLOG_E_NOMEM, "out of memory");
    vedit e;
    vedit_init(&e);
    vedit_set_next_file(&e, vs->next_file);
    vedit_set_last_seq(&e, vs->last_seq);
    vedit_set_wal_offset(&e, vs->wal_offset);
    int rc = LSMLOG_OK;
    for (int l = 0; rc == LSMLOG_OK && l < DB_LEVELS; l++)
        for (size_t i = 0; rc == LSMLOG_OK && i < vs->current->nfiles[l]; i++) {
            const file_meta *m = &vs->current->files[l][i]->meta;
            rc = vedit_add_file(&e, l, m->number, m->size, m->smallest, m->smallest_len, m->largest,
                                m->largest_len, m->smallest_seq, m->largest_seq);
        }
    lsmlog_options o;
    lsmlog_options_init(&o);
    o.durability = LSMLOG_DURABILITY_SYNC;
    lsmlog_log *m = NULL;
    env_remove_dir(path); /* leftovers of a crash before CURRENT named it */
    if (rc == LSMLOG_OK) rc = lsmlog_log_open(path, &o, &m);
    if (rc == LSMLOG_OK) rc = append_edit(m, &e);
    int renamed = 0;
    if (rc == LSMLOG_OK) rc = write_current(vs, number, &renamed);
    vedit_free(&e);
    if (rc) {
        lsmlog_log_close(m);
        /* once renamed, CURRENT names the new manifest: it stays (and so
         * does the old one, which CURRENT names again if the rename is lost) */
        if (!renamed) env_remove_dir(path);
        lm_free(path);
        return rc;
    }
    lsmlog_log_close(vs->manifest);
    if (vs->manifest_number) { /* the one CURRENT named until now (numbers start at 1) */
        char *old = vset_manifest_path(vs->dir, vs->manifest_number);
        if (old) env_remove_dir(old);
        lm_free(old);
    }
    vs->manifest = m;
    vs->manifest_number = number;
    lm_free(path);
    return LSMLOG_OK;
}

int vset_open(const char *dir, int create, int readonly, vset **out) {
    *out = NULL;
    vset *vs = lm_calloc(1, sizeof *vs);
    if (!vs || !(vs->dir = lm_strdup(dir))) {
        lm_free(vs);
        return st_error(LSMLOG_E_NOMEM, "out of memory");
    }
    pthread_mutex_init(&vs->mu, NULL);
    vs->readonly = readonly;
    vs->next_file = 1;
    flists f;
    memset(&f, 0, sizeof f);
    uint64_t number = 0;
    int rc = vset_read_current(dir, &number);
    if (rc == LSMLOG_E_NOENT && create && !readonly) {
        rc = LSMLOG_OK; /* a new DB: an empty version */
    } else if (rc == LSMLOG_E_NOENT) {
        rc = st_error(LSMLOG_E_NOENT, "%s: no DB here (no %s)", dir, CURRENT_NAME);
    } else if (rc == LSMLOG_OK) {
        vs->manifest_number = number;
        if (number >= vs->next_file) vs->next_file = number + 1;
        rc = replay(vs, number, &f);
    }
    if (rc == LSMLOG_OK) rc = make_version(vs, &f, dir, &vs->current);
    flists_release(&f);
    if (rc == LSMLOG_OK && !readonly) rc = new_manifest(vs);
    if (rc) {
        vset_close(vs);
        return rc;
    }
    *out = vs;
    return LSMLOG_OK;
}

void vset_close(vset *vs) {
    if (!vs) return;
    lsmlog_log_close(vs->manifest);
    if (vs->current) {
        vs->obsolete = NULL; /* closing deletes nothing */
        pthread_mutex_lock(&vs->mu);
        if (--vs->current->refs == 0) version_free(vs->current);
        pthread_mutex_unlock(&vs->mu);
    }
    pthread_mutex_destroy(&vs->mu);
    lm_free(vs->dir);
    lm_free(vs);
}

/* The tables of a version that will not be installed which the current
 * version does not hold either: the edit's new tables (vs->mu held). Their
 * files are not obsolete but the caller's: it may remove them, and must not
 * when the edit reached the manifest although its fsync failed. So they are
 * freed without a word to vs->obsolete. */
static void disown_new(vset *vs, table_file **t, size_t n) {
    for (size_t i = 0; i < n; i++) {
        int held = 0;
        for (int l = 0; l < DB_LEVELS && !held; l++)
            for (size_t j = 0; j < vs->current->nfiles[l] && !held; j++) held = vs->current->files[l][j] == t[i];
        if (!held) t[i]->set = NULL;
    }
}

int vset_apply(vset *vs, vedit *e) {
    if (vs->readonly) return st_error(LSMLOG_E_READONLY, "%s: the DB is open read-only", vs->dir);
    pthread_mutex_lock(&vs->mu);
    if (!e->has_next_file) vedit_set_next_file(e, vs->next_file);
    if (!e->has_last_seq) vedit_set_last_seq(e, vs->last_seq);
    flists f;
    version *v = NULL;
    char what[600];
    snprintf(what, sizeof what, "%s: version edit", vs->dir);
    int rc = flists_from(&f, vs->current);
    if (rc == LSMLOG_OK) rc = flists_apply(vs, &f, e, what);
    if (rc == LSMLOG_OK) rc = make_version(vs, &f, what, &v);
    for (int l = 0; rc != LSMLOG_OK && l < DB_LEVELS; l++) disown_new(vs, f.v[l], f.n[l]);
    flists_release(&f);
    pthread_mutex_unlock(&vs->mu);
    /* the edit is durable before the version that depends on it is used */
    if (rc == LSMLOG_OK) rc = append_edit(vs->manifest, e);
    pthread_mutex_lock(&vs->mu);
    if (rc == LSMLOG_OK) {
        version *old = vs->current;
        vs->current = v;
        if (e->next_file > vs->next_file) vs->next_file = e->next_file;
        if (e->last_seq > vs->last_seq) vs->last_seq = e->last_seq;
        if (e->has_wal_offset) vs->wal_offset = e->wal_offset;
        if (--old->refs == 0) version_free(old);
    } else if (v) {
        for (int l = 0; l < DB_LEVELS; l++) disown_new(vs, v->files[l], v->nfiles[l]);
        v->refs = 0;
        version_free(v);
    }
    pthread_mutex_unlock(&vs->mu);
    return rc;
}

int vset_reload(vset *vs) {
    if (!vs->readonly) return st_error(LSMLOG_E_INVALID, "%s: only a read-only version set reloads", vs->dir);
    uint64_t number = 0;
    int rc = vset_read_current(vs->dir, &number);
    if (rc) return rc;
    flists f;
    memset(&f, 0, sizeof f);
    rc = replay(vs, number, &f);
    pthread_mutex_lock(&vs->mu);
    /* tables the old version holds keep their objects (and open readers) */
    for (int l = 0; rc == LSMLOG_OK && l < DB_LEVELS; l++)
        for (size_t i = 0; i < f.n[l]; i++)
            for (int ol = 0; ol < DB_LEVELS; ol++)
                for (size_t j = 0; j < vs->current->nfiles[ol]; j++) {
                    table_file *old = vs->current->files[ol][j];
                    if (old->meta.number != f.v[l][i]->meta.number || old == f.v[l][i]) continue;
                    table_unref(f.v[l][i]);
                    old->refs++;
                    f.v[l][i] = old;
                }
    version *v = NULL;
    if (rc == LSMLOG_OK) rc = make_version(vs, &f, vs->dir, &v);
    flists_release(&f);
    if (rc == LSMLOG_OK) {
        version *old = vs->current;
        vs->current = v;
        vs->manifest_number = number;
        if (--old->refs == 0) version_free(old);
    }
    pthread_mutex_unlock(&vs->mu);
    return rc;
}

/* ---- repair (db_repair.c) ------------------------------------------------ */

int vset_open_repaired(const char *dir, vedit *e, vset **out) {
    *out = NULL;
    vset *vs = lm_calloc(1, sizeof *vs);
    if (!vs || !(vs->dir = lm_strdup(dir))) {
        lm_free(vs);
        return st_error(LSMLOG_E_NOMEM, "out of memory");
    }
    pthread_mutex_init(&vs->mu, NULL);
    vs->next_file = e->next_file;
    vs->last_seq = e->last_seq;
    vs->wal_offset = e->wal_offset;
    char what[600];
    snprintf(what, sizeof what, "%s: repair", dir);
    flists f;
    memset(&f, 0, sizeof f);
    int rc = flists_apply(vs, &f, e, what);
    if (rc == LSMLOG_OK) rc = make_version(vs, &f, what, &vs->current);
    flists_release(&f);
    uint64_t number = vs->next_file++;
    char *path = rc == LSMLOG_OK ? vset_manifest_path(dir, number) : NULL;
    if (rc == LSMLOG_OK && !path) rc = st_error(LSMLOG_E_NOMEM, "out of memory");
    if (rc == LSMLOG_OK) {
        lsmlog_options o;
        lsmlog_options_init(&o);
        o.durability = LSMLOG_DURABILITY_SYNC;
        env_remove_dir(path); /* an earlier repair's, cut short before CURRENT named it */
        vedit_set_next_file(e, vs->next_file);
        rc = lsmlog_log_open(path, &o, &vs->manifest);
        if (rc == LSMLOG_OK) rc = append_edit(vs->manifest, e);
        if (rc == LSMLOG_OK) {
            vs->manifest_number = number;
        } else {
            lsmlog_log_close(vs->manifest);
            vs->manifest = NULL;
            env_remove_dir(path);
        }
    }
    lm_free(path);
    if (rc) {
        vset_close(vs);
        return rc;
    }
    *out = vs;
    return LSMLOG_OK;
}

int vset_publish(vset *vs) {
    int renamed = 0;
    return write_current(vs, vs->manifest_number, &renamed);
}
