/*
 * pyiter.c — _lsmlog.LogIter, one lsmlog_log_iter. It holds a strong
 * reference to its Log, and the Log keeps a list of its open iterators so
 * that closing the Log closes them first (the core refuses to close a log
 * with open iterators, and an iterator must never outlive its log's memory).
 * After that, a step raises ValueError. Stepping is the core's: records
 * appended after the iterator was opened are returned too, so a step that
 * finds nothing now (None, or the end of a for loop) may find records later.
 *
 * Steps go in chunks (pychunk.c): one GIL-released stretch steps up to
 * CHUNK_ITEMS records and copies them out; the records are then handed out
 * one at a time, built directly as tuples (or as instances of the tuple
 * subclass given, Record: the NamedTuple's Python __new__ is skipped, as
 * tuple.__new__ of a subclass does). An iterator opened with once=True ends
 * for good (and closes) at its first end or error, as a generator does:
 * Log.read() hands it out as it is, so `for rec in log.read()` runs no Python
 * code per record.
 */
#include "binding.h"

#include <unistd.h>

static void link_iter(log_object *owner, log_iter_object *it) {
    it->prev = NULL;
    it->next = owner->iters;
    if (owner->iters) owner->iters->prev = it;
    owner->iters = it;
}

static void unlink_iter(log_iter_object *it) {
    log_object *owner = it->owner;
    if (it->prev)
        it->prev->next = it->next;
    else if (owner && owner->iters == it)
        owner->iters = it->next;
    if (it->next) it->next->prev = it->prev;
    it->prev = it->next = NULL;
}

void lsm_iter_detach(log_iter_object *it) {
    if (!it->it) return;
    /* In a forked child the Log already forgot its iterators (it->it NULL). */
    lsmlog_log_iter_close(it->it); /* brief: takes the log's mutex, no I/O */
    it->it = NULL;
    lsm_chunk_forget(&it->ch); /* a lent record went with it */
    unlink_iter(it);
}

PyObject *lsm_iter_open(log_object *self, const lsmlog_iter_opts *opts, PyTypeObject *record_type,
                        int once) {
    module_state *st = lsm_state_of((PyObject *)self);
    log_iter_object *it = (log_iter_object *)st->iter_type->tp_alloc(st->iter_type, 0);
    if (!it) return NULL;
    Py_INCREF(self);
    it->owner = self;
    Py_XINCREF(record_type);
    it->record_type = record_type;
    it->once = once;
    it->ch.want = 1;
    if (log_enter(self) < 0) {
        Py_DECREF(it);
        return NULL;
    }
    lsmlog_log *log = self->log;
    lsmlog_log_iter *cit = NULL;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = lsmlog_log_iter_open(log, opts, &cit);
    Py_END_ALLOW_THREADS
    log_leave(self);
    if (rc != LSMLOG_OK) {
        lsm_raise(st, rc);
        Py_DECREF(it);
        return NULL;
    }
    /* Linked before anything can let a close() in: it is the close's job now. */
    it->it = cit;
    link_iter(self, it);
    return (PyObject *)it;
}

/* Steps the core up to it->ch.want times with the GIL released, copying the
 * records into the chunk. 0 (the chunk may be empty: nothing more for now),
 * or -1 with an exception when nothing could be stepped. An error after some
 * records is kept in the chunk, to be raised once they are handed out. */
static int fill(log_iter_object *it) {
    chunk *c = &it->ch;
    if (lsm_chunk_alloc(c) < 0) return -1;
    log_object *owner = it->owner;
    if (log_enter(owner) < 0) return -1;
    it->busy = 1;
    lsmlog_log_iter *cit = it->it;
    chunk_item *items = c->items;
    char *data = c->data;
    int want = c->want, n = 0, lent = 0, rc = LSMLOG_OK;
    size_t used = 0;
    lsmlog_record rec = {0, 0, NULL, 0};
    Py_BEGIN_ALLOW_THREADS
    while (n < want) {
        rc = lsmlog_log_iter_next(cit, &rec);
        if (rc != LSMLOG_OK) break;
        if (rec.len > CHUNK_BYTES - used) { /* stays lent: handed out before the next step */
            lent = 1;
            break;
        }
        chunk_item *ci = &items[n++];
        ci->offset = rec.offset;
        ci->timestamp = rec.timestamp;
        ci->vpos = used;
        ci->vlen = rec.len;
        if (rec.len) memcpy(data + used, rec.value, rec.len);
        used += rec.len;
    }
    Py_END_ALLOW_THREADS
    log_leave(owner);
    it->busy = 0;
    lsm_chunk_filled(c, n, lent);
    if (lent) {
        c->lent_at.offset = rec.offset;
        c->lent_at.timestamp = rec.timestamp;
        c->lent_at.vlen = rec.len;
        c->lent_value = rec.value;
    }
    if (rc == LSMLOG_OK || rc == LSMLOG_NOTFOUND) return 0;
    lsm_raise(lsm_state_of((PyObject *)owner), rc);
    if (n == 0) return -1;
    lsm_chunk_stash_error(c);
    return 0;
}

/* The next record of the chunk (which is not empty) as a new tuple. */
static PyObject *take(log_iter_object *it) {
    chunk *c = &it->ch;
    const chunk_item *ci;
    PyObject *value;
    /* The value is copied first, before anything that could run Python code
     * (a GC-tracked allocation may start a collection) and so close the
     * iterator; the item is taken off the chunk before too. Bytes are not
     * GC-tracked. */
    if (c->next < c->n) {
        ci = &c->items[c->next++];
        value = PyBytes_FromStringAndSize(c->data + ci->vpos, (Py_ssize_t)ci->vlen);
    } else {
        ci = &c->lent_at;
        c->lent = 0; /* the core's memory: it->it is open (checked by the caller) */
        value = PyBytes_FromStringAndSize(c->lent_value, (Py_ssize_t)ci->vlen);
        c->lent_value = NULL;
    }
    if (!value) return NULL;
    PyObject *off = PyLong_FromUnsignedLongLong(ci->offset);
    PyObject *ts;
    if (it->last_ts && it->last_ts_value == ci->timestamp) {
        ts = it->last_ts;
        Py_INCREF(ts);
    } else if ((ts = PyLong_FromLongLong(ci->timestamp)) != NULL) {
        Py_INCREF(ts); /* ints are immutable: shared by the records with this timestamp */
        Py_XSETREF(it->last_ts, ts);
        it->last_ts_value = ci->timestamp;
    }
    PyTypeObject *rt = it->record_type;
    PyObject *t = NULL;
    if (off && ts) /* what tuple.__new__ does for a subclass (tuple_subtype_new) */
        t = rt ? rt->tp_alloc(rt, 3) : PyTuple_New(3);
    if (!t) {
        Py_XDECREF(off);
        Py_XDECREF(ts);
        Py_DECREF(value);
        return NULL;
    }
    PyTuple_SET_ITEM(t, 0, off);
    PyTuple_SET_ITEM(t, 1, ts);
    PyTuple_SET_ITEM(t, 2, value);
#if PY_VERSION_HEX >= 0x030E0000
    /* 3.14 caches a tuple's hash; tp_alloc zeroed the cache, and
     * tuple_subtype_new marks it "not computed" after tp_alloc too. */
    if (rt) ((PyTupleObject *)t)->ob_hash = -1;
#endif
    return t;
}

/* Ends a once iterator for good: closes the core iterator. */
static void finish(log_iter_object *it) {
    if (!it->once) return;
    if (it->it && it->owner->pid == lsm_getpid()) lsm_iter_detach(it);
    it->it = NULL;
    lsm_chunk_forget(&it->ch);
    it->user_closed = 1;
}

/* One step: a record, NULL with *end set when there is nothing (more) for
 * now, or NULL with an exception. */
static PyObject *step(log_iter_object *it, int *end) {
    *end = 0;
    /* About to step the core: a scan from C (list(log.read())) runs no
     * bytecode, so Ctrl-C is looked for here, once per chunk. A signal
     * handler may run any code (close this iterator, step it): everything
     * is checked after it. */
    if (!it->busy && lsm_chunk_empty(&it->ch) && PyErr_CheckSignals() < 0) return NULL;
    if (it->busy) {
        PyErr_SetString(PyExc_RuntimeError,
                        "this lsmlog iterator is being stepped by another thread");
        return NULL;
    }
    log_object *owner = it->owner;
    if (!it->it) {
        if (it->user_closed) {
            *end = 1;
            return NULL;
        }
        if (log_enter(owner) == 0) { /* cannot happen: an open Log keeps its iterators open */
            log_leave(owner);
            PyErr_SetString(PyExc_ValueError, "the iterator is closed");
        } else if (PyErr_ExceptionMatches(PyExc_ValueError)) {
            PyErr_Clear();
            PyErr_Format(PyExc_ValueError, "the Log of this iterator (%R) is closed", owner->path);
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
        if (fill(it) < 0) {
            finish(it);
            return NULL;
        }
        if (lsm_chunk_empty(&it->ch)) {
            if (it->ch.error) /* cannot happen: an error with no record is raised at once */
                lsm_chunk_raise_error(&it->ch);
            else
                *end = 1;
            finish(it);
            return NULL;
        }
    }
    return take(it);
}

static PyObject *iter_step(log_iter_object *it, PyObject *Py_UNUSED(ignored)) {
    int end;
    PyObject *r = step(it, &end);
    if (!r && end) Py_RETURN_NONE;
    return r;
}

static PyObject *iter_next(PyObject *self) {
    int end;
    return step((log_iter_object *)self, &end); /* NULL without an exception ends a for loop */
}

static PyObject *iter_close(log_iter_object *it, PyObject *Py_UNUSED(ignored)) {
    if (it->busy) {
        PyErr_SetString(PyExc_RuntimeError,
                        "this lsmlog iterator is being stepped by another thread");
        return NULL;
    }
    if (it->owner->pid == lsm_getpid()) lsm_iter_detach(it);
    it->it = NULL;
    lsm_chunk_forget(&it->ch);
    it->user_closed = 1;
    Py_RETURN_NONE;
}

static void release(log_iter_object *it) {
    if (it->it && it->owner && it->owner->pid == lsm_getpid()) lsm_iter_detach(it);
    it->it = NULL;
    unlink_iter(it);
}

static int iter_clear(PyObject *self) {
    log_iter_object *it = (log_iter_object *)self;
    release(it); /* before the reference to the Log goes */
    lsm_chunk_free(&it->ch);
    Py_CLEAR(it->last_ts);
    Py_CLEAR(it->record_type);
    Py_CLEAR(it->owner);
    return 0;
}

static int iter_traverse(PyObject *self, visitproc visit, void *arg) {
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(((log_iter_object *)self)->owner);
    Py_VISIT(((log_iter_object *)self)->record_type);
    Py_VISIT(((log_iter_object *)self)->ch.error);
    return 0;
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
    {"step", (PyCFunction)iter_step, METH_NOARGS,
     "step() -> (offset, timestamp, bytes) (or the record type given to Log.iter), or None when "
     "there is nothing more for now"},
    {"close", (PyCFunction)iter_close, METH_NOARGS, "close(): later steps find nothing"},
    {NULL, NULL, 0, NULL},
};

static PyType_Slot iter_slots[] = {
    {Py_tp_doc, "An iterator over a Log's records, made by Log.iter()."},
    {Py_tp_dealloc, iter_dealloc},
    {Py_tp_traverse, iter_traverse},
    {Py_tp_clear, iter_clear},
    {Py_tp_iter, iter_self},
    {Py_tp_iternext, iter_next},
    {Py_tp_methods, iter_methods},
    {0, NULL},
};

PyType_Spec lsm_iter_spec = {
    .name = "lsmlog._lsmlog.LogIter",
    .basicsize = sizeof(log_iter_object),
#ifdef Py_TPFLAGS_DISALLOW_INSTANTIATION
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_DISALLOW_INSTANTIATION,
#else
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
#endif
    .slots = iter_slots,
};
