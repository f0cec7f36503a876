/* The training side: the hashed n-gram matrix (CSR) and the compact table's build. */
#ifndef SENTIMENT_KERNELS_TRAIN_H
#define SENTIMENT_KERNELS_TRAIN_H

#include "_kernels_dedup.h"

/* A growable byte array for the training matrix, whose size is known only at the end. */
typedef struct {
    char *data;
    size_t len, cap;
} Bytes;

static int bytes_put(Bytes *b, const void *src, size_t n) {
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 1 << 16;
        while (cap < b->len + n) cap *= 2;
        char *grown = realloc(b->data, cap);
        if (!grown) return -1;
        b->data = grown;
        b->cap = cap;
    }
    memcpy(b->data + b->len, src, n);
    b->len += n;
    return 0;
}

static const char featurize_doc[] =
    "featurize(buf, offsets, ngram_max, mask, binary) -> (indptr, indices, counts)\n\n"
    "CSR parts of the hashed n-gram matrix as bytes: int64, int32 and float32.";

static PyObject *featurize(PyObject *self, PyObject *args) {
    Py_buffer buf = {0}, offsets = {0};
    int ngram_max, binary;
    unsigned long long mask;
    if (!PyArg_ParseTuple(args, "y*y*iKp", &buf, &offsets, &ngram_max, &mask, &binary)) return NULL;
    PyObject *result = NULL;
    Bytes indptr = {0}, indices = {0}, counts = {0};
    Scratch w = {0};
    const int64_t *off = offsets.buf;
    Py_ssize_t n = offsets.len / 8 - 1;
    int failed = 0;
    if (n < 0 || ngram_max < 1 || ngram_max > 8 || mask > 0x7FFFFFFFULL) {
        PyErr_SetString(PyExc_ValueError, "bad offsets, ngram_max (1..8) or mask (hash_bits <= 31)");
        goto done;
    }
    for (Py_ssize_t d = 0; d < n; d++)
        if (off[d] < 0 || off[d] > off[d + 1] || off[d + 1] > buf.len) {
            PyErr_Format(PyExc_ValueError, "offsets[%zd:%zd] is not a slice of the buffer", d, d + 2);
            goto done;
        }
    Py_BEGIN_ALLOW_THREADS
    int64_t nnz = 0;
    failed = bytes_put(&indptr, &nnz, 8);
    for (Py_ssize_t d = 0; d < n && !failed; d++) {
        Py_ssize_t len = (Py_ssize_t)(off[d + 1] - off[d]);
        if (scratch_reserve(&w, len, ngram_max) < 0) { failed = 1; break; }
        Py_ssize_t n_tok = tokenize((const unsigned char *)buf.buf + off[d], len, w.tokens, NULL);
        Py_ssize_t m = distinct(&w, fold_ngrams(w.tokens, n_tok, ngram_max, mask, w.buckets, NULL));
        for (Py_ssize_t i = 0; i < m && !failed; i++) {
            int32_t key = (int32_t)w.keys[i];
            float count = binary ? 1.0f : (float)w.counts[i];
            failed = bytes_put(&indices, &key, 4) || bytes_put(&counts, &count, 4);
        }
        nnz += m;
        failed = failed || bytes_put(&indptr, &nnz, 8);
    }
    Py_END_ALLOW_THREADS
    if (failed) { PyErr_NoMemory(); goto done; }
    result = Py_BuildValue("y#y#y#", indptr.data, (Py_ssize_t)indptr.len, indices.data ? indices.data : "",
                           (Py_ssize_t)indices.len, counts.data ? counts.data : "", (Py_ssize_t)counts.len);
done:
    free(indptr.data);
    free(indices.data);
    free(counts.data);
    scratch_free(&w);
    PyBuffer_Release(&buf);
    PyBuffer_Release(&offsets);
    return result;
}

static const char build_table_doc[] =
    "build_table(indices, values, slots)\n\nFill slots (uint64, a power of two, more than indices)"
    " with the non-zero weights: distinct uint32 buckets and their float32 values.";

static PyObject *build_table(PyObject *self, PyObject *args) {
    Py_buffer idx = {0}, val = {0}, slots = {0};
    if (!PyArg_ParseTuple(args, "y*y*w*", &idx, &val, &slots)) return NULL;
    PyObject *result = NULL;
    Py_ssize_t n = idx.len / 4, n_slots = slots.len / 8;
    if (val.len != n * 4 || n_slots < 1 || (n_slots & (n_slots - 1)) || n >= n_slots) {
        PyErr_SetString(PyExc_ValueError, "need as many float32 values as uint32 indices, and more slots");
        goto done;
    }
    uint64_t *tab = slots.buf, smask = (uint64_t)n_slots - 1;
    const uint32_t *keys = idx.buf;
    const uint32_t *bits = val.buf;
    for (Py_ssize_t i = 0; i < n_slots; i++) tab[i] = (uint64_t)EMPTY_KEY << 32;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (keys[i] == EMPTY_KEY) {
            PyErr_SetString(PyExc_ValueError, "bucket 2**32 - 1 cannot be stored");
            goto done;
        }
        uint64_t s = keys[i] & smask;
        while ((uint32_t)(tab[s] >> 32) != EMPTY_KEY) {
            if ((uint32_t)(tab[s] >> 32) == keys[i]) {
                PyErr_SetString(PyExc_ValueError, "duplicate bucket in indices");
                goto done;
            }
            s = (s + 1) & smask;
        }
        tab[s] = ((uint64_t)keys[i] << 32) | bits[i];
    }
    result = Py_NewRef(Py_None);
done:
    PyBuffer_Release(&idx);
    PyBuffer_Release(&val);
    PyBuffer_Release(&slots);
    return result;
}

#endif /* SENTIMENT_KERNELS_TRAIN_H */
