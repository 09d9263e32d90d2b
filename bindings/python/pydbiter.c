/*
 * pydbiter.c — the children of a DB: _lsmlog.Snapshot (one lsmlog_snapshot)
 * and _lsmlog.DBIter (one lsmlog_db_iter). Each holds a strong reference to
 * its DB and sits in the DB's list of children while open, so that closing
 * the DB closes them first (the core refuses to close a DB with open
 * children, and a child must never outlive its DB's memory); after that,
 * using them raises ValueError. (py-lmdb and plyvel do the same.)
 *
 * An iterator steps in chunks (pychunk.c): one GIL-released stretch moves the
 * core iterator up to CHUNK_ITEMS times and copies the keys and values out;
 * they are then handed out one at a time. With once=True the end or an error
 * closes the core iterator at once (a scan should not pin its tables longer),
 * as the generator it replaces in DB.items() did.
 */
#include "binding.h"

#include <unistd.h>

/* ---- the common part ----------------------------------------------------- */

static int child_traverse(PyObject *self, visitproc visit, void *arg) {
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(((db_child *)self)->owner);
    return 0;
}

/* Closes the core object (if the DB is still open) and unlinks the child. */
static void child_release(db_child *c) {
    if (c->owner) lsm_child_detach(c);
}

/* ---- snapshots ------------------------------------------------------------ */

static void snapshot_release(db_child *c) {
    snapshot_object *s = (snapshot_object *)c;
    if (!s->snap) return;
    if (c->owner->pid == lsm_getpid()) {
        /* reads of other threads through it end soon */
        while (s->users > 0)
            lsm_sleep_ms(1);
        lsmlog_db_snapshot_release(s->snap); /* brief: takes the DB's mutex, no I/O */
    }
    s->snap = NULL; /* in a forked child: the parent's, only forgotten */
}

PyObject *lsm_snapshot_open(db_object *self) {
    module_state *st = lsm_state_of((PyObject *)self);
    snapshot_object *s = (snapshot_object *)st->snapshot_type->tp_alloc(st->snapshot_type, 0);
    if (!s) return NULL;
    Py_INCREF(self);
    s->h.owner = self;
    s->h.release = snapshot_release;
    if (db_enter(self) < 0) {
        Py_DECREF(s);
        return NULL;
    }
    lsmlog_db *db = self->db;
    lsmlog_snapshot *cs = NULL;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = lsmlog_db_snapshot(db, &cs);
    Py_END_ALLOW_THREADS
    db_leave(self);
    if (rc != LSMLOG_OK) {
        lsm_raise(st, rc);
        Py_DECREF(s);
        return NULL;
    }
    /* Linked before anything can let a close() in: it is the close's job now. */
    s->snap = cs;
    lsm_child_link(self, &s->h);
    return (PyObject *)s;
}

int lsm_snapshot_arg(db_object *self, PyObject *arg, snapshot_object **out) {
    *out = NULL;
    if (arg == Py_None) return 0;
    module_state *st = lsm_state_of((PyObject *)self);
    if (!Py_IS_TYPE(arg, st->snapshot_type)) {
        PyErr_Format(PyExc_TypeError, "snapshot must be a Snapshot or None, not '%.100s'",
                     Py_TYPE(arg)->tp_name);
        return -1;
    }
    snapshot_object *s = (snapshot_object *)arg;
    if (s->h.owner != self) {
        PyErr_SetString(PyExc_ValueError, "the snapshot belongs to another DB");
        return -1;
    }
    if (!s->snap) {
        PyErr_Format(PyExc_ValueError, "the snapshot is closed (released, or its DB %R closed)",
                     self->path);
        return -1;
    }
    *out = s;
    return 0;
}

static PyObject *snapshot_close(snapshot_object *s, PyObject *Py_UNUSED(ignored)) {
    child_release(&s->h);
    Py_RETURN_NONE;
}

static PyObject *snapshot_get_closed(snapshot_object *s, void *Py_UNUSED(closure)) {
    return PyBool_FromLong(s->snap == NULL);
}

static PyObject *snapshot_get_db(snapshot_object *s, void *Py_UNUSED(closure)) {
    Py_INCREF(s->h.owner);
    return (PyObject *)s->h.owner;
}

static int snapshot_clear(PyObject *self) {
    snapshot_object *s = (snapshot_object *)self;
    child_release(&s->h); /* before the reference to the DB goes */
    Py_CLEAR(s->h.owner);
    return 0;
}

static void snapshot_dealloc(PyObject *self) {
    PyTypeObject *tp = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    snapshot_clear(self);
    tp->tp_free(self);
    Py_DECREF(tp);
}

static PyObject *snapshot_repr(PyObject *self) {
    snapshot_object *s = (snapshot_object *)self;
    return PyUnicode_FromFormat("<_lsmlog.Snapshot of %R %s>", s->h.owner->path,
                                s->snap ? "open" : "closed");
}

static PyMethodDef snapshot_methods[] = {
    {"close", (PyCFunction)snapshot_close, METH_NOARGS, "close(): releases the snapshot"},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef snapshot_getset[] = {
    {"closed", (getter)snapshot_get_closed, NULL, "True once released (or its DB closed).", NULL},
    {"db", (getter)snapshot_get_db, NULL, "The _lsmlog.DB it was taken of.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyType_Slot snapshot_slots[] = {
    {Py_tp_doc, "A frozen view of a DB, made by DB.snapshot(); pass it to DB.get/DB.iter."},
    {Py_tp_dealloc, snapshot_dealloc},
    {Py_tp_traverse, child_traverse},
    {Py_tp_clear, snapshot_clear},
    {Py_tp_repr, snapshot_repr},
    {Py_tp_methods, snapshot_methods},
    {Py_tp_getset, snapshot_getset},
    {0, NULL},
};

PyType_Spec lsm_snapshot_spec = {
    .name = "lsmlog._lsmlog.Snapshot",
    .basicsize = sizeof(snapshot_object),
#ifdef Py_TPFLAGS_DISALLOW_INSTANTIATION
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_DISALLOW_INSTANTIATION,
#else
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
#endif
    .slots = snapshot_slots,
};

/* ---- iterators ------------------------------------------------------------ */

static void db_iter_release(db_child *c) {
    db_iter_object *it = (db_iter_object *)c;
    if (!it->it) return;
    /* With the GIL held, like every change to the DB's list of children, so
     * that no close can race with another: brief (frees memory, takes the
     * DB's mutex; at most unlinks the files of tables that a compaction
     * made obsolete and this iterator was the last to pin). */
    if (c->owner->pid == lsm_getpid()) lsmlog_db_iter_close(it->it);
    it->it = NULL; /* in a forked child: the parent's, only forgotten */
    /* a lent item went with it */
    lsm_chunk_forget(&it->ch);
}

PyObject *lsm_db_iter_open(db_object *self, snapshot_object *snap, lsmlog_db_iter_opts *opts,
                           int mode, int reverse, int once) {
    module_state *st = lsm_state_of((PyObject *)self);
    db_iter_object *it = (db_iter_object *)st->db_iter_type->tp_alloc(st->db_iter_type, 0);
    if (!it) return NULL;
    Py_INCREF(self);
    it->h.owner = self;
    it->h.release = db_iter_release;
    it->mode = mode;
    it->reverse = reverse;
    it->once = once;
    it->ch.want = 1;
    if (snap) {
        Py_INCREF(snap);
        it->snap = snap;
    }
    if (db_enter(self) < 0) {
        Py_DECREF(it);
        return NULL;
    }
    opts->snapshot = snap ? snap->snap : NULL;
    if (snap) snap->users++;
    lsmlog_db *db = self->db;
    lsmlog_db_iter *cit = NULL;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = lsmlog_db_iter_open(db, opts, &cit);
    Py_END_ALLOW_THREADS
    if (snap) snap->users--;
    db_leave(self);
    if (rc != LSMLOG_OK) {
        lsm_raise(st, rc);
        Py_DECREF(it);
        return NULL;
    }
    it->it = cit;
    lsm_child_link(self, &it->h);
    return (PyObject *)it;
}

#define BUSY_MSG "this lsmlog iterator is being stepped by another thread"

/* Moves the core iterator up to it->ch.want times with the GIL released,
 * copying keys and values (as the mode needs) into the chunk. 0 (the chunk
 * may be empty: the end), or -1 with an exception when nothing could be
 * stepped. An error after some items is kept in the chunk, to be raised once
 * they are handed out. */
static int fill(db_iter_object *it) {
    chunk *c = &it->ch;
    if (lsm_chunk_alloc(c) < 0) return -1;
    db_object *owner = it->h.owner;
    if (db_enter(owner) < 0) return -1;
    it->busy = 1;
    lsmlog_db_iter *cit = it->it;
    chunk_item *items = c->items;
    char *data = c->data;
    int want = c->want, n = 0, lent = 0, rc = LSMLOG_OK, valid = 1;
    int first = !it->started, reverse = it->reverse;
    int need_key = it->mode != DB_ITER_VALUES, need_value = it->mode != DB_ITER_KEYS;
    size_t used = 0, klen = 0, vlen = 0;
    const void *k = NULL, *v = NULL;
    Py_BEGIN_ALLOW_THREADS
    while (n < want) {
        if (first)
            rc = reverse ? lsmlog_db_iter_last(cit) : lsmlog_db_iter_first(cit);
        else
            rc = reverse ? lsmlog_db_iter_prev(cit) : lsmlog_db_iter_next(cit);
        first = 0;
        valid = rc == LSMLOG_OK && lsmlog_db_iter_valid(cit);
        if (!valid) break;
        klen = vlen = 0;
        if (need_key) k = lsmlog_db_iter_key(cit, &klen);
        if (need_value) v = lsmlog_db_iter_value(cit, &vlen);
        if (klen > CHUNK_BYTES - used || vlen > CHUNK_BYTES - used - klen) {
            lent = 1; /* handed out before the next move */
            break;
        }
        chunk_item *ci = &items[n++];
        ci->kpos = used;
        ci->klen = klen;
        if (klen) memcpy(data + used, k, klen);
        used += klen;
        ci->vpos = used;
        ci->vlen = vlen;
        if (vlen) memcpy(data + used, v, vlen);
        used += vlen;
    }
    Py_END_ALLOW_THREADS
    db_leave(owner);
    it->busy = 0;
    it->started = 1;
    if (!valid) it->finished = 1;
    lsm_chunk_filled(c, n, lent);
    if (lent) {
        c->lent_at.klen = klen;
        c->lent_at.vlen = vlen;
        c->lent_key = k;
        c->lent_value = v;
    }
    if (rc == LSMLOG_OK) return 0;
    lsm_raise(lsm_state_of((PyObject *)owner), rc);
    if (n == 0) return -1;
    lsm_chunk_stash_error(c);
    return 0;
}

/* The next item of the chunk (which is not empty): a (key, value) tuple, a
 * key or a value (by mode). */
static PyObject *take(db_iter_object *it) {
    chunk *c = &it->ch;
    const char *kp, *vp;
    const chunk_item *ci;
    if (c->next < c->n) {
        ci = &c->items[c->next++];
        kp = c->data + ci->kpos;
        vp = c->data + ci->vpos;
    } else {
        /* the core's memory: it->it is open (checked by the caller) */
        ci = &c->lent_at;
        c->lent = 0;
        kp = c->lent_key;
        vp = c->lent_value;
    }
    /* Both copied before anything (a GC-tracked allocation) could run Python
     * code. Bytes are not GC-tracked. */
    PyObject *key = NULL, *value = NULL;
    if (it->mode != DB_ITER_VALUES) {
        if (!(key = PyBytes_FromStringAndSize(kp, (Py_ssize_t)ci->klen))) return NULL;
        if (it->mode == DB_ITER_KEYS) return key;
    }
    value = PyBytes_FromStringAndSize(vp, (Py_ssize_t)ci->vlen);
    if (!value || it->mode == DB_ITER_VALUES) {
        Py_XDECREF(key);
        return value;
    }
    PyObject *t = PyTuple_New(2);
    if (!t) {
        Py_DECREF(key);
        Py_DECREF(value);
        return NULL;
    }
    PyTuple_SET_ITEM(t, 0, key);
    PyTuple_SET_ITEM(t, 1, value);
    return t;
}

/* Ends a once iterator for good: closes the core iterator. */
static void finish(db_iter_object *it) {
    if (!it->once) return;
    child_release(&it->h);
    it->user_closed = 1;
}

/* One step: a (key, value) tuple, a key or a value (by mode); NULL with
 * *end set when there is nothing more; NULL with an exception. */
static PyObject *step(db_iter_object *it, int *end) {
    *end = 0;
    /* About to move the core iterator: a scan from C (list(db.items())) runs
     * no bytecode, so Ctrl-C is looked for here, once per chunk. A signal
     * handler may run any code: everything is checked after it. */
    if (!it->busy && lsm_chunk_empty(&it->ch) && PyErr_CheckSignals() < 0) return NULL;
    if (it->busy) {
        PyErr_SetString(PyExc_RuntimeError, BUSY_MSG);
        return NULL;
    }
    db_object *owner = it->h.owner;
    if (!it->it) {
        if (it->user_closed) {
            *end = 1;
            return NULL;
        }
        if (db_enter(owner) == 0) { /* cannot happen: an open DB keeps its iterators open */
            db_leave(owner);
            PyErr_SetString(PyExc_ValueError, "the iterator is closed");
        } else if (PyErr_ExceptionMatches(PyExc_ValueError)) {
            PyErr_Clear();
            PyErr_Format(PyExc_ValueError, "the DB of this iterator (%R) is closed", owner->path);
        }
        finish(it);
        return NULL;
    }
    if (lsm_chunk_empty(&it->ch)) {
        if (it->ch.error) {
            lsm_chunk_raise_error(&it->ch);
            finish(it);
            return NULL;
        }
        if (!it->finished && fill(it) < 0) {
            finish(it);
            return NULL;
        }
        if (lsm_chunk_empty(&it->ch)) {
            if (it->ch.error) /* cannot happen: an error with no item is raised at once */
                lsm_chunk_raise_error(&it->ch);
            else
                *end = 1;
            finish(it);
            return NULL;
        }
    }
    return take(it);
}

static PyObject *iter_step(db_iter_object *it, PyObject *Py_UNUSED(ignored)) {
    int end;
    PyObject *r = step(it, &end);
    if (!r && end) Py_RETURN_NONE;
    return r;
}

static PyObject *iter_next(PyObject *self) {
    int end;
    return step((db_iter_object *)self, &end); /* NULL without an exception ends a for loop */
}

static PyObject *iter_close(db_iter_object *it, PyObject *Py_UNUSED(ignored)) {
    if (it->busy) {
        PyErr_SetString(PyExc_RuntimeError, BUSY_MSG);
        return NULL;
    }
    child_release(&it->h);
    it->user_closed = 1;
    Py_RETURN_NONE;
}

static int iter_clear(PyObject *self) {
    db_iter_object *it = (db_iter_object *)self;
    child_release(&it->h); /* before the reference to the DB goes */
    lsm_chunk_free(&it->ch);
    Py_CLEAR(it->snap);
    Py_CLEAR(it->h.owner);
    return 0;
}

static int iter_traverse(PyObject *self, visitproc visit, void *arg) {
    Py_VISIT(((db_iter_object *)self)->snap);
    Py_VISIT(((db_iter_object *)self)->ch.error);
    return child_traverse(self, visit, arg);
}

static void iter_dealloc(PyObject *self) {
    PyTypeObject *tp = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    iter_clear(self);
    tp->tp_free(self);
    Py_DECREF(tp);
}

static PyObject *iter_self(PyObject *self) {
    Py_INCREF(self);
    return self;
}

static PyMethodDef iter_methods[] = {
    {"step", (PyCFunction)iter_step, METH_NOARGS, "step() -> the next item, or None at the end"},
    {"close", (PyCFunction)iter_close, METH_NOARGS, "close(): later steps find nothing"},
    {NULL, NULL, 0, NULL},
};

static PyType_Slot iter_slots[] = {
    {Py_tp_doc, "An iterator over a DB's keys in order (or reverse order), made by DB.iter()."},
    {Py_tp_dealloc, iter_dealloc},
    {Py_tp_traverse, iter_traverse},
    {Py_tp_clear, iter_clear},
    {Py_tp_iter, iter_self},
    {Py_tp_iternext, iter_next},
    {Py_tp_methods, iter_methods},
    {0, NULL},
};

PyType_Spec lsm_db_iter_spec = {
    .name = "lsmlog._lsmlog.DBIter",
    .basicsize = sizeof(db_iter_object),
#ifdef Py_TPFLAGS_DISALLOW_INSTANTIATION
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_DISALLOW_INSTANTIATION,
#else
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
#endif
    .slots = iter_slots,
};
