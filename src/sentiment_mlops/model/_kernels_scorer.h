/* The Scorer type: one model's table held for single-review requests. */
#ifndef SENTIMENT_KERNELS_SCORER_H
#define SENTIMENT_KERNELS_SCORER_H

#include "_kernels_score.h"

/* ------------------------------------------------------------------------------------------- */
/* A model's table held once: score_one(text) is what a single-review request calls, so it parses
 * no buffers and allocates nothing but its result tuple. */

typedef struct {
    PyObject_HEAD
    Py_buffer table, seen;
    Table t;
    int ngram_max;
    uint64_t mask;
    double bias;
} Scorer;

static void Scorer_dealloc(Scorer *self) {
    if (self->table.obj) PyBuffer_Release(&self->table);
    if (self->seen.obj) PyBuffer_Release(&self->seen);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int Scorer_init(Scorer *self, PyObject *args, PyObject *kwds) {
    int ngram_max, dense, prefetch;
    unsigned long long mask;
    double bias;
    Py_buffer table = {0}, seen = {0};
    static char *names[] = {"ngram_max", "mask", "table", "dense", "seen", "bias", "prefetch", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "iKy*py*dp", names, &ngram_max, &mask, &table, &dense, &seen,
                                     &bias, &prefetch))
        return -1;
    Table t;
    if (prepare_table(&t, &table, &seen, ngram_max, mask, dense, prefetch) < 0) {
        PyBuffer_Release(&table);
        PyBuffer_Release(&seen);
        return -1;
    }
    if (self->table.obj) PyBuffer_Release(&self->table);
    if (self->seen.obj) PyBuffer_Release(&self->seen);
    self->table = table; /* held until the scorer goes: the pointers in t stay valid */
    self->seen = seen;
    self->t = t;
    self->ngram_max = ngram_max;
    self->mask = mask;
    self->bias = bias;
    return 0;
}

static PyObject *Scorer_score_one(Scorer *self, PyObject *text) {
    if (!self->table.obj) {
        PyErr_SetString(PyExc_RuntimeError, "Scorer is not initialised");
        return NULL;
    }
    if (!PyUnicode_Check(text)) {
        PyErr_Format(PyExc_TypeError, "text is %.50s, not str", Py_TYPE(text)->tp_name);
        return NULL;
    }
    Py_ssize_t len;
    PyObject *raw = NULL;
    const char *utf8 = PyUnicode_AsUTF8AndSize(text, &len);
    if (!utf8) { /* lone surrogates (valid in JSON): encode them as tokenizer.encode does */
        PyErr_Clear();
        raw = PyUnicode_AsEncodedString(text, "utf-8", "surrogatepass");
        if (!raw) return NULL;
        utf8 = PyBytes_AS_STRING(raw);
        len = PyBytes_GET_SIZE(raw);
    }
    DocScore r;
    int failed;
    if (len < PARALLEL_MIN_BYTES) { /* microseconds: cheaper than handing the GIL over and back */
        failed = score_doc((const unsigned char *)utf8, len, self->ngram_max, self->mask, &self->t, self->bias, &r);
        score_scratch_trim();
    } else {
        Py_BEGIN_ALLOW_THREADS
        failed = score_doc((const unsigned char *)utf8, len, self->ngram_max, self->mask, &self->t, self->bias, &r);
        score_scratch_trim();
        Py_END_ALLOW_THREADS
    }
    Py_XDECREF(raw);
    if (failed) return PyErr_NoMemory();
    return Py_BuildValue("(dLLL)", r.logit, (long long)r.n_tokens, (long long)r.n_ngrams, (long long)r.n_unseen);
}

static PyMethodDef Scorer_methods[] = {
    {"score_one", (PyCFunction)Scorer_score_one, METH_O,
     "score_one(text) -> (logit, n_tokens, n_ngrams, n_unseen)\n\nOne review's score (bias included)."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject ScorerType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "sentiment_mlops.model._kernels.Scorer",
    .tp_doc = "Scorer(ngram_max, mask, table, dense, seen, bias, prefetch)\n\nA model's weight table, held"
              " for single-review scoring (table and seen as score_texts takes them).",
    .tp_basicsize = sizeof(Scorer),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Scorer_init,
    .tp_dealloc = (destructor)Scorer_dealloc,
    .tp_methods = Scorer_methods,
};

#endif /* SENTIMENT_KERNELS_SCORER_H */
