/* The floor's parts, for bench/bench_kernels.py: each part of score alone over a whole batch. */
#ifndef SENTIMENT_KERNELS_PARTS_H
#define SENTIMENT_KERNELS_PARTS_H

#include "_kernels_dedup.h"

static const char hash_batch_doc[] =
    "hash_batch(buf, offsets, ngram_max, mask, buckets, per_doc, distinct) -> n\n\nTokenise and hash only:"
    " every n-gram bucket of every document (uint32, document order) and how many each has (int64);"
    " with distinct, each document's distinct buckets as scoring finds them (no table reads).";

static PyObject *hash_batch(PyObject *self, PyObject *args) {
    Py_buffer buf = {0}, offsets = {0}, out = {0}, per_doc = {0};
    int ngram_max, dedup;
    unsigned long long mask;
    if (!PyArg_ParseTuple(args, "y*y*iKw*w*p", &buf, &offsets, &ngram_max, &mask, &out, &per_doc, &dedup))
        return NULL;
    PyObject *result = NULL;
    Scratch w = {0};
    const int64_t *off = offsets.buf;
    Py_ssize_t n = offsets.len / 8 - 1, total = 0, cap = out.len / 4;
    int failed = 0;
    if (n < 0 || ngram_max < 1 || ngram_max > 8 || per_doc.len < n * 8 || (n && off[n] > buf.len)) {
        PyErr_SetString(PyExc_ValueError, "bad offsets, ngram_max or per_doc");
        goto done;
    }
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t d = 0; d < n; d++) {
        Py_ssize_t len = (Py_ssize_t)(off[d + 1] - off[d]);
        if (scratch_reserve(&w, len, ngram_max) < 0 || total + (len + 1) * ngram_max > cap) { failed = 1; break; }
        Py_ssize_t n_tok = tokenize((const unsigned char *)buf.buf + off[d], len, w.tokens, NULL);
        uint32_t *at = (uint32_t *)out.buf + total;
        Py_ssize_t m = dedup ? distinct_ngrams(w.tokens, n_tok, ngram_max, mask, w.set, at, NULL)
                             : fold_ngrams(w.tokens, n_tok, ngram_max, mask, at, NULL);
        ((int64_t *)per_doc.buf)[d] = m;
        total += m;
    }
    Py_END_ALLOW_THREADS
    if (failed) { PyErr_SetString(PyExc_ValueError, "out of memory or buckets array too short"); goto done; }
    result = PyLong_FromSsize_t(total);
done:
    scratch_free(&w);
    PyBuffer_Release(&buf);
    PyBuffer_Release(&offsets);
    PyBuffer_Release(&out);
    PyBuffer_Release(&per_doc);
    return result;
}

static const char gather_doc[] =
    "gather(weights, dense, seen, buckets, per_doc, prefetch, sums)\n\nTable reads only: per document,"
    " the sum of the weights of its precomputed buckets and the seen-bit reads; weights is the dense"
    " float32 array (dense=True) or the compact table; sums (float64, 2 per document) gets the sum"
    " and the unseen count.";

static PyObject *gather(PyObject *self, PyObject *args) {
    Py_buffer weights = {0}, seen = {0}, buckets = {0}, per_doc = {0}, sums = {0};
    int dense, prefetch;
    if (!PyArg_ParseTuple(args, "y*py*y*y*pw*", &weights, &dense, &seen, &buckets, &per_doc, &prefetch, &sums))
        return NULL;
    Py_ssize_t n = per_doc.len / 8, total = 0;
    const int64_t *counts = per_doc.buf;
    for (Py_ssize_t d = 0; d < n; d++) total += counts[d];
    PyObject *result = NULL;
    if (sums.len < n * 16 || buckets.len < total * 4 || (!dense && ((weights.len / 8) & (weights.len / 8 - 1)))) {
        PyErr_SetString(PyExc_ValueError, "arrays do not match");
        goto done;
    }
    Py_BEGIN_ALLOW_THREADS
    Table t = {weights.buf, (uint64_t)(weights.len / 8) - 1, seen.buf, prefetch, NULL};
    const float *w = weights.buf;
    const uint32_t *b = buckets.buf;
    double *out = sums.buf;
    for (Py_ssize_t d = 0, at = 0; d < n; at += counts[d], d++) {
        if (prefetch)
            for (int64_t i = 0; i < counts[d]; i++) {
                __builtin_prefetch(dense ? (const void *)(w + b[at + i]) : (const void *)(t.slots + (b[at + i] & t.slot_mask)), 0, 3);
                __builtin_prefetch(t.seen + (b[at + i] >> 3), 0, 3);
            }
        double total_w = 0.0;
        int64_t unseen = 0;
        for (int64_t i = 0; i < counts[d]; i++) {
            uint32_t k = b[at + i];
            total_w += dense ? (double)w[k] : (double)table_weight(&t, k);
            unseen += !((t.seen[k >> 3] >> (k & 7)) & 1);
        }
        out[2 * d] = total_w;
        out[2 * d + 1] = (double)unseen;
    }
    Py_END_ALLOW_THREADS
    result = Py_NewRef(Py_None);
done:
    PyBuffer_Release(&weights);
    PyBuffer_Release(&seen);
    PyBuffer_Release(&buckets);
    PyBuffer_Release(&per_doc);
    PyBuffer_Release(&sums);
    return result;
}

#endif /* SENTIMENT_KERNELS_PARTS_H */
