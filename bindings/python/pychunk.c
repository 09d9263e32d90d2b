/*
 * pychunk.c — the chunk of an iterator: the records (or keys and values) that
 * one GIL-released stretch stepped and copied out of the core, handed out one
 * by one with the GIL held.
 *
 * Why: releasing and taking back the GIL around every step of a core iterator
 * costs more than the step itself (a step of the Log's is ~20-30 ns). The
 * iterators step up to CHUNK_ITEMS at a time instead, copying what the core
 * lends (valid only until its next step) into the chunk's own buffer, so a
 * close() from elsewhere can never free what is still to be handed out. An
 * item that does not fit (a big value) ends the chunk and stays lent: the
 * iterator hands it out before it steps the core again, and checks first that
 * the iterator was not closed meanwhile.
 */
#include "binding.h"

int lsm_chunk_alloc(chunk *c) {
    if (c->items) return 0;
    /* one block: the items, then the data (chunk_item is 8-byte aligned) */
    char *mem = PyMem_Malloc(sizeof(chunk_item) * CHUNK_ITEMS + CHUNK_BYTES);
    if (!mem) {
        PyErr_NoMemory();
        return -1;
    }
    c->items = (chunk_item *)mem;
    c->data = mem + sizeof(chunk_item) * CHUNK_ITEMS;
    c->n = c->next = c->lent = 0;
    if (c->want < 1) c->want = 1;
    return 0;
}

void lsm_chunk_filled(chunk *c, int n, int lent) {
    c->n = n;
    c->next = 0;
    c->lent = lent;
    if (n + lent >= c->want && c->want < CHUNK_ITEMS) c->want *= 2;
}

void lsm_chunk_forget(chunk *c) {
    c->n = c->next = 0;
    c->lent = 0;
    c->lent_key = c->lent_value = NULL;
}

void lsm_chunk_stash_error(chunk *c) {
#if PY_VERSION_HEX >= 0x030C0000
    PyObject *exc = PyErr_GetRaisedException();
#else
    PyObject *type, *exc, *tb;
    PyErr_Fetch(&type, &exc, &tb);
    PyErr_NormalizeException(&type, &exc, &tb);
    if (tb && exc) PyException_SetTraceback(exc, tb);
    Py_XDECREF(type);
    Py_XDECREF(tb);
#endif
    Py_XSETREF(c->error, exc);
}

PyObject *lsm_chunk_raise_error(chunk *c) {
    PyObject *exc = c->error;
    c->error = NULL;
    if (!exc) {
        PyErr_SetString(PyExc_SystemError, "lsmlog: no stashed error to raise");
        return NULL;
    }
#if PY_VERSION_HEX >= 0x030C0000
    PyErr_SetRaisedException(exc);
#else
    PyObject *type = (PyObject *)Py_TYPE(exc);
    Py_INCREF(type);
    PyErr_Restore(type, exc, PyException_GetTraceback(exc));
#endif
    return NULL;
}

void lsm_chunk_free(chunk *c) {
    lsm_chunk_forget(c);
    PyMem_Free(c->items);
    c->items = NULL;
    c->data = NULL;
    Py_CLEAR(c->error);
}
