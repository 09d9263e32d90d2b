/*
 * pyiter.c — _lsmlog.LogIter, one lsmlog_log_iter. It holds a strong
 * reference to its Log, and the Log keeps a list of its open iterators so
 * that closing the Log closes them first (the core refuses to close a log
 * with open iterators, and an iterator must never outlive its log's memory).
 * After that, a step raises ValueError. Stepping is the core's: records
 * appended after the iterator was opened are returned too, so a step that
 * finds nothing now (None, or the end of a for loop) may find records later.
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
    unlink_iter(it);
}

PyObject *lsm_iter_open(log_object *self, const lsmlog_iter_opts *opts) {
    module_state *st = lsm_state_of((PyObject *)self);
    log_iter_object *it = (log_iter_object *)st->iter_type->tp_alloc(st->iter_type, 0);
    if (!it) return NULL;
    Py_INCREF(self);
    it->owner = self;
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

/* One step: a (offset, timestamp, bytes) tuple, NULL with *end set when
 * there is nothing (more) for now, or NULL with an exception. */
static PyObject *step(log_iter_object *it, int *end) {
    *end = 0;
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
            return NULL;
        }
        if (PyErr_ExceptionMatches(PyExc_ValueError)) {
            PyErr_Clear();
            PyErr_Format(PyExc_ValueError, "the Log of this iterator (%R) is closed", owner->path);
        }
        return NULL;
    }
    if (log_enter(owner) < 0) return NULL;
    it->busy = 1;
    lsmlog_log_iter *cit = it->it;
    lsmlog_record rec;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = lsmlog_log_iter_next(cit, &rec);
    Py_END_ALLOW_THREADS
    log_leave(owner);
    it->busy = 0;
    if (rc == LSMLOG_NOTFOUND) {
        *end = 1;
        return NULL;
    }
    if (rc != LSMLOG_OK) return lsm_raise(lsm_state_of((PyObject *)owner), rc);
    /* rec.value is lent until the next step or close: copy it first, before
     * anything (a GC-tracked allocation) could run Python code. Bytes are not
     * GC-tracked. */
    PyObject *value = PyBytes_FromStringAndSize(rec.value, (Py_ssize_t)rec.len);
    if (!value) return NULL;
    return Py_BuildValue("(KLN)", (unsigned long long)rec.offset, (long long)rec.timestamp, value);
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
    if (it->owner->pid == getpid()) lsm_iter_detach(it);
    it->it = NULL;
    it->user_closed = 1;
    Py_RETURN_NONE;
}

static void release(log_iter_object *it) {
    if (it->it && it->owner && it->owner->pid == getpid()) lsm_iter_detach(it);
    it->it = NULL;
    unlink_iter(it);
}

static int iter_clear(PyObject *self) {
    log_iter_object *it = (log_iter_object *)self;
    release(it); /* before the reference to the Log goes */
    Py_CLEAR(it->owner);
    return 0;
}

static int iter_traverse(PyObject *self, visitproc visit, void *arg) {
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(((log_iter_object *)self)->owner);
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
     "step() -> (offset, timestamp, bytes), or None when there is nothing more for now"},
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
