/*
 * module.c — the _lsmlog extension module: multi-phase initialisation and
 * per-module state (CPython's Modules/xxlimited.c is the template), the
 * exception classes, the one table from core status codes to exceptions, the
 * integer argument converters and the buffer helper.
 */
#include "binding.h"

#include <errno.h>
#include <pthread.h>
#include <unistd.h>

/* ---- the process id, without a system call ------------------------------ */

/* Every call checks that its handle was opened by this process (a handle
 * inherited through fork() must not be used). getpid() is a system call
 * (about 270 ns on a VM), too dear for every iterator step: the id is kept
 * here and refreshed in the child by a pthread_atfork handler, which fork()
 * runs (os.fork, multiprocessing, forkpty). */
static pid_t current_pid; /* 0: not kept (pthread_atfork failed): ask each time */
static pthread_once_t pid_once = PTHREAD_ONCE_INIT;

static void pid_refresh(void) {
    current_pid = getpid();
}

static void pid_init(void) {
    if (pthread_atfork(NULL, NULL, pid_refresh) == 0) pid_refresh();
}

pid_t lsm_getpid(void) {
    return current_pid ? current_pid : getpid();
}

/* ---- status codes -> exceptions ---------------------------------------- */

enum exc_kind {
    K_ERROR,    /* lsmlog.Error */
    K_CORRUPT,  /* lsmlog.CorruptionError */
    K_LOCKED,   /* lsmlog.LockedError */
    K_READONLY, /* lsmlog.ReadOnlyError */
    K_VALUE,    /* ValueError: a bad argument, or the handle is closed */
    K_MEMORY,   /* MemoryError */
};

/* The one table. `err` is the errno an OSError carries when the core gave
 * none (0: none). */
static const struct {
    int code;
    enum exc_kind kind;
    int err;
} status_table[] = {
    /* clang-format off */
    {LSMLOG_E_IO, K_ERROR, 0},
    {LSMLOG_E_CORRUPT, K_CORRUPT, 0},
    {LSMLOG_E_NOMEM, K_MEMORY, 0},
    {LSMLOG_E_INVALID, K_VALUE, 0},
    {LSMLOG_E_BUSY, K_ERROR, EBUSY},
    {LSMLOG_E_LOCKED, K_LOCKED, 0},
    {LSMLOG_E_CLOSED, K_VALUE, 0},
    {LSMLOG_E_READONLY, K_READONLY, EROFS},
    {LSMLOG_E_TOOBIG, K_VALUE, 0},
    {LSMLOG_E_VERSION, K_ERROR, 0},
    {LSMLOG_E_NOENT, K_ERROR, ENOENT},
    {LSMLOG_E_FAILED, K_ERROR, 0},
    {LSMLOG_E_CANCELED, K_ERROR, ECANCELED},
    /* clang-format on */
};

PyObject *lsm_raise(module_state *st, int rc) {
    /* Capture the thread's message and errno before anything else runs. */
    const char *text = lsmlog_errmsg();
    int err = lsmlog_errno();
    if (strcmp(text, "no error") == 0) text = lsmlog_strerror(rc);
    enum exc_kind kind = K_ERROR;
    for (size_t i = 0; i < sizeof status_table / sizeof status_table[0]; i++)
        if (status_table[i].code == rc) {
            kind = status_table[i].kind;
            if (err == 0) err = status_table[i].err;
            break;
        }
    PyObject *msg = PyUnicode_DecodeFSDefault(text);
    if (!msg) return NULL;
    if (kind == K_VALUE) {
        PyErr_SetObject(PyExc_ValueError, msg);
        Py_DECREF(msg);
        return NULL;
    }
    if (kind == K_MEMORY) {
        PyErr_SetObject(PyExc_MemoryError, msg);
        Py_DECREF(msg);
        return NULL;
    }
    PyObject *cls = kind == K_CORRUPT    ? st->corruption_error
                    : kind == K_LOCKED   ? st->locked_error
                    : kind == K_READONLY ? st->readonly_error
                                         : st->error;
    /* OSError(errno, message) fills .errno and .strerror; without an errno,
     * OSError(message) leaves them None. */
    PyObject *exc =
        err ? PyObject_CallFunction(cls, "(iO)", err, msg) : PyObject_CallFunction(cls, "(O)", msg);
    Py_DECREF(msg);
    if (!exc) return NULL;
    PyObject *code = PyLong_FromLong(rc);
    if (!code || PyObject_SetAttrString(exc, "code", code) < 0) {
        Py_XDECREF(code);
        Py_DECREF(exc);
        return NULL;
    }
    Py_DECREF(code);
    PyErr_SetObject(cls, exc);
    Py_DECREF(exc);
    return NULL;
}

/* ---- argument converters ------------------------------------------------ */

/* An exact int from anything with __index__ (a new reference), or NULL. */
static PyObject *as_index(PyObject *o) {
    if (PyBool_Check(o)) {
        PyErr_SetString(PyExc_TypeError, "an integer is required, not bool");
        return NULL;
    }
    return PyNumber_Index(o); /* TypeError for floats, str, ... */
}

int lsm_conv_u64(PyObject *o, void *out) {
    PyObject *i = as_index(o);
    if (!i) return 0;
    unsigned long long v = PyLong_AsUnsignedLongLong(i);
    Py_DECREF(i);
    if (v == (unsigned long long)-1 && PyErr_Occurred()) {
        if (PyErr_ExceptionMatches(PyExc_OverflowError)) {
            PyErr_Clear();
            PyErr_Format(PyExc_ValueError,
                         "%R is out of range: an integer in [0, 2**64) is required", o);
        }
        return 0;
    }
    *(uint64_t *)out = (uint64_t)v;
    return 1;
}

int lsm_conv_i64(PyObject *o, void *out) {
    PyObject *i = as_index(o);
    if (!i) return 0;
    long long v = PyLong_AsLongLong(i);
    Py_DECREF(i);
    if (v == -1 && PyErr_Occurred()) {
        if (PyErr_ExceptionMatches(PyExc_OverflowError)) {
            PyErr_Clear();
            PyErr_Format(PyExc_ValueError,
                         "%R is out of range: an integer in [-2**63, 2**63) is required", o);
        }
        return 0;
    }
    *(int64_t *)out = (int64_t)v;
    return 1;
}

int lsm_conv_opt_u64(PyObject *o, void *out) {
    if (o == Py_None) {
        *(uint64_t *)out = UINT64_MAX;
        return 1;
    }
    return lsm_conv_u64(o, out);
}

int lsm_conv_opt_i64_min(PyObject *o, void *out) {
    if (o == Py_None) {
        *(int64_t *)out = INT64_MIN;
        return 1;
    }
    return lsm_conv_i64(o, out);
}

int lsm_conv_opt_i64_max(PyObject *o, void *out) {
    if (o == Py_None) {
        *(int64_t *)out = INT64_MAX;
        return 1;
    }
    return lsm_conv_i64(o, out);
}

int lsm_conv_ts(PyObject *o, void *out) {
    if (o == Py_None) {
        *(int64_t *)out = LSMLOG_NOW;
        return 1;
    }
    if (!lsm_conv_i64(o, out)) return 0;
    if (*(int64_t *)out == LSMLOG_NOW) { /* the core's "now": not a timestamp */
        PyErr_SetString(PyExc_ValueError, "timestamp -2**63 is reserved; use None for \"now\"");
        return 0;
    }
    return 1;
}

/* ---- buffers ------------------------------------------------------------ */

int lsm_get_buffer(PyObject *obj, Py_buffer *view, const char *what) {
    if (!PyObject_CheckBuffer(obj)) {
        PyErr_Format(PyExc_TypeError, "%s: a bytes-like object is required, not '%.100s'", what,
                     Py_TYPE(obj)->tp_name);
        return -1;
    }
    if (PyObject_GetBuffer(obj, view, PyBUF_SIMPLE) == 0) return 0;
    PyErr_Clear(); /* a strided view: copy it into a contiguous one */
    PyObject *contig = PyMemoryView_GetContiguous(obj, PyBUF_READ, 'C');
    if (!contig) return -1;
    int rc = PyObject_GetBuffer(contig, view, PyBUF_SIMPLE); /* the view keeps contig alive */
    Py_DECREF(contig);
    return rc;
}

/* ---- the module --------------------------------------------------------- */

module_state *lsm_state_of(PyObject *obj) {
    return (module_state *)PyType_GetModuleState(Py_TYPE(obj));
}

static int add_exception(PyObject *m, PyObject **slot, const char *name, const char *doc,
                         PyObject *base) {
    char full[64];
    PyOS_snprintf(full, sizeof full, "lsmlog.%s", name);
    *slot = PyErr_NewExceptionWithDoc(full, doc, base, NULL);
    if (!*slot) return -1;
    Py_INCREF(*slot);
    if (PyModule_AddObject(m, name, *slot) < 0) {
        Py_DECREF(*slot);
        return -1;
    }
    return 0;
}

static int module_exec(PyObject *m) {
    module_state *st = PyModule_GetState(m);
    pthread_once(&pid_once, pid_init);
    if (add_exception(m, &st->error, "Error",
                      "Base of lsmlog's errors; an OSError. .errno is the OS error behind it "
                      "(or None), .code the core's status code.",
                      PyExc_OSError) < 0)
        return -1;
    if (add_exception(m, &st->corruption_error, "CorruptionError",
                      "Stored data failed a checksum or structure check; the message names "
                      "the file and byte position.",
                      st->error) < 0)
        return -1;
    if (add_exception(m, &st->locked_error, "LockedError",
                      "Another writer (in this or another process) holds the directory's lock.",
                      st->error) < 0)
        return -1;
    if (add_exception(m, &st->readonly_error, "ReadOnlyError",
                      "A write on a handle opened with readonly=True.", st->error) < 0)
        return -1;

    st->log_type = (PyTypeObject *)PyType_FromModuleAndSpec(m, &lsm_log_spec, NULL);
    if (!st->log_type || PyModule_AddType(m, st->log_type) < 0) return -1;
    st->iter_type = (PyTypeObject *)PyType_FromModuleAndSpec(m, &lsm_iter_spec, NULL);
    if (!st->iter_type || PyModule_AddType(m, st->iter_type) < 0) return -1;
    st->db_type = (PyTypeObject *)PyType_FromModuleAndSpec(m, &lsm_db_spec, NULL);
    if (!st->db_type || PyModule_AddType(m, st->db_type) < 0) return -1;
    st->db_iter_type = (PyTypeObject *)PyType_FromModuleAndSpec(m, &lsm_db_iter_spec, NULL);
    if (!st->db_iter_type || PyModule_AddType(m, st->db_iter_type) < 0) return -1;
    st->snapshot_type = (PyTypeObject *)PyType_FromModuleAndSpec(m, &lsm_snapshot_spec, NULL);
    if (!st->snapshot_type || PyModule_AddType(m, st->snapshot_type) < 0) return -1;
    st->batch_type = (PyTypeObject *)PyType_FromModuleAndSpec(m, &lsm_batch_spec, NULL);
    if (!st->batch_type || PyModule_AddType(m, st->batch_type) < 0) return -1;
#ifndef Py_TPFLAGS_DISALLOW_INSTANTIATION
    st->iter_type->tp_new = NULL;     /* made only by Log.iter() */
    st->db_iter_type->tp_new = NULL;  /* made only by DB.iter() */
    st->snapshot_type->tp_new = NULL; /* made only by DB.snapshot() */
#endif
    if (PyModule_AddStringConstant(m, "VERSION", LSMLOG_VERSION) < 0) return -1;
    return 0;
}

static int module_traverse(PyObject *m, visitproc visit, void *arg) {
    module_state *st = PyModule_GetState(m);
    Py_VISIT(st->log_type);
    Py_VISIT(st->iter_type);
    Py_VISIT(st->db_type);
    Py_VISIT(st->db_iter_type);
    Py_VISIT(st->snapshot_type);
    Py_VISIT(st->batch_type);
    Py_VISIT(st->error);
    Py_VISIT(st->corruption_error);
    Py_VISIT(st->locked_error);
    Py_VISIT(st->readonly_error);
    return 0;
}

static int module_clear(PyObject *m) {
    module_state *st = PyModule_GetState(m);
    Py_CLEAR(st->log_type);
    Py_CLEAR(st->iter_type);
    Py_CLEAR(st->db_type);
    Py_CLEAR(st->db_iter_type);
    Py_CLEAR(st->snapshot_type);
    Py_CLEAR(st->batch_type);
    Py_CLEAR(st->error);
    Py_CLEAR(st->corruption_error);
    Py_CLEAR(st->locked_error);
    Py_CLEAR(st->readonly_error);
    return 0;
}

static void module_free(void *m) {
    module_clear((PyObject *)m);
}

static PyModuleDef_Slot module_slots[] = {
    {Py_mod_exec, module_exec},
    {0, NULL},
};

PyModuleDef lsmlog_module_def = {
    PyModuleDef_HEAD_INIT,
    .m_name = "lsmlog._lsmlog",
    .m_doc = "The C binding of lsmlog (thin: types and errors only). Use the lsmlog package.",
    .m_size = sizeof(module_state),
    .m_slots = module_slots,
    .m_traverse = module_traverse,
    .m_clear = module_clear,
    .m_free = module_free,
};

PyMODINIT_FUNC PyInit__lsmlog(void) {
    return PyModuleDef_Init(&lsmlog_module_def);
}

void lsm_finalize_handle(PyObject *obj, pid_t owner_pid, const char *type_name, PyObject *path,
                         int (*close)(PyObject *obj)) {
#if PY_VERSION_HEX >= 0x030C0000
    PyObject *saved = PyErr_GetRaisedException();
#else
    PyObject *et, *ev, *tb;
    PyErr_Fetch(&et, &ev, &tb);
#endif
    if (owner_pid == lsm_getpid() &&
        PyErr_ResourceWarning(obj, 1, "unclosed lsmlog.%s(%R): close it, or use it in a with block",
                              type_name, path) < 0)
        PyErr_WriteUnraisable(obj);
    if (close(obj) < 0) PyErr_WriteUnraisable(obj);
#if PY_VERSION_HEX >= 0x030C0000
    PyErr_SetRaisedException(saved);
#else
    PyErr_Restore(et, ev, tb);
#endif
}
