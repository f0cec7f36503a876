/* A model's weights as scoring reads them: the dense array or the compact table, checked once. */
#ifndef SENTIMENT_KERNELS_TABLE_H
#define SENTIMENT_KERNELS_TABLE_H

#include "_kernels_base.h"

/* The compact weight table: see the header comment. */
typedef struct {
    const uint64_t *slots;
    uint64_t slot_mask;
    const uint8_t *seen;
    int prefetch;
    const float *dense; /* the dense float32 array instead of slots, when not NULL */
} Table;

static inline float table_weight(const Table *t, uint32_t bucket) {
    uint64_t s = bucket & t->slot_mask;
    for (;;) {
        uint64_t e = t->slots[s];
        uint32_t key = (uint32_t)(e >> 32);
        if (key == bucket) {
            uint32_t bits = (uint32_t)e;
            float w;
            memcpy(&w, &bits, sizeof w);
            return w;
        }
        if (key == EMPTY_KEY) return 0.0f;
        s = (s + 1) & t->slot_mask;
    }
}

/* Checks a model's scoring arguments (every scoring entry point takes them) and fills t from them. */
static int prepare_table(Table *t, const Py_buffer *table, const Py_buffer *seen, int ngram_max,
                         unsigned long long mask, int dense, int prefetch) {
    if (ngram_max < 1 || ngram_max > 8) {
        PyErr_SetString(PyExc_ValueError, "ngram_max must be within 1..8");
        return -1;
    }
    if (mask > 0x7FFFFFFFULL || (mask & (mask + 1)) != 0) {
        PyErr_SetString(PyExc_ValueError, "mask must be 2**hash_bits - 1 with hash_bits <= 31");
        return -1;
    }
    Py_ssize_t n_slots = table->len / 8;
    if (dense ? table->len < (Py_ssize_t)(mask + 1) * 4 : (n_slots < 1 || (n_slots & (n_slots - 1)) != 0)) {
        PyErr_SetString(PyExc_ValueError, dense ? "dense weights are shorter than 2**hash_bits float32"
                                                : "table must hold a power of two of uint64 slots");
        return -1;
    }
    if (seen->len < (Py_ssize_t)((mask + 1) / 8)) {
        PyErr_SetString(PyExc_ValueError, "seen bitmap is shorter than 2**hash_bits bits");
        return -1;
    }
    t->slots = table->buf;
    t->slot_mask = (uint64_t)n_slots - 1;
    t->seen = seen->buf;
    t->prefetch = prefetch;
    t->dense = dense ? table->buf : NULL;
    return 0;
}

#endif /* SENTIMENT_KERNELS_TABLE_H */
