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
    PyTypeObject *log_type;      /* _lsmlog.Log */
    PyTypeObject *iter_type;     /* _lsmlog.LogIter */
    PyTypeObject *db_type;       /* _lsmlog.DB */
    PyTypeObject *db_iter_type;  /* _lsmlog.DBIter */
    PyTypeObject *snapshot_type; /* _lsmlog.Snapshot */
    PyTypeObject *batch_type;    /* _lsmlog.WriteBatch */
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

/* Records (or keys and values) an iterator stepped in one GIL-released
 * stretch and copied out of the core, whose pointers are lent only until the
 * next step: handed out one by one (pyiter.c, pydbiter.c). */
typedef struct {
    uint64_t offset;   /* Log: the record's offset */
    int64_t timestamp; /* Log: its timestamp */
    size_t kpos, klen; /* DB: the key, at data + kpos */
    size_t vpos, vlen; /* the value, at data + vpos */
} chunk_item;

/* Bounds of a chunk: at most CHUNK_ITEMS items and CHUNK_BYTES of copies. An
 * item that does not fit ends the chunk and stays lent by the core (not
 * copied) until it is handed out: a big value is copied once, into its bytes. */
#define CHUNK_ITEMS 256
#define CHUNK_BYTES (64 * 1024)

typedef struct {
    chunk_item *items;                 /* CHUNK_ITEMS, then CHUNK_BYTES; NULL until needed */
    char *data;                        /* the copies of keys and values */
    int n, next;                       /* items filled, items handed out */
    int want;                          /* items to step next time: 1, 2, 4, ... CHUNK_ITEMS */
    int lent;                          /* one more item after them, still the core's: */
    chunk_item lent_at;                /* its fields (kpos/vpos unused) and ... */
    const void *lent_key, *lent_value; /* ... its bytes, valid until the core's next step */
    PyObject *error;                   /* an error met after the items: raised once they are out */
} chunk;

/* _lsmlog.LogIter: one lsmlog_log_iter, kept alive by and closed before its Log. */
struct log_iter_object {
    PyObject_HEAD
    log_object *owner;            /* strong reference */
    lsmlog_log_iter *it;          /* NULL once closed (by the user or by the Log's close) */
    log_iter_object *prev, *next; /* in owner->iters while it is open */
    int user_closed;              /* closed by close(): steps end quietly */
    int busy;                     /* a step is running (one thread at a time) */
    int once;                     /* the first end or error closes it (as a generator) */
    PyTypeObject *record_type;    /* a tuple subclass to build records of, or NULL: tuples */
    chunk ch;                     /* records stepped, not yet handed out */
    PyObject *last_ts;            /* the int of the last timestamp handed out, or NULL: the
                                     records of a batch often share one, so it is reused */
    int64_t last_ts_value;
};

typedef struct db_child db_child;

/* _lsmlog.DB: one lsmlog_db handle. The same rules as the Log's (above), and
 * its children (iterators and snapshots) are closed before it. */
typedef struct {
    PyObject_HEAD
    lsmlog_db *db;         /* NULL once closed (or detached in a forked child) */
    int closing;           /* close() has begun: every new call is refused */
    pid_t pid;             /* the process that opened the handle */
    Py_ssize_t in_flight;  /* calls of other threads inside the core, GIL released */
    db_child *children;    /* open iterators and snapshots, linked through prev/next */
    PyObject *path;        /* str: the path as opened, for messages and repr */
    int readonly;
    int in_callback;       /* a compact() progress callback is running Python code ... */
    unsigned long cb_thread; /* ... in this thread, which holds the core's compaction lock */
    PyObject *weakreflist;
} db_object;

/* The common head of a DB's children: each holds a strong reference to its
 * DB and sits in its list while its core object is open. */
struct db_child {
    PyObject_HEAD
    db_object *owner;              /* strong reference */
    db_child *prev, *next;         /* in owner->children while open */
    void (*release)(db_child *c);  /* closes the core object (GIL held; in a forked
                                      child only forgets it); idempotent */
};

/* _lsmlog.Snapshot: one lsmlog_snapshot. */
typedef struct {
    db_child h;
    lsmlog_snapshot *snap; /* NULL once released */
    Py_ssize_t users;      /* reads through it in flight (GIL released) */
} snapshot_object;

/* _lsmlog.DBIter: one lsmlog_db_iter, stepped forward or backward. */
typedef struct {
    db_child h;
    lsmlog_db_iter *it;      /* NULL once closed */
    snapshot_object *snap;   /* strong reference, or NULL */
    int mode;                /* DB_ITER_ITEMS, _KEYS or _VALUES */
    int reverse;
    int started, finished;   /* positioned once; the end was met */
    int busy;                /* a step is running (one thread at a time) */
    int user_closed;         /* closed by close(): steps end quietly */
    int once;                /* the end or an error closes it (as a generator) */
    chunk ch;                /* keys and values stepped, not yet handed out */
} db_iter_object;

#define DB_ITER_ITEMS 0
#define DB_ITER_KEYS 1
#define DB_ITER_VALUES 2

/* _lsmlog.WriteBatch: one lsmlog_batch, not tied to a DB. */
typedef struct {
    PyObject_HEAD
    lsmlog_batch *b;
    Py_ssize_t writers; /* DB.write calls using it (GIL released): no change meanwhile */
} batch_object;

/* A new reference to None (Py_NewRef is 3.10+). */
static inline PyObject *lsm_none(void) {
    Py_INCREF(Py_None);
    return Py_None;
}

/* module.c */
extern PyModuleDef lsmlog_module_def;
module_state *lsm_state_of(PyObject *obj); /* the state of obj's type's module */
/* getpid() without a system call: kept, and refreshed in a forked child. */
pid_t lsm_getpid(void);

/* The finalizer of an unclosed Log or DB handle: a ResourceWarning like an
 * unclosed file's (not in a forked child, which never owned it), then
 * close(obj), any pending exception kept as it was. */
void lsm_finalize_handle(PyObject *obj, pid_t owner_pid, const char *type_name, PyObject *path,
                         int (*close)(PyObject *obj));
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

/* The bytes of a key or value through the buffer protocol (bytes, bytearray,
 * memoryview, NumPy arrays, ...); a non-contiguous buffer is copied into a
 * contiguous one. `what` names the argument in the TypeError raised for
 * anything else. 0, or -1 with an exception. Release with PyBuffer_Release. */
int lsm_get_buffer(PyObject *obj, Py_buffer *view, const char *what);

/* pylog.c */
extern PyType_Spec lsm_log_spec;
int log_enter(log_object *self);
void log_leave(log_object *self);
/* Takes the GIL-holding thread off the CPU for about `ms` milliseconds. */
void lsm_sleep_ms(int ms);

/* pychunk.c: the chunk of an iterator (see chunk, above) */
/* Allocates c's buffers if they are not yet there. 0, or -1 with MemoryError. */
int lsm_chunk_alloc(chunk *c);
/* True when every item (the lent one too) was handed out. */
static inline int lsm_chunk_empty(const chunk *c) {
    return c->next == c->n && !c->lent;
}
/* The items to step next: c->want, which doubles up to CHUNK_ITEMS after a
 * full chunk, so that one step stays cheap and a scan takes big chunks. */
void lsm_chunk_filled(chunk *c, int n, int lent);
/* Forgets the items (the lent one was the core's: the iterator closed). */
void lsm_chunk_forget(chunk *c);
/* Moves the raised exception into c->error (to be raised after the items). */
void lsm_chunk_stash_error(chunk *c);
/* Raises c->error and forgets it; returns NULL. */
PyObject *lsm_chunk_raise_error(chunk *c);
/* Frees the buffers and the stashed error. */
void lsm_chunk_free(chunk *c);

/* pyiter.c */
extern PyType_Spec lsm_iter_spec;
/* Opens an iterator over self: the _lsmlog.LogIter, or NULL and an exception.
 * record_type: a tuple subclass (borrowed) to build records of, or NULL;
 * once: the first end or error closes the iterator. */
PyObject *lsm_iter_open(log_object *self, const lsmlog_iter_opts *opts, PyTypeObject *record_type,
                        int once);
/* Closes the core iterator and unlinks it from its Log. */
void lsm_iter_detach(log_iter_object *it);

/* pydb.c */
extern PyType_Spec lsm_db_spec;
/* Refuses a closed DB (ValueError), one inherited through fork() (lsmlog.Error)
 * and a call from inside its own compact() progress callback (RuntimeError);
 * counts the call as in flight. db_leave uncounts it. */
int db_enter(db_object *self);
void db_leave(db_object *self);
void lsm_child_link(db_object *owner, db_child *c);
/* Closes the child's core object and unlinks it from its DB. */
void lsm_child_detach(db_child *c);

/* pydbiter.c: snapshots and iterators */
extern PyType_Spec lsm_snapshot_spec;
extern PyType_Spec lsm_db_iter_spec;
/* A new _lsmlog.Snapshot of self, or NULL and an exception. */
PyObject *lsm_snapshot_open(db_object *self);
/* The snapshot argument of a read: None (*out = NULL) or an open Snapshot of
 * this DB. 0, or -1 with TypeError / ValueError. */
int lsm_snapshot_arg(db_object *self, PyObject *arg, snapshot_object **out);
/* Opens an iterator (opts->snapshot is filled from snap): the _lsmlog.DBIter,
 * or NULL and an exception. */
PyObject *lsm_db_iter_open(db_object *self, snapshot_object *snap, lsmlog_db_iter_opts *opts,
                           int mode, int reverse, int once);

/* pybatch.c */
extern PyType_Spec lsm_batch_spec;

#endif
