/*
 * pybatch.c — _lsmlog.WriteBatch, one lsmlog_batch: puts and deletes that
 * DB.write applies atomically. Not tied to a DB. While a DB.write reads it
 * (with the GIL released) it may not change: a put, delete or clear from
 * another thread meanwhile raises RuntimeError instead of freeing memory the
 * core is reading.
 */
#include "binding.h"

static PyObject *batch_new(PyTypeObject *type, PyObject *args, PyObject *kwargs) {
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, ":WriteBatch", (char *[]){NULL})) return NULL;
    batch_object *self = (batch_object *)type->tp_alloc(type, 0);
    if (!self) return NULL;
    int rc = lsmlog_batch_new(&self->b);
    if (rc != LSMLOG_OK) {
        lsm_raise(PyType_GetModuleState(type), rc);
        Py_DECREF(self);
        return NULL;
    }
    return (PyObject *)self;
}

static int check_idle(batch_object *self) {
    if (self->writers > 0) {
        PyErr_SetString(PyExc_RuntimeError,
                        "this WriteBatch is being written by DB.write() in another thread");
        return -1;
    }
    return 0;
}

#define RAISE(self, rc) lsm_raise(lsm_state_of((PyObject *)(self)), (rc))

/* put(key, value, ttl_ms=None) */
static PyObject *batch_put(batch_object *self, PyObject *const *args, Py_ssize_t nargs) {
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
    if (check_idle(self) == 0) {
        /* memory only: no GIL release */
        int rc = ttl ? lsmlog_batch_put_ttl(self->b, k.buf, (size_t)k.len, v.buf, (size_t)v.len, ttl)
                     : lsmlog_batch_put(self->b, k.buf, (size_t)k.len, v.buf, (size_t)v.len);
        if (rc == LSMLOG_OK)
            result = lsm_none();
        else
            RAISE(self, rc);
    }
    PyBuffer_Release(&k);
    PyBuffer_Release(&v);
    return result;
}

static PyObject *batch_delete(batch_object *self, PyObject *key) {
    Py_buffer k;
    if (lsm_get_buffer(key, &k, "key") < 0) return NULL;
    PyObject *result = NULL;
    if (check_idle(self) == 0) {
        int rc = lsmlog_batch_delete(self->b, k.buf, (size_t)k.len);
        if (rc == LSMLOG_OK)
            result = lsm_none();
        else
            RAISE(self, rc);
    }
    PyBuffer_Release(&k);
    return result;
}

static PyObject *batch_clear(batch_object *self, PyObject *Py_UNUSED(ignored)) {
    if (check_idle(self) < 0) return NULL;
    lsmlog_batch_clear(self->b);
    Py_RETURN_NONE;
}

static Py_ssize_t batch_len(PyObject *self) {
    return (Py_ssize_t)lsmlog_batch_count(((batch_object *)self)->b);
}

static void batch_dealloc(PyObject *obj) {
    PyTypeObject *tp = Py_TYPE(obj);
    lsmlog_batch_free(((batch_object *)obj)->b);
    tp->tp_free(obj);
    Py_DECREF(tp);
}

#define FASTCALL(f) (PyCFunction)(void (*)(void))(f), METH_FASTCALL

static PyMethodDef batch_methods[] = {
    {"put", FASTCALL(batch_put), "put(key, value, ttl_ms=None)"},
    {"delete", (PyCFunction)batch_delete, METH_O, "delete(key)"},
    {"clear", (PyCFunction)batch_clear, METH_NOARGS, "clear(): empties the batch"},
    {NULL, NULL, 0, NULL},
};

static PyType_Slot batch_slots[] = {
    {Py_tp_doc, "WriteBatch(): puts and deletes for DB.write, applied all or nothing."},
    {Py_tp_new, batch_new},
    {Py_tp_dealloc, batch_dealloc},
    {Py_mp_length, batch_len},
    {Py_sq_length, batch_len},
    {Py_tp_methods, batch_methods},
    {0, NULL},
};

PyType_Spec lsm_batch_spec = {
    .name = "lsmlog._lsmlog.WriteBatch",
    .basicsize = sizeof(batch_object),
    .flags = Py_TPFLAGS_DEFAULT,
    .slots = batch_slots,
};
