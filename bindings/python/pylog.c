/*
 * pylog.c — _lsmlog.Log, a thin wrapper of one lsmlog_log handle: converts
 * arguments and results, maps status codes to exceptions, releases the GIL
 * around every core call, and enforces the handle's rules for Python users:
 * no call after close, no call in a forked child, close never racing a call
 * in flight, iterators closed before their log.
 */
#include "binding.h"

#include <errno.h>
#include <math.h>
#include <structmember.h>
#include <time.h>
#include <unistd.h>

/* A wait is cut into slices this long, so that Ctrl-C (PyErr_CheckSignals)
 * and a close() from another thread are noticed promptly. */
#define WAIT_SLICE_MS 100

static int64_t mono_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

void lsm_sleep_ms(int ms) {
    struct timespec t = {ms / 1000, (long)(ms % 1000) * 1000000L};
    Py_BEGIN_ALLOW_THREADS
    nanosleep(&t, NULL);
    Py_END_ALLOW_THREADS
}

/* ---- the guard around every core call ---------------------------------- */

int log_enter(log_object *self) {
    if (self->pid != lsm_getpid()) {
        module_state *st = lsm_state_of((PyObject *)self);
        PyErr_Format(st->error,
                     "this Log (%R) was opened by process %ld and cannot be used in a forked child "
                     "(process %ld): open the log again in the child",
                     self->path, (long)self->pid, (long)lsm_getpid());
        return -1;
    }
    if (!self->log || self->closing) {
        PyErr_Format(PyExc_ValueError, "I/O operation on a closed Log (%R)", self->path);
        return -1;
    }
    self->in_flight++;
    return 0;
}

void log_leave(log_object *self) {
    self->in_flight--;
}

/* Runs `call` (a core call on self->log) with the GIL released, between
 * log_enter and log_leave. Jumps out with NULL if the handle may not be used. */
/* clang-format off */
#define CORE_CALL(self, rc, call)             \
    do {                                      \
        if (log_enter(self) < 0) return NULL; \
        lsmlog_log *h_ = (self)->log;         \
        Py_BEGIN_ALLOW_THREADS                \
        (rc) = (call);                        \
        Py_END_ALLOW_THREADS                  \
        log_leave(self);                      \
    } while (0)
/* clang-format on */

#define RAISE(self, rc) lsm_raise(lsm_state_of((PyObject *)(self)), (rc))

/* ---- open, close, lifetime ---------------------------------------------- */

static PyObject *log_new(PyTypeObject *type, PyObject *args, PyObject *kwargs) {
    static char *kwlist[] = {"path",   "durability",    "create",     "readonly",
                             "repair", "segment_bytes", "segment_ms", NULL};
    lsmlog_options o;
    lsmlog_options_init(&o);
    PyObject *pathb = NULL;
    const char *durability = "os";
    int create = o.create, readonly = o.readonly, repair = o.repair;
    uint64_t segment_bytes = o.segment_bytes;
    int64_t segment_ms = o.segment_ms;
    if (!PyArg_ParseTupleAndKeywords(
            args, kwargs, "O&|$spppO&O&:Log", kwlist, PyUnicode_FSConverter, &pathb, &durability,
            &create, &readonly, &repair, lsm_conv_u64, &segment_bytes, lsm_conv_i64, &segment_ms))
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
    o.segment_bytes = segment_bytes;
    o.segment_ms = segment_ms;

    log_object *self = (log_object *)type->tp_alloc(type, 0);
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
    lsmlog_log *log = NULL;
    const char *cpath = PyBytes_AS_STRING(pathb);
    Py_BEGIN_ALLOW_THREADS
    rc = lsmlog_log_open(cpath, &o, &log);
    Py_END_ALLOW_THREADS
    Py_DECREF(pathb);
    if (rc != LSMLOG_OK) {
        lsm_raise(st, rc);
        Py_DECREF(self);
        return NULL;
    }
    self->log = log;
    return (PyObject *)self;
}

/* Forgets the handle without touching it: in a forked child, the parent's
 * mutexes may be held and a flush would write the parent's buffered records
 * a second time. The child's copies of the descriptors stay open (closing a
 * copy of the lock's descriptor would not release the parent's lock anyway). */
static void detach_in_child(log_object *self) {
    while (self->iters) {
        log_iter_object *it = self->iters;
        self->iters = it->next;
        it->it = NULL;
        lsm_chunk_forget(&it->ch);
        it->prev = it->next = NULL;
    }
    self->log = NULL;
}

/* Closes the handle: refuses new calls, waits for the calls of other threads
 * in flight, closes the open iterators, then the core handle. 0, or -1 with
 * an exception (the handle is gone either way unless the core said BUSY). */
static int do_close(log_object *self) {
    if (!self->log) return 0;
    if (self->pid != lsm_getpid()) {
        detach_in_child(self);
        return 0;
    }
    if (self->closing) { /* another thread is closing it: wait until it is done */
        while (self->log && self->closing)
            lsm_sleep_ms(1);
        return 0;
    }
    self->closing = 1;
    /* Calls in flight end soon: waits are cut into short slices and give up
     * when they see `closing`. */
    while (self->in_flight > 0)
        lsm_sleep_ms(1);
    while (self->iters)
        lsm_iter_detach(self->iters);
    lsmlog_log *log = self->log;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = lsmlog_log_close(log);
    Py_END_ALLOW_THREADS
    if (rc == LSMLOG_E_BUSY) { /* cannot happen: every iterator was closed above */
        self->closing = 0;
        RAISE(self, rc);
        return -1;
    }
    self->log = NULL;
    self->closing = 0;
    if (rc != LSMLOG_OK) {
        RAISE(self, rc);
        return -1;
    }
    return 0;
}

static PyObject *log_close(log_object *self, PyObject *Py_UNUSED(ignored)) {
    if (do_close(self) < 0) return NULL;
    Py_RETURN_NONE;
}

/* An unclosed handle is closed by the garbage collector, with a
 * ResourceWarning like an unclosed file's. */
static int close_for_finalizer(PyObject *obj) {
    return do_close((log_object *)obj);
}

static void log_finalize(PyObject *obj) {
    log_object *self = (log_object *)obj;
    if (self->log) lsm_finalize_handle(obj, self->pid, "Log", self->path, close_for_finalizer);
}

static void log_dealloc(PyObject *obj) {
    log_object *self = (log_object *)obj;
    PyTypeObject *tp = Py_TYPE(obj);
    if (PyObject_CallFinalizerFromDealloc(obj) < 0) return; /* resurrected */
    PyObject_GC_UnTrack(obj);
    if (self->weakreflist) PyObject_ClearWeakRefs(obj);
    if (self->log) detach_in_child(self); /* only reached when the finalizer could not close it */
    Py_CLEAR(self->path);
    tp->tp_free(obj);
    Py_DECREF(tp);
}

static int log_traverse(PyObject *obj, visitproc visit, void *arg) {
    Py_VISIT(Py_TYPE(obj));
    Py_VISIT(((log_object *)obj)->path);
    return 0;
}

static PyObject *log_repr(PyObject *obj) {
    log_object *self = (log_object *)obj;
    return PyUnicode_FromFormat("<_lsmlog.Log %R %s>", self->path, self->log ? "open" : "closed");
}

/* ---- writing ------------------------------------------------------------ */

/* append(value, ts=None) -> offset */
static PyObject *log_append(log_object *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs < 1 || nargs > 2) {
        PyErr_Format(PyExc_TypeError, "append() takes 1 or 2 arguments (%zd given)", nargs);
        return NULL;
    }
    int64_t ts = LSMLOG_NOW;
    if (nargs == 2 && !lsm_conv_ts(args[1], &ts)) return NULL;
    Py_buffer view;
    if (lsm_get_buffer(args[0], &view, "value") < 0) return NULL;
    if (log_enter(self) < 0) {
        PyBuffer_Release(&view);
        return NULL;
    }
    uint64_t off = 0;
    int rc;
    lsmlog_log *log = self->log;
    Py_BEGIN_ALLOW_THREADS
    rc = lsmlog_log_append(log, view.buf, (size_t)view.len, ts, &off);
    Py_END_ALLOW_THREADS
    log_leave(self);
    PyObject *result = rc == LSMLOG_OK ? PyLong_FromUnsignedLongLong(off) : RAISE(self, rc);
    PyBuffer_Release(&view);
    return result;
}

/* append_batch(values, ts=None) -> first offset: one batch */
static PyObject *log_append_batch(log_object *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs < 1 || nargs > 2) {
        PyErr_Format(PyExc_TypeError, "append_batch() takes 1 or 2 arguments (%zd given)", nargs);
        return NULL;
    }
    int64_t ts = LSMLOG_NOW;
    if (nargs == 2 && !lsm_conv_ts(args[1], &ts)) return NULL;
    /* A tuple: a list could change under us (another thread, or a __buffer__
     * method running Python code while the views are taken). Copying a list
     * costs a few ns per value. */
    PyObject *seq = PySequence_Tuple(args[0]);
    if (!seq) return NULL;
    Py_ssize_t n = PyTuple_GET_SIZE(seq);
    if (n == 0) {
        Py_DECREF(seq);
        PyErr_SetString(PyExc_ValueError, "an empty batch: extend() needs at least one value");
        return NULL;
    }
    Py_buffer *views = PyMem_Calloc((size_t)n, sizeof *views);
    lsmlog_entry *entries = PyMem_Calloc((size_t)n, sizeof *entries);
    PyObject *result = NULL;
    Py_ssize_t got = 0;
    if (!views || !entries) {
        PyErr_NoMemory();
        goto done;
    }
    /* The tuple holds a reference to every value while the GIL is released:
     * a bytes object (immutable) is read in place; any other bytes-like
     * object through a buffer view (views[i].obj NULL: none taken). */
    for (; got < n; got++) {
        PyObject *item = PyTuple_GET_ITEM(seq, got);
        if (PyBytes_CheckExact(item)) {
            entries[got].data = PyBytes_AS_STRING(item);
            entries[got].len = (size_t)PyBytes_GET_SIZE(item);
            entries[got].ts = ts;
            continue;
        }
        if (lsm_get_buffer(item, &views[got], "value") < 0) {
            if (PyErr_ExceptionMatches(PyExc_TypeError)) {
                PyErr_Clear();
                if (PyUnicode_Check(item)) /* lsmlog.Log.extend passes values as they are */
                    PyErr_Format(PyExc_TypeError,
                                 "extend(): value %zd: a bytes-like value is required, not str: "
                                 "encode it, or open the Log with codec='utf-8'",
                                 got);
                else
                    PyErr_Format(PyExc_TypeError,
                                 "extend(): value %zd: a bytes-like object is required, not "
                                 "'%.100s'",
                                 got, Py_TYPE(item)->tp_name);
            }
            goto done;
        }
        entries[got].data = views[got].buf;
        entries[got].len = (size_t)views[got].len;
        entries[got].ts = ts;
    }
    if (log_enter(self) < 0) goto done;
    uint64_t first = 0;
    int rc;
    lsmlog_log *log = self->log;
    Py_BEGIN_ALLOW_THREADS
    rc = lsmlog_log_append_batch(log, entries, (size_t)n, &first);
    Py_END_ALLOW_THREADS
    log_leave(self);
    result = rc == LSMLOG_OK ? PyLong_FromUnsignedLongLong(first) : RAISE(self, rc);
done:
    for (Py_ssize_t i = 0; i < got; i++)
        if (views[i].obj) PyBuffer_Release(&views[i]);
    PyMem_Free(views);
    PyMem_Free(entries);
    Py_DECREF(seq);
    return result;
}

static PyObject *log_flush(log_object *self, PyObject *Py_UNUSED(ignored)) {
    int rc;
    CORE_CALL(self, rc, lsmlog_log_flush(h_));
    if (rc != LSMLOG_OK) return RAISE(self, rc);
    Py_RETURN_NONE;
}

static PyObject *log_sync(log_object *self, PyObject *Py_UNUSED(ignored)) {
    int rc;
    CORE_CALL(self, rc, lsmlog_log_sync(h_));
    if (rc != LSMLOG_OK) return RAISE(self, rc);
    Py_RETURN_NONE;
}

/* truncate_before(offset) */
static PyObject *log_truncate_before(log_object *self, PyObject *arg) {
    uint64_t off;
    if (!lsm_conv_u64(arg, &off)) return NULL;
    int rc;
    CORE_CALL(self, rc, lsmlog_log_truncate_before(h_, off));
    if (rc != LSMLOG_OK) return RAISE(self, rc);
    Py_RETURN_NONE;
}

/* retain(max_bytes, max_age_ms) -> segments dropped; 0 means no limit */
static PyObject *log_retain(log_object *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2) {
        PyErr_Format(PyExc_TypeError, "retain() takes 2 arguments (%zd given)", nargs);
        return NULL;
    }
    uint64_t max_bytes;
    int64_t max_age;
    if (!lsm_conv_u64(args[0], &max_bytes) || !lsm_conv_i64(args[1], &max_age)) return NULL;
    uint64_t dropped = 0;
    int rc;
    CORE_CALL(self, rc, lsmlog_log_retain(h_, max_bytes, max_age, &dropped));
    if (rc != LSMLOG_OK) return RAISE(self, rc);
    return PyLong_FromUnsignedLongLong(dropped);
}

/* ---- reading ------------------------------------------------------------ */

/* get(offset) -> (timestamp, bytes), or None when absent */
static PyObject *log_get(log_object *self, PyObject *arg) {
    uint64_t off;
    if (!lsm_conv_u64(arg, &off)) return NULL;
    int64_t ts = 0;
    void *value = NULL;
    size_t len = 0;
    int rc;
    CORE_CALL(self, rc, lsmlog_log_get(h_, off, &ts, &value, &len));
    if (rc == LSMLOG_NOTFOUND) Py_RETURN_NONE;
    if (rc != LSMLOG_OK) return RAISE(self, rc);
    PyObject *bytes = PyBytes_FromStringAndSize(value, (Py_ssize_t)len);
    lsmlog_free(value);
    if (!bytes) return NULL;
    PyObject *result = Py_BuildValue("(LN)", (long long)ts, bytes);
    return result;
}

/* bounds() -> (start, end) */
static PyObject *log_bounds(log_object *self, PyObject *Py_UNUSED(ignored)) {
    uint64_t start = 0, end = 0;
    int rc;
    CORE_CALL(self, rc, lsmlog_log_bounds(h_, &start, &end));
    if (rc != LSMLOG_OK) return RAISE(self, rc);
    return Py_BuildValue("(KK)", (unsigned long long)start, (unsigned long long)end);
}

/* stat() -> (start, end, segments, bytes, first_ts, max_ts) */
static PyObject *log_stat(log_object *self, PyObject *Py_UNUSED(ignored)) {
    lsmlog_log_info info;
    int rc;
    CORE_CALL(self, rc, lsmlog_log_stat(h_, &info));
    if (rc != LSMLOG_OK) return RAISE(self, rc);
    return Py_BuildValue("(KKKKLL)", (unsigned long long)info.start, (unsigned long long)info.end,
                         (unsigned long long)info.segments, (unsigned long long)info.bytes,
                         (long long)info.first_ts, (long long)info.max_ts);
}

/* recovery() -> (truncated_bytes, dropped_batches, dropped_bytes, rebuilt_indexes, message) */
static PyObject *log_recovery(log_object *self, PyObject *Py_UNUSED(ignored)) {
    if (log_enter(self) < 0) return NULL;
    /* No I/O: read with the GIL held; the message is copied before anything
     * could close the handle. */
    const lsmlog_recovery *r = lsmlog_log_recovery(self->log);
    lsmlog_recovery copy = *r;
    PyObject *msg = PyUnicode_DecodeFSDefault(r->message ? r->message : "");
    log_leave(self);
    if (!msg) return NULL;
    return Py_BuildValue("(KKKKN)", (unsigned long long)copy.truncated_bytes,
                         (unsigned long long)copy.dropped_batches,
                         (unsigned long long)copy.dropped_bytes,
                         (unsigned long long)copy.rebuilt_indexes, msg);
}

/* offset_for_time(ts) -> offset, or None when no record has a timestamp >= ts */
static PyObject *log_offset_for_time(log_object *self, PyObject *arg) {
    int64_t ts;
    if (!lsm_conv_i64(arg, &ts)) return NULL;
    uint64_t off = 0;
    int rc;
    CORE_CALL(self, rc, lsmlog_log_offset_for_time(h_, ts, &off));
    if (rc == LSMLOG_NOTFOUND) Py_RETURN_NONE;
    if (rc != LSMLOG_OK) return RAISE(self, rc);
    return PyLong_FromUnsignedLongLong(off);
}

/* verify() -> records checked */
static PyObject *log_verify(log_object *self, PyObject *Py_UNUSED(ignored)) {
    uint64_t n = 0;
    int rc;
    CORE_CALL(self, rc, lsmlog_log_verify(h_, &n));
    if (rc != LSMLOG_OK) return RAISE(self, rc);
    return PyLong_FromUnsignedLongLong(n);
}

/* wait(offset, timeout) -> True once the log holds a record at offset or
 * higher, False after timeout seconds (None: no limit). Waits in slices of at
 * most WAIT_SLICE_MS with the GIL released and checks for signals between
 * them, so Ctrl-C interrupts it; a close() from another thread makes it
 * raise ValueError. */
static PyObject *log_wait(log_object *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2) {
        PyErr_Format(PyExc_TypeError, "wait() takes 2 arguments (%zd given)", nargs);
        return NULL;
    }
    uint64_t off;
    if (!lsm_conv_u64(args[0], &off)) return NULL;
    int64_t deadline = INT64_MAX;
    if (args[1] != Py_None) {
        double t = PyFloat_AsDouble(args[1]);
        if (t == -1.0 && PyErr_Occurred()) return NULL;
        if (isnan(t) || t < 0) {
            PyErr_Format(PyExc_ValueError, "timeout must be a number >= 0 or None, not %R",
                         args[1]);
            return NULL;
        }
        deadline = t > 1e12 ? INT64_MAX : mono_ms() + (int64_t)(t * 1000.0);
    }
    for (;;) {
        int64_t left = deadline == INT64_MAX ? WAIT_SLICE_MS : deadline - mono_ms();
        if (left < 0) left = 0;
        int64_t slice = left < WAIT_SLICE_MS ? left : WAIT_SLICE_MS;
        int rc;
        CORE_CALL(self, rc, lsmlog_log_wait(h_, off, slice));
        if (rc == LSMLOG_OK) Py_RETURN_TRUE;
        if (rc != LSMLOG_TIMEOUT) return RAISE(self, rc);
        if (PyErr_CheckSignals() < 0) return NULL;
        if (deadline != INT64_MAX && mono_ms() >= deadline) Py_RETURN_FALSE;
    }
}

/* iter(start=0, stop=None, since=None, until=None, record=None, once=False) -> LogIter */
static PyObject *log_iter(log_object *self, PyObject *args, PyObject *kwargs) {
    static char *kwlist[] = {"start", "stop", "since", "until", "record", "once", NULL};
    lsmlog_iter_opts o;
    lsmlog_iter_opts_init(&o);
    PyObject *record = Py_None;
    int once = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|O&O&O&O&$Op:iter", kwlist, lsm_conv_u64,
                                     &o.start, lsm_conv_opt_u64, &o.stop, lsm_conv_opt_i64_min,
                                     &o.since, lsm_conv_opt_i64_max, &o.until, &record, &once))
        return NULL;
    /* Records are made as tuple.__new__ makes them for a subclass: tp_alloc,
     * then the items. So a subclass that adds nothing to a tuple's layout
     * (a NamedTuple: __slots__ = ()). */
    if (record != Py_None &&
        !(PyType_Check(record) && PyType_IsSubtype((PyTypeObject *)record, &PyTuple_Type) &&
          ((PyTypeObject *)record)->tp_basicsize == PyTuple_Type.tp_basicsize &&
          ((PyTypeObject *)record)->tp_itemsize == PyTuple_Type.tp_itemsize)) {
        PyErr_Format(PyExc_TypeError,
                     "record must be None or a subclass of tuple with no fields of its own "
                     "(a NamedTuple), not %R",
                     record);
        return NULL;
    }
    return lsm_iter_open(self, &o, record == Py_None ? NULL : (PyTypeObject *)record, once);
}

/* ---- attributes --------------------------------------------------------- */

static PyObject *log_get_closed(log_object *self, void *Py_UNUSED(closure)) {
    return PyBool_FromLong(self->log == NULL || self->closing);
}

static PyObject *log_get_path(log_object *self, void *Py_UNUSED(closure)) {
    Py_INCREF(self->path);
    return self->path;
}

static PyObject *log_get_readonly(log_object *self, void *Py_UNUSED(closure)) {
    return PyBool_FromLong(self->readonly);
}

static PyGetSetDef log_getset[] = {
    {"closed", (getter)log_get_closed, NULL, "True once close() was called.", NULL},
    {"path", (getter)log_get_path, NULL, "The directory, as opened.", NULL},
    {"readonly", (getter)log_get_readonly, NULL, "True for a read-only handle.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyMemberDef log_members[] = {
    {"__weaklistoffset__", T_PYSSIZET, offsetof(log_object, weakreflist), READONLY, NULL},
    {NULL, 0, 0, 0, NULL},
};

#define FASTCALL(f) (PyCFunction)(void (*)(void))(f), METH_FASTCALL
#define KWCALL(f) (PyCFunction)(void (*)(void))(f), METH_VARARGS | METH_KEYWORDS

static PyMethodDef log_methods[] = {
    {"append", FASTCALL(log_append), "append(value, ts=None) -> offset"},
    {"append_batch", FASTCALL(log_append_batch),
     "append_batch(values, ts=None) -> first offset (one batch)"},
    {"flush", (PyCFunction)log_flush, METH_NOARGS, "flush()"},
    {"sync", (PyCFunction)log_sync, METH_NOARGS, "sync()"},
    {"get", (PyCFunction)log_get, METH_O, "get(offset) -> (timestamp, bytes) or None"},
    {"bounds", (PyCFunction)log_bounds, METH_NOARGS, "bounds() -> (start, end)"},
    {"stat", (PyCFunction)log_stat, METH_NOARGS,
     "stat() -> (start, end, segments, bytes, first_ts, max_ts)"},
    {"recovery", (PyCFunction)log_recovery, METH_NOARGS,
     "recovery() -> (truncated_bytes, dropped_batches, dropped_bytes, rebuilt_indexes, message)"},
    {"offset_for_time", (PyCFunction)log_offset_for_time, METH_O,
     "offset_for_time(ts) -> offset or None"},
    {"wait", FASTCALL(log_wait), "wait(offset, timeout) -> bool"},
    {"truncate_before", (PyCFunction)log_truncate_before, METH_O, "truncate_before(offset)"},
    {"retain", FASTCALL(log_retain), "retain(max_bytes, max_age_ms) -> segments dropped"},
    {"verify", (PyCFunction)log_verify, METH_NOARGS, "verify() -> records checked"},
    {"iter", KWCALL(log_iter),
     "iter(start=0, stop=None, since=None, until=None, *, record=None, once=False) -> LogIter: "
     "steps give (offset, timestamp, bytes) tuples, or instances of `record` (a tuple subclass "
     "such as a NamedTuple of three fields); with once=True the first end or error closes it"},
    {"close", (PyCFunction)log_close, METH_NOARGS, "close()"},
    {NULL, NULL, 0, NULL},
};

static PyType_Slot log_slots[] = {
    {Py_tp_doc, "Log(path, *, durability='os', create=True, readonly=False, repair=False, "
                "segment_bytes=64 MiB, segment_ms=0): one lsmlog_log handle (use lsmlog.Log)."},
    {Py_tp_new, log_new},
    {Py_tp_dealloc, log_dealloc},
    {Py_tp_finalize, log_finalize},
    {Py_tp_traverse, log_traverse},
    {Py_tp_repr, log_repr},
    {Py_tp_methods, log_methods},
    {Py_tp_getset, log_getset},
    {Py_tp_members, log_members},
    {0, NULL},
};

PyType_Spec lsm_log_spec = {
    .name = "lsmlog._lsmlog.Log",
    .basicsize = sizeof(log_object),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .slots = log_slots,
};
