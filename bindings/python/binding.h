/*
 * binding.h — what the files of the _lsmlog extension share: the module
 * state, the two object layouts and the helpers that convert arguments and
 * status codes.
 *
 * The extension is thin: it converts types and errors and nothing more. The
 * conveniences (codecs, Record, tail loops, pandas, repr) are plain Python in
 * python/lsmlog/. Only core/include/lsmlog.h is used from the core.
 *
 * Rules every method follows:
 *  - The GIL is released around every core call that can block or do I/O.
 *  - Before a core call, log_enter() refuses a closed handle (ValueError) and
 *    a handle inherited through fork() (lsmlog.Error), and counts the call as
 *    in flight; log_leave() uncounts it right after the GIL is taken back.
 *    The count covers only the GIL-released stretch, so close() (which holds
 *    the GIL) waits for the calls of *other* threads and never for its own.
 *  - A pointer the core lends (an iterator's record value) is copied into a
 *    bytes object before anything that could run Python code or let another
 *    thread in, so a close() from elsewhere can never free it under us.
 */
#ifndef LSMLOG_PY_BINDING_H
#define LSMLOG_PY_BINDING_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>
#include <sys/types.h>

#include "lsmlog.h"

/* Per-module state (multi-phase init: one per module object). */
typedef struct {
    PyTypeObject *log_type;  /* _lsmlog.Log */
    PyTypeObject *iter_type; /* _lsmlog.LogIter */
    PyObject *error;         /* lsmlog.Error, a subclass of OSError */
    PyObject *corruption_error;
    PyObject *locked_error;
    PyObject *readonly_error;
} module_state;

typedef struct log_iter_object log_iter_object;

/* _lsmlog.Log: one lsmlog_log handle. */
typedef struct {
    PyObject_HEAD
    lsmlog_log *log;        /* NULL once closed (or detached in a forked child) */
    int closing;            /* close() has begun: every new call is refused */
    pid_t pid;              /* the process that opened the handle */
    Py_ssize_t in_flight;   /* calls of other threads inside the core, GIL released */
    log_iter_object *iters; /* open iterators, linked through their prev/next */
    PyObject *path;         /* str: the path as opened, for messages and repr */
    int readonly;
    PyObject *weakreflist;
} log_object;

/* _lsmlog.LogIter: one lsmlog_log_iter, kept alive by and closed before its Log. */
struct log_iter_object {
    PyObject_HEAD
    log_object *owner;            /* strong reference */
    lsmlog_log_iter *it;          /* NULL once closed (by the user or by the Log's close) */
    log_iter_object *prev, *next; /* in owner->iters while it is open */
    int user_closed;              /* closed by close(): steps end quietly */
    int busy;                     /* a step is running (one thread at a time) */
};

/* module.c */
extern PyModuleDef lsmlog_module_def;
module_state *lsm_state_of(PyObject *obj); /* the state of obj's type's module */
/* Raises the exception for core status rc (< 0) from the calling thread's
 * lsmlog_errmsg()/lsmlog_errno(); returns NULL. Call it before any other
 * core call on this thread. */
PyObject *lsm_raise(module_state *st, int rc);

/* Argument converters for PyArg_Parse* "O&": integers (anything with
 * __index__) into the core's types. Out of range is a ValueError; not an
 * integer a TypeError. */
int lsm_conv_u64(PyObject *o, void *out);
int lsm_conv_i64(PyObject *o, void *out);
int lsm_conv_opt_u64(PyObject *o, void *out);     /* None: UINT64_MAX */
int lsm_conv_opt_i64_min(PyObject *o, void *out); /* None: INT64_MIN */
int lsm_conv_opt_i64_max(PyObject *o, void *out); /* None: INT64_MAX */
int lsm_conv_ts(PyObject *o, void *out);          /* None: LSMLOG_NOW; INT64_MIN refused */

/* pylog.c */
extern PyType_Spec lsm_log_spec;
int log_enter(log_object *self);
void log_leave(log_object *self);
/* Takes the GIL-holding thread off the CPU for about `ms` milliseconds. */
void lsm_sleep_ms(int ms);

/* pyiter.c */
extern PyType_Spec lsm_iter_spec;
/* Opens an iterator over self: the _lsmlog.LogIter, or NULL and an exception. */
PyObject *lsm_iter_open(log_object *self, const lsmlog_iter_opts *opts);
/* Closes the core iterator and unlinks it from its Log. */
void lsm_iter_detach(log_iter_object *it);

#endif
