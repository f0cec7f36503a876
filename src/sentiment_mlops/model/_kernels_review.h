/* One review at a time: its token hashes, n-gram buckets and explanation. */
#ifndef SENTIMENT_KERNELS_REVIEW_H
#define SENTIMENT_KERNELS_REVIEW_H

#include "_kernels_dedup.h"

/* ------------------------------------------------------------------------------------------- */
/* One review at a time: tokens, buckets and explanations; the training matrix; the table build. */

static Scratch *scratch_for(Scratch *w, Py_ssize_t n_bytes, int ngram_max) {
    if (scratch_reserve(w, n_bytes, ngram_max) < 0) { PyErr_NoMemory(); return NULL; }
    return w;
}

static const char token_hashes_doc[] =
    "token_hashes(text_bytes, out, spans) -> n\n\nHash the tokens into out (uint64, len + 1); spans"
    " (int64, 2 * (len + 1)) or None receives each token's byte range.";

static PyObject *token_hashes(PyObject *self, PyObject *args) {
    Py_buffer text = {0}, out = {0}, spans = {0};
    PyObject *spans_obj;
    if (!PyArg_ParseTuple(args, "y*w*O", &text, &out, &spans_obj)) return NULL;
    PyObject *result = NULL;
    if (spans_obj != Py_None && PyObject_GetBuffer(spans_obj, &spans, PyBUF_WRITABLE) < 0) goto done;
    if (out.len < (text.len + 1) * 8 || (spans.obj && spans.len < (text.len + 1) * 16)) {
        PyErr_SetString(PyExc_ValueError, "output arrays are shorter than the text + 1");
        goto done;
    }
    result = PyLong_FromSsize_t(tokenize(text.buf, text.len, out.buf, spans.obj ? spans.buf : NULL));
done:
    PyBuffer_Release(&text);
    PyBuffer_Release(&out);
    if (spans.obj) PyBuffer_Release(&spans);
    return result;
}

static const char ngram_buckets_doc[] =
    "ngram_buckets(text_bytes, ngram_max, mask, out) -> n\n\nEvery n-gram's bucket in document order"
    " (as tokenizer.ngram_buckets) into out (uint32, ngram_max * (len + 1)).";

static PyObject *ngram_buckets(PyObject *self, PyObject *args) {
    Py_buffer text = {0}, out = {0};
    int ngram_max;
    unsigned long long mask;
    if (!PyArg_ParseTuple(args, "y*iKw*", &text, &ngram_max, &mask, &out)) return NULL;
    PyObject *result = NULL;
    Scratch w = {0};
    if (ngram_max < 1 || ngram_max > 8 || out.len < (text.len + 1) * ngram_max * 4) {
        PyErr_SetString(PyExc_ValueError, "ngram_max outside 1..8 or output array too short");
        goto done;
    }
    if (!scratch_for(&w, text.len, ngram_max)) goto done;
    Py_ssize_t n_tok = tokenize(text.buf, text.len, w.tokens, NULL);
    result = PyLong_FromSsize_t(fold_ngrams(w.tokens, n_tok, ngram_max, mask, out.buf, NULL));
done:
    scratch_free(&w);
    PyBuffer_Release(&text);
    PyBuffer_Release(&out);
    return result;
}

static const char explain_doc[] =
    "explain(text_bytes, ngram_max, mask, keys, firsts, spans) -> (n_tokens, n_distinct)\n\n"
    "Distinct buckets in first-seen order into keys (uint32), the first occurrence of each as"
    " token_index * 8 + length into firsts (int64), and the tokens' byte ranges into spans (int64).";

static PyObject *explain(PyObject *self, PyObject *args) {
    Py_buffer text = {0}, keys = {0}, firsts = {0}, spans = {0};
    int ngram_max;
    unsigned long long mask;
    if (!PyArg_ParseTuple(args, "y*iKw*w*w*", &text, &ngram_max, &mask, &keys, &firsts, &spans)) return NULL;
    PyObject *result = NULL;
    Scratch w = {0};
    Py_ssize_t cap = (text.len + 1) * ngram_max;
    if (ngram_max < 1 || ngram_max > 8 || keys.len < cap * 4 || firsts.len < cap * 8 ||
        spans.len < (text.len + 1) * 16) {
        PyErr_SetString(PyExc_ValueError, "ngram_max outside 1..8 or output array too short");
        goto done;
    }
    if (!scratch_for(&w, text.len, ngram_max)) goto done;
    uint32_t *out_keys = keys.buf;
    int64_t *out_first = firsts.buf;
    Py_ssize_t n_tok = tokenize(text.buf, text.len, w.tokens, spans.buf);
    Py_ssize_t n_gram = 0;
    for (Py_ssize_t i = 0; i < n_tok; i++)
        for (int k = 1; k <= ngram_max && i + k <= n_tok; k++) {
            w.buckets[n_gram] = ngram_bucket(w.tokens + i, k, mask);
            w.counts[n_gram++] = i * 8 + k; /* where this n-gram starts and how long it is */
        }
    uint64_t size = 16;
    while ((Py_ssize_t)size < 2 * n_gram) size *= 2;
    memset(w.set, 0xFF, size * sizeof *w.set);
    Py_ssize_t m = 0;
    for (Py_ssize_t i = 0; i < n_gram; i++) {
        uint32_t b = w.buckets[i];
        uint64_t s = b & (size - 1);
        while (w.set[s] != EMPTY_KEY && w.set[s] != b) s = (s + 1) & (size - 1);
        if (w.set[s] == EMPTY_KEY) {
            w.set[s] = b;
            out_keys[m] = b;
            out_first[m++] = w.counts[i];
        }
    }
    result = Py_BuildValue("nn", n_tok, m);
done:
    scratch_free(&w);
    PyBuffer_Release(&text);
    PyBuffer_Release(&keys);
    PyBuffer_Release(&firsts);
    PyBuffer_Release(&spans);
    return result;
}

#endif /* SENTIMENT_KERNELS_REVIEW_H */
