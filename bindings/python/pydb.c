/*
 * pydb.c — _lsmlog.DB, a thin wrapper of one lsmlog_db handle: converts
 * arguments and results, maps status codes to exceptions, releases the GIL
 * around every core call, and enforces the handle's rules for Python users
 * (the Log's, pylog.c): no call after close, no call in a forked child, close
 * never racing a call in flight, children (iterators, snapshots) closed
 * before their DB. Also: compact()'s progress callback, which runs Python
 * code in the middle of a core call.
 */
#include "binding.h"

#include <errno.h>
#include <pythread.h>
#include <structmember.h>
#include <unistd.h>

#define RAISE(self, rc) lsm_raise(lsm_state_of((PyObject *)(self)), (rc))

/* ---- the guard around every core call ---------------------------------- */

int db_enter(db_object *self) {
    if (self->pid != lsm_getpid()) {
        module_state *st = lsm_state_of((PyObject *)self);
        PyErr_Format(st->error,
                     "this DB (%R) was opened by process %ld and cannot be used in a forked child "
                     "(process %ld): open the DB again in the child",
                     self->path, (long)self->pid, (long)lsm_getpid());
        return -1;
    }
    if (!self->db || self->closing) {
        PyErr_Format(PyExc_ValueError, "I/O operation on a closed DB (%R)", self->path);
        return -1;
    }
    /* The callback's thread holds the core's compaction lock: a write could
     * wait for a flush that waits for that lock. */
    if (self->in_callback && self->cb_thread == PyThread_get_thread_ident()) {
        PyErr_Format(PyExc_RuntimeError,
                     "the DB (%R) cannot be used from inside its own compact() progress callback",
                     self->path);
        return -1;
    }
    self->in_flight++;
    return 0;
}

void db_leave(db_object *self) {
    self->in_flight--;
}

/* Runs `call` (a core call on self->db) with the GIL released, between
 * db_enter and db_leave. Jumps out with NULL if the handle may not be used. */
/* clang-format off */
#define CORE_CALL(self, rc, call)            \
    do {                                     \
        if (db_enter(self) < 0) return NULL; \
        lsmlog_db *h_ = (self)->db;          \
        Py_BEGIN_ALLOW_THREADS               \
        (rc) = (call);                       \
        Py_END_ALLOW_THREADS                 \
        db_leave(self);                      \
    } while (0)
/* clang-format on */

/* ---- children ----------------------------------------------------------- */

void lsm_child_link(db_object *owner, db_child *c) {
    c->prev = NULL;
    c->next = owner->children;
    if (owner->children) owner->children->prev = c;
    owner->children = c;
}

void lsm_child_detach(db_child *c) {
    c->release(c);
    if (c->prev)
        c->prev->next = c->next;
    else if (c->owner && c->owner->children == c)
        c->owner->children = c->next;
    if (c->next) c->next->prev = c->prev;
    c->prev = c->next = NULL;
}

/* ---- open, close, lifetime ---------------------------------------------- */

static PyObject *db_new(PyTypeObject *type, PyObject *args, PyObject *kwargs) {
    static char *kwlist[] = {"path",           "durability",  "create",     "readonly", "repair",
                             "memtable_bytes", "cache_bytes", "bloom_bits", NULL};
    lsmlog_options o;
    lsmlog_options_init(&o);
    PyObject *pathb = NULL;
    const char *durability = "os";
    int create = o.create, readonly = o.readonly, repair = o.repair, bloom_bits = o.bloom_bits;
    uint64_t memtable_bytes = o.memtable_bytes, cache_bytes = o.cache_bytes;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O&|$spppO&O&i:DB", kwlist,
                                     PyUnicode_FSConverter, &pathb, &durability, &create, &readonly,
                                     &repair, lsm_conv_u64, &memtable_bytes, lsm_conv_u64,
                                     &cache_bytes, &bloom_bits))
        return NULL;
    module_state *st = PyType_GetModuleState(type);
    int rc = lsmlog_durability_parse(durability, &o.durability);
    if (rc != LSMLOG_OK) {
        Py_DECREF(pathb);
        return lsm_raise(st, rc);
    }
    o.create = create;
    o.readonly = readonly;
    o.repair = repair;
    o.memtable_bytes = memtable_bytes;
    o.cache_bytes = cache_bytes;
    o.bloom_bits = bloom_bits;

    db_object *self = (db_object *)type->tp_alloc(type, 0);
    if (!self) {
        Py_DECREF(pathb);
        return NULL;
    }
    self->pid = lsm_getpid();
    self->readonly = readonly;
    self->path = PyUnicode_DecodeFSDefault(PyBytes_AS_STRING(pathb));
    if (!self->path) {
        Py_DECREF(pathb);
        Py_DECREF(self);
        return NULL;
    }
    lsmlog_db *db = NULL;
    const char *cpath = PyBytes_AS_STRING(pathb);
    Py_BEGIN_ALLOW_THREADS
    rc = lsmlog_db_open(cpath, &o, &db);
    Py_END_ALLOW_THREADS
    Py_DECREF(pathb);
    if (rc != LSMLOG_OK) {
        lsm_raise(st, rc);
        Py_DECREF(self);
        return NULL;
    }
    self->db = db;
    return (PyObject *)self;
}

/* Forgets the handle without touching it: in a forked child the parent's
 * background thread does not exist and its mutexes may be held. */
static void detach_in_child(db_object *self) {
    /* the children's release functions see the pid and only forget */
    while (self->children)
        lsm_child_detach(self->children);
    self->db = NULL;
}

/* Closes the handle: refuses new calls, waits for the calls of other threads
 * in flight, closes the open iterators and snapshots, then the core handle.
 * 0, or -1 with an exception. */
static int do_close(db_object *self) {
    if (!self->db) return 0;
    if (self->pid != lsm_getpid()) {
        detach_in_child(self);
        return 0;
    }
    if (self->in_callback && self->cb_thread == PyThread_get_thread_ident()) {
        PyErr_Format(PyExc_RuntimeError,
                     "the DB (%R) cannot be closed from inside its own compact() progress callback",
                     self->path);
        return -1;
    }
    if (self->closing) { /* another thread is closing it: wait until it is done */
        while (self->db && self->closing)
            lsm_sleep_ms(1);
        return 0;
    }
    self->closing = 1;
    /* Calls in flight end soon; a compaction's progress callback sees
     * `closing` and cancels it. */
    while (self->in_flight > 0)
        lsm_sleep_ms(1);
    while (self->children)
        lsm_child_detach(self->children);
    lsmlog_db *db = self->db;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = lsmlog_db_close(db);
    Py_END_ALLOW_THREADS
    if (rc == LSMLOG_E_BUSY) { /* cannot happen: every child was closed above */
        self->closing = 0;
        RAISE(self, rc);
        return -1;
    }
    self->db = NULL;
    self->closing = 0;
    if (rc != LSMLOG_OK) {
        RAISE(self, rc);
        return -1;
    }
    return 0;
}

static PyObject *db_close(db_object *self, PyObject *Py_UNUSED(ignored)) {
    if (do_close(self) < 0) return NULL;
    Py_RETURN_NONE;
}

/* An unclosed handle is closed by the garbage collector, with a
 * ResourceWarning like an unclosed file's. */
static int close_for_finalizer(PyObject *obj) {
    return do_close((db_object *)obj);
}

static void db_finalize(PyObject *obj) {
    db_object *self = (db_object *)obj;
    if (self->db) lsm_finalize_handle(obj, self->pid, "DB", self->path, close_for_finalizer);
}

static void db_dealloc(PyObject *obj) {
    db_object *self = (db_object *)obj;
    PyTypeObject *tp = Py_TYPE(obj);
    if (PyObject_CallFinalizerFromDealloc(obj) < 0) return; /* resurrected */
    PyObject_GC_UnTrack(obj);
    if (self->weakreflist) PyObject_ClearWeakRefs(obj);
    if (self->db) detach_in_child(self); /* only reached when the finalizer could not close it */
    Py_CLEAR(self->path);
    tp->tp_free(obj);
    Py_DECREF(tp);
}

static int db_traverse(PyObject *obj, visitproc visit, void *arg) {
    Py_VISIT(Py_TYPE(obj));
    Py_VISIT(((db_object *)obj)->path);
    return 0;
}

static PyObject *db_repr(PyObject *obj) {
    db_object *self = (db_object *)obj;
    return PyUnicode_FromFormat("<_lsmlog.DB %R %s>", self->path, self->db ? "open" : "closed");
}

/* ---- writing ------------------------------------------------------------ */

/* put(key, value, ttl_ms=None) */
static PyObject *db_put(db_object *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs < 2 || nargs > 3) {
        PyErr_Format(PyExc_TypeError, "put() takes 2 or 3 arguments (%zd given)", nargs);
        return NULL;
    }
    int64_t ttl = 0;
    if (nargs == 3 && args[2] != Py_None) {
        if (!lsm_conv_i64(args[2], &ttl)) return NULL;
        if (ttl <= 0) {
            PyErr_Format(PyExc_ValueError, "ttl_ms must be > 0, not %lld", (long long)ttl);
            return NULL;
        }
    }
    Py_buffer k, v;
    if (lsm_get_buffer(args[0], &k, "key") < 0) return NULL;
    if (lsm_get_buffer(args[1], &v, "value") < 0) {
        PyBuffer_Release(&k);
        return NULL;
    }
    PyObject *result = NULL;
    if (db_enter(self) == 0) {
        lsmlog_db *db = self->db;
        int rc;
        Py_BEGIN_ALLOW_THREADS
        rc = ttl ? lsmlog_db_put_ttl(db, k.buf, (size_t)k.len, v.buf, (size_t)v.len, ttl)
                 : lsmlog_db_put(db, k.buf, (size_t)k.len, v.buf, (size_t)v.len);
        Py_END_ALLOW_THREADS
        db_leave(self);
        if (rc == LSMLOG_OK) result = lsm_none();
        else RAISE(self, rc);
    }
    PyBuffer_Release(&k);
    PyBuffer_Release(&v);
    return result;
}

/* delete(key): a no-op (but still a write) when the key is absent */
static PyObject *db_delete(db_object *self, PyObject *key) {
    Py_buffer k;
    if (lsm_get_buffer(key, &k, "key") < 0) return NULL;
    PyObject *result = NULL;
    if (db_enter(self) == 0) {
        lsmlog_db *db = self->db;
        int rc;
        Py_BEGIN_ALLOW_THREADS
        rc = lsmlog_db_delete(db, k.buf, (size_t)k.len);
        Py_END_ALLOW_THREADS
        db_leave(self);
        if (rc == LSMLOG_OK) result = lsm_none();
        else RAISE(self, rc);
    }
    PyBuffer_Release(&k);
    return result;
}

/* write(batch): applies a WriteBatch atomically; the batch is left as it was */
static PyObject *db_write(db_object *self, PyObject *arg) {
    module_state *st = lsm_state_of((PyObject *)self);
    if (!Py_IS_TYPE(arg, st->batch_type)) {
        PyErr_Format(PyExc_TypeError, "write() takes a WriteBatch, not '%.100s'",
                     Py_TYPE(arg)->tp_name);
        return NULL;
    }
    batch_object *b = (batch_object *)arg;
    if (db_enter(self) < 0) return NULL;
    Py_INCREF(b);
    b->writers++; /* the batch may not change while the core reads it */
    lsmlog_db *db = self->db;
    lsmlog_batch *cb = b->b;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = lsmlog_db_write(db, cb);
    Py_END_ALLOW_THREADS
    b->writers--;
    Py_DECREF(b);
    db_leave(self);
    if (rc != LSMLOG_OK) return RAISE(self, rc);
    Py_RETURN_NONE;
}

static PyObject *db_flush(db_object *self, PyObject *Py_UNUSED(ignored)) {
    int rc;
    CORE_CALL(self, rc, lsmlog_db_flush(h_));
    if (rc != LSMLOG_OK) return RAISE(self, rc);
    Py_RETURN_NONE;
}

static PyObject *db_sync(db_object *self, PyObject *Py_UNUSED(ignored)) {
    int rc;
    CORE_CALL(self, rc, lsmlog_db_sync(h_));
    if (rc != LSMLOG_OK) return RAISE(self, rc);
    Py_RETURN_NONE;
}

static PyObject *db_flush_memtable(db_object *self, PyObject *Py_UNUSED(ignored)) {
    int rc;
    CORE_CALL(self, rc, lsmlog_db_flush_memtable(h_));
    if (rc != LSMLOG_OK) return RAISE(self, rc);
    Py_RETURN_NONE;
}

/* ---- compact and its progress callback ----------------------------------- */

typedef struct {
    db_object *self;
    PyObject *fn;       /* a callable, or None */
    PyThreadState *ts;  /* the calling thread's state while the GIL is released */
} compact_ctx;

/* Called by the core from the thread that called compact(), with the GIL
 * released: takes the GIL back, answers Ctrl-C, calls fn(done, total), and
 * asks the core to stop when anything raised (the exception stays set for
 * compact() to raise) or when another thread is closing the DB. */
static int compact_progress(void *arg, uint64_t done, uint64_t total) {
    compact_ctx *c = arg;
    PyEval_RestoreThread(c->ts);
    int stop = 1;
    if (!PyErr_Occurred() && !c->self->closing && PyErr_CheckSignals() == 0) {
        stop = 0;
        if (c->fn != Py_None) {
            int was_in = c->self->in_callback;
            unsigned long was_thread = c->self->cb_thread;
            c->self->in_callback = 1;
            c->self->cb_thread = PyThread_get_thread_ident();
            PyObject *r = PyObject_CallFunction(c->fn, "KK", (unsigned long long)done,
                                                (unsigned long long)total);
            c->self->in_callback = was_in;
            c->self->cb_thread = was_thread;
            if (r)
                Py_DECREF(r);
            else
                stop = 1;
        }
    }
    c->ts = PyEval_SaveThread();
    return stop;
}

/* An optional bound: None (no bound) or a bytes-like key. */
static int opt_buffer(PyObject *o, Py_buffer *view, int *has, const char *what) {
    *has = 0;
    if (o == Py_None) return 0;
    if (lsm_get_buffer(o, view, what) < 0) return -1;
    *has = 1;
    return 0;
}

/* A non-NULL pointer for a present bound, even an empty one (NULL is "no
 * bound" to the core). */
static const void *bound_ptr(const Py_buffer *v, int has) {
    return has ? (v->buf ? v->buf : (const void *)"") : NULL;
}

/* compact(start=None, stop=None, progress=None): progress is None or a
 * callable(done_bytes, total_bytes). Ctrl-C and an exception raised by the
 * callable cancel the compaction (the work done so far is kept) and are
 * raised. */
static PyObject *db_compact(db_object *self, PyObject *args, PyObject *kwargs) {
    static char *kwlist[] = {"start", "stop", "progress", NULL};
    PyObject *start = Py_None, *stop = Py_None, *fn = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|OOO:compact", kwlist, &start, &stop, &fn))
        return NULL;
    if (fn != Py_None && !PyCallable_Check(fn)) {
        PyErr_Format(PyExc_TypeError, "progress must be callable or None, not '%.100s'",
                     Py_TYPE(fn)->tp_name);
        return NULL;
    }
    Py_buffer s, e;
    int has_s = 0, has_e = 0;
    if (opt_buffer(start, &s, &has_s, "start") < 0) return NULL;
    if (opt_buffer(stop, &e, &has_e, "stop") < 0) {
        if (has_s) PyBuffer_Release(&s);
        return NULL;
    }
    PyObject *result = NULL;
    if (db_enter(self) == 0) {
        compact_ctx c = {self, fn, NULL};
        lsmlog_db *db = self->db;
        c.ts = PyEval_SaveThread();
        int rc = lsmlog_db_compact(db, bound_ptr(&s, has_s), has_s ? (size_t)s.len : 0,
                                   bound_ptr(&e, has_e), has_e ? (size_t)e.len : 0,
                                   compact_progress, &c);
        PyEval_RestoreThread(c.ts);
        db_leave(self);
        if (PyErr_Occurred()) {
            /* the callback's exception (or KeyboardInterrupt) cancelled it */
        } else if (rc == LSMLOG_OK) {
            result = lsm_none();
        } else if (rc == LSMLOG_E_CANCELED && self->closing) {
            PyErr_Format(PyExc_ValueError, "compact() stopped: the DB (%R) was closed",
                         self->path);
        } else {
            RAISE(self, rc);
        }
    }
    if (has_s) PyBuffer_Release(&s);
    if (has_e) PyBuffer_Release(&e);
    return result;
}

/* ---- reading ------------------------------------------------------------ */

/* What a point read answers: the value (bytes) or None, whether the key is
 * there, or the value or a default (the latest state only). */
enum { GET_VALUE, GET_EXISTS, GET_OR_DEFAULT };

static PyObject *db_get_impl(db_object *self, PyObject *const *args, Py_ssize_t nargs, int mode) {
    static const char *names[] = {"get", "contains", "get"};
    if (nargs < 1 || nargs > 2) {
        PyErr_Format(PyExc_TypeError, "%s() takes 1 or 2 arguments (%zd given)", names[mode], nargs);
        return NULL;
    }
    snapshot_object *snap = NULL;
    if (nargs == 2 && mode != GET_OR_DEFAULT && lsm_snapshot_arg(self, args[1], &snap) < 0) return NULL;
    if (PyUnicode_Check(args[0])) { /* the classic mistake, with its remedy */
        PyErr_SetString(PyExc_TypeError, "a bytes-like key is required, not str: encode it, or open "
                                         "the DB with key_codec='utf-8'");
        return NULL;
    }
    Py_buffer k;
    if (lsm_get_buffer(args[0], &k, "key") < 0) return NULL;
    if (db_enter(self) < 0) {
        PyBuffer_Release(&k);
        return NULL;
    }
    if (snap) snap->users++; /* a release waits for it */
    lsmlog_db *db = self->db;
    const lsmlog_snapshot *cs = snap ? snap->snap : NULL;
    int exists_only = mode == GET_EXISTS;
    void *val = NULL;
    size_t vlen = 0;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = lsmlog_db_get(db, cs, k.buf, (size_t)k.len, exists_only ? NULL : &val,
                       exists_only ? NULL : &vlen);
    Py_END_ALLOW_THREADS
    if (snap) snap->users--;
    db_leave(self);
    PyBuffer_Release(&k);
    if (rc == LSMLOG_NOTFOUND) {
        if (exists_only) Py_RETURN_FALSE;
        if (mode == GET_OR_DEFAULT && nargs == 2) {
            Py_INCREF(args[1]);
            return args[1];
        }
        Py_RETURN_NONE;
    }
    if (rc != LSMLOG_OK) return RAISE(self, rc);
    if (exists_only) Py_RETURN_TRUE;
    PyObject *bytes = PyBytes_FromStringAndSize(val, (Py_ssize_t)vlen);
    lsmlog_free(val);
    return bytes;
}

/* get(key, snapshot=None) -> bytes, or None when absent */
static PyObject *db_get(db_object *self, PyObject *const *args, Py_ssize_t nargs) {
    return db_get_impl(self, args, nargs, GET_VALUE);
}

/* contains(key, snapshot=None) -> bool */
static PyObject *db_contains(db_object *self, PyObject *const *args, Py_ssize_t nargs) {
    return db_get_impl(self, args, nargs, GET_EXISTS);
}

/* lookup(key, default=None) -> bytes, or default when absent: DB.get of a DB
 * without codecs, bound straight to the instance (no Python frame per get),
 * so it takes default by keyword too */
static PyObject *db_lookup(db_object *self, PyObject *const *args, size_t nargsf, PyObject *kwnames) {
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    if (kwnames && PyTuple_GET_SIZE(kwnames) > 0) {
        PyObject *name = PyTuple_GET_ITEM(kwnames, 0);
        if (PyTuple_GET_SIZE(kwnames) != 1 || nargs != 1 ||
            PyUnicode_CompareWithASCIIString(name, "default") != 0) {
            PyErr_SetString(PyExc_TypeError, "get() takes a key and a default (by position or as "
                                             "default=), nothing else");
            return NULL;
        }
        nargs = 2; /* the keyword's value follows the key */
    }
    return db_get_impl(self, args, nargs, GET_OR_DEFAULT);
}

/* iter(start=None, stop=None, prefix=None, reverse=False, snapshot=None, mode=0, *, once=False)
 * -> DBIter */
static PyObject *db_iter(db_object *self, PyObject *args, PyObject *kwargs) {
    static char *kwlist[] = {"start", "stop", "prefix", "reverse", "snapshot", "mode", "once", NULL};
    PyObject *start = Py_None, *stop = Py_None, *prefix = Py_None, *snaparg = Py_None;
    int reverse = 0, mode = DB_ITER_ITEMS, once = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|OOOpOi$p:iter", kwlist, &start, &stop, &prefix,
                                     &reverse, &snaparg, &mode, &once))
        return NULL;
    if (mode < DB_ITER_ITEMS || mode > DB_ITER_VALUES) {
        PyErr_Format(PyExc_ValueError, "mode must be 0 (items), 1 (keys) or 2 (values), not %d",
                     mode);
        return NULL;
    }
    snapshot_object *snap = NULL;
    if (lsm_snapshot_arg(self, snaparg, &snap) < 0) return NULL;
    Py_buffer b[3];
    int has[3] = {0, 0, 0};
    PyObject *objs[3] = {start, stop, prefix};
    const char *names[3] = {"start", "stop", "prefix"};
    PyObject *result = NULL;
    int i;
    for (i = 0; i < 3; i++)
        if (opt_buffer(objs[i], &b[i], &has[i], names[i]) < 0) goto done;
    lsmlog_db_iter_opts o;
    lsmlog_db_iter_opts_init(&o);
    o.start = bound_ptr(&b[0], has[0]);
    o.start_len = has[0] ? (size_t)b[0].len : 0;
    o.stop = bound_ptr(&b[1], has[1]);
    o.stop_len = has[1] ? (size_t)b[1].len : 0;
    o.prefix = bound_ptr(&b[2], has[2]);
    o.prefix_len = has[2] ? (size_t)b[2].len : 0;
    result = lsm_db_iter_open(self, snap, &o, mode, reverse, once); /* the core copies the bounds */
done:
    for (i = 0; i < 3; i++)
        if (has[i]) PyBuffer_Release(&b[i]);
    return result;
}

static PyObject *db_snapshot(db_object *self, PyObject *Py_UNUSED(ignored)) {
    return lsm_snapshot_open(self);
}

/* A dict of unsigned integers from the stats struct, plus write_amp and
 * levels: a list of (files, bytes) per level. */
static PyObject *db_stats(db_object *self, PyObject *Py_UNUSED(ignored)) {
    lsmlog_db_stats s;
    int rc;
    CORE_CALL(self, rc, lsmlog_db_get_stats(h_, &s));
    if (rc != LSMLOG_OK) return RAISE(self, rc);
    PyObject *levels = PyList_New(LSMLOG_DB_LEVELS);
    if (!levels) return NULL;
    for (int l = 0; l < LSMLOG_DB_LEVELS; l++) {
        PyObject *t = Py_BuildValue("(KK)", (unsigned long long)s.levels[l].files,
                                    (unsigned long long)s.levels[l].bytes);
        if (!t) {
            Py_DECREF(levels);
            return NULL;
        }
        PyList_SET_ITEM(levels, l, t);
    }
#define U(f) #f, (unsigned long long)s.f
    return Py_BuildValue("{sNsdsKsKsKsKsKsKsKsKsKsKsKsKsKsKsKsK}", "levels", levels, "write_amp",
                         s.write_amp, U(memtable_bytes), U(last_seq), U(user_bytes), U(wal_bytes),
                         U(flush_bytes), U(compact_read_bytes), U(compact_write_bytes), U(flushes),
                         U(compactions), U(trivial_moves), U(stalls), U(stall_us), U(cache_hits),
                         U(cache_misses), U(bloom_useful), U(bloom_useless));
#undef U
}

/* recovery() -> (truncated_bytes, dropped_batches, dropped_bytes, rebuilt_indexes, message) */
static PyObject *db_recovery(db_object *self, PyObject *Py_UNUSED(ignored)) {
    if (db_enter(self) < 0) return NULL;
    /* No I/O: read with the GIL held, copied before anything could close it. */
    const lsmlog_recovery *r = lsmlog_db_recovery(self->db);
    lsmlog_recovery copy = *r;
    PyObject *msg = PyUnicode_DecodeFSDefault(r->message ? r->message : "");
    db_leave(self);
    if (!msg) return NULL;
    return Py_BuildValue("(KKKKN)", (unsigned long long)copy.truncated_bytes,
                         (unsigned long long)copy.dropped_batches,
                         (unsigned long long)copy.dropped_bytes,
                         (unsigned long long)copy.rebuilt_indexes, msg);
}

/* ---- attributes --------------------------------------------------------- */

static PyObject *db_get_closed(db_object *self, void *Py_UNUSED(closure)) {
    return PyBool_FromLong(self->db == NULL || self->closing);
}

static PyObject *db_get_path(db_object *self, void *Py_UNUSED(closure)) {
    Py_INCREF(self->path);
    return self->path;
}

static PyObject *db_get_readonly(db_object *self, void *Py_UNUSED(closure)) {
    return PyBool_FromLong(self->readonly);
}

static PyGetSetDef db_getset[] = {
    {"closed", (getter)db_get_closed, NULL, "True once close() was called.", NULL},
    {"path", (getter)db_get_path, NULL, "The directory, as opened.", NULL},
    {"readonly", (getter)db_get_readonly, NULL, "True for a read-only handle.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyMemberDef db_members[] = {
    {"__weaklistoffset__", T_PYSSIZET, offsetof(db_object, weakreflist), READONLY, NULL},
    {NULL, 0, 0, 0, NULL},
};

#define FASTCALL(f) (PyCFunction)(void (*)(void))(f), METH_FASTCALL
#define KWCALL(f) (PyCFunction)(void (*)(void))(f), METH_VARARGS | METH_KEYWORDS

static PyMethodDef db_methods[] = {
    {"put", FASTCALL(db_put), "put(key, value, ttl_ms=None)"},
    {"delete", (PyCFunction)db_delete, METH_O, "delete(key): a no-op when absent"},
    {"write", (PyCFunction)db_write, METH_O, "write(batch): applies a WriteBatch atomically"},
    {"get", FASTCALL(db_get), "get(key, snapshot=None) -> bytes, or None when absent"},
    {"contains", FASTCALL(db_contains), "contains(key, snapshot=None) -> bool"},
    {"lookup", (PyCFunction)(void (*)(void))db_lookup, METH_FASTCALL | METH_KEYWORDS,
     "lookup(key, default=None) -> bytes, or default when absent"},
    {"iter", KWCALL(db_iter),
     "iter(start=None, stop=None, prefix=None, reverse=False, snapshot=None, mode=0, *, "
     "once=False) -> DBIter; with once=True the end or an error closes it"},
    {"snapshot", (PyCFunction)db_snapshot, METH_NOARGS, "snapshot() -> Snapshot"},
    {"flush", (PyCFunction)db_flush, METH_NOARGS, "flush()"},
    {"sync", (PyCFunction)db_sync, METH_NOARGS, "sync()"},
    {"flush_memtable", (PyCFunction)db_flush_memtable, METH_NOARGS, "flush_memtable()"},
    {"compact", KWCALL(db_compact),
     "compact(start=None, stop=None, progress=None): progress(done, total) is called now and then"},
    {"stats", (PyCFunction)db_stats, METH_NOARGS, "stats() -> dict"},
    {"recovery", (PyCFunction)db_recovery, METH_NOARGS,
     "recovery() -> (truncated_bytes, dropped_batches, dropped_bytes, rebuilt_indexes, message)"},
    {"close", (PyCFunction)db_close, METH_NOARGS, "close()"},
    {NULL, NULL, 0, NULL},
};

static PyType_Slot db_slots[] = {
    {Py_tp_doc, "DB(path, *, durability='os', create=True, readonly=False, repair=False, "
                "memtable_bytes=4 MiB, cache_bytes=8 MiB, bloom_bits=10): one lsmlog_db handle "
                "(use lsmlog.DB)."},
    {Py_tp_new, db_new},
    {Py_tp_dealloc, db_dealloc},
    {Py_tp_finalize, db_finalize},
    {Py_tp_traverse, db_traverse},
    {Py_tp_repr, db_repr},
    {Py_tp_methods, db_methods},
    {Py_tp_getset, db_getset},
    {Py_tp_members, db_members},
    {0, NULL},
};

PyType_Spec lsm_db_spec = {
    .name = "lsmlog._lsmlog.DB",
    .basicsize = sizeof(db_object),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .slots = db_slots,
};
