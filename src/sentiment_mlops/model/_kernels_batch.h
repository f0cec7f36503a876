/* score_texts and score_buffer: a batch's arguments checked, its documents found, then scored. */
#ifndef SENTIMENT_KERNELS_BATCH_H
#define SENTIMENT_KERNELS_BATCH_H

#include "_kernels_score.h"

typedef struct {
    Py_buffer table, seen, scores, n_tokens, n_ngrams, n_unseen;
} Outputs;

static void release_outputs(Outputs *o) {
    Py_buffer *all[] = {&o->table, &o->seen, &o->scores, &o->n_tokens, &o->n_ngrams, &o->n_unseen};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        if (all[i]->obj) PyBuffer_Release(all[i]);
}

/* Checks the shared arguments of score_texts / score_buffer and fills job from them. */
static int prepare_job(Job *job, Outputs *o, Py_ssize_t n_docs, int ngram_max, unsigned long long mask,
                       int dense, double bias, int prefetch) {
    if (prepare_table(&job->table, &o->table, &o->seen, ngram_max, mask, dense, prefetch) < 0) return -1;
    if (o->scores.len < n_docs * 8 || o->n_tokens.len < n_docs * 8 || o->n_ngrams.len < n_docs * 8 ||
        o->n_unseen.len < n_docs * 8) {
        PyErr_SetString(PyExc_ValueError, "an output array is shorter than the batch");
        return -1;
    }
    job->n_docs = n_docs;
    job->ngram_max = ngram_max;
    job->mask = mask;
    job->bias = bias;
    job->scores = o->scores.buf;
    job->n_tokens = o->n_tokens.buf;
    job->n_ngrams = o->n_ngrams.buf;
    job->n_unseen = o->n_unseen.buf;
    job->next_block = 0;
    job->failed = 0;
    return 0;
}

static const char score_texts_doc[] =
    "score_texts(texts, ngram_max, mask, table, dense, seen, bias, scores, n_tokens, n_ngrams, n_unseen,"
    " threads, prefetch)\n\nScore a list of str into the four output arrays (float64, int64 x3); table is"
    " the dense float32 weights (dense=True) or the compact table of build_table.";

static PyObject *score_texts(PyObject *self, PyObject *args) {
    PyObject *texts;
    int ngram_max, dense, threads, prefetch;
    unsigned long long mask;
    double bias;
    Outputs o = {0};
    if (!PyArg_ParseTuple(args, "O!iKy*py*dw*w*w*w*ip", &PyList_Type, &texts, &ngram_max, &mask, &o.table,
                          &dense, &o.seen, &bias, &o.scores, &o.n_tokens, &o.n_ngrams, &o.n_unseen, &threads,
                          &prefetch))
        return NULL;
    Py_ssize_t n = PyList_GET_SIZE(texts), total = 0;
    Job job;
    const unsigned char **docs = PyMem_Malloc((n + 1) * sizeof *docs);
    Py_ssize_t *lens = PyMem_Malloc((n + 1) * sizeof *lens);
    PyObject *keep = PyList_New(0); /* UTF-8 copies of strings holding lone surrogates */
    PyObject *result = NULL;
    if (!docs || !lens || !keep) { PyErr_NoMemory(); goto done; }
    if (prepare_job(&job, &o, n, ngram_max, mask, dense, bias, prefetch) < 0) goto done;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *item = PyList_GET_ITEM(texts, i);
        if (!PyUnicode_Check(item)) {
            PyErr_Format(PyExc_TypeError, "texts[%zd] is %.50s, not str", i, Py_TYPE(item)->tp_name);
            goto done;
        }
        const char *utf8 = PyUnicode_AsUTF8AndSize(item, &lens[i]);
        if (!utf8) { /* lone surrogates (valid in JSON): encode them as tokenizer.encode does */
            PyErr_Clear();
            PyObject *raw = PyUnicode_AsEncodedString(item, "utf-8", "surrogatepass");
            if (!raw || PyList_Append(keep, raw) < 0) { Py_XDECREF(raw); goto done; }
            Py_DECREF(raw);
            utf8 = PyBytes_AS_STRING(raw);
            lens[i] = PyBytes_GET_SIZE(raw);
        }
        docs[i] = (const unsigned char *)utf8;
        total += lens[i];
    }
    job.docs = docs;
    job.lens = lens;
    if (run_job(&job, threads, total) < 0) { PyErr_NoMemory(); goto done; }
    result = Py_NewRef(Py_None);
done:
    PyMem_Free(docs);
    PyMem_Free(lens);
    Py_XDECREF(keep);
    release_outputs(&o);
    return result;
}

static const char score_buffer_doc[] =
    "score_buffer(buf, offsets, ngram_max, mask, table, dense, seen, bias, scores, n_tokens, n_ngrams, n_unseen,"
    " threads, prefetch)\n\nScore the UTF-8 documents buf[offsets[i]:offsets[i+1]] (offsets: int64).";

static PyObject *score_buffer(PyObject *self, PyObject *args) {
    Py_buffer buf = {0}, offsets = {0};
    int ngram_max, dense, threads, prefetch;
    unsigned long long mask;
    double bias;
    Outputs o = {0};
    PyObject *result = NULL;
    if (!PyArg_ParseTuple(args, "y*y*iKy*py*dw*w*w*w*ip", &buf, &offsets, &ngram_max, &mask, &o.table,
                          &dense, &o.seen, &bias, &o.scores, &o.n_tokens, &o.n_ngrams, &o.n_unseen, &threads,
                          &prefetch))
        return NULL;
    Py_ssize_t n = offsets.len / 8 - 1;
    const int64_t *off = offsets.buf;
    const unsigned char **docs = NULL;
    Py_ssize_t *lens = NULL;
    Job job;
    if (n < 0) { PyErr_SetString(PyExc_ValueError, "offsets needs at least one entry"); goto done; }
    if (prepare_job(&job, &o, n, ngram_max, mask, dense, bias, prefetch) < 0) goto done;
    docs = PyMem_Malloc((n + 1) * sizeof *docs);
    lens = PyMem_Malloc((n + 1) * sizeof *lens);
    if (!docs || !lens) { PyErr_NoMemory(); goto done; }
    for (Py_ssize_t i = 0; i < n; i++) {
        if (off[i] < 0 || off[i] > off[i + 1] || off[i + 1] > buf.len) {
            PyErr_Format(PyExc_ValueError, "offsets[%zd:%zd] is not a slice of the buffer", i, i + 2);
            goto done;
        }
        docs[i] = (const unsigned char *)buf.buf + off[i];
        lens[i] = (Py_ssize_t)(off[i + 1] - off[i]);
    }
    job.docs = docs;
    job.lens = lens;
    if (run_job(&job, threads, n ? (Py_ssize_t)(off[n] - off[0]) : 0) < 0) { PyErr_NoMemory(); goto done; }
    result = Py_NewRef(Py_None);
done:
    PyMem_Free(docs);
    PyMem_Free(lens);
    PyBuffer_Release(&buf);
    PyBuffer_Release(&offsets);
    release_outputs(&o);
    return result;
}

#endif /* SENTIMENT_KERNELS_BATCH_H */
