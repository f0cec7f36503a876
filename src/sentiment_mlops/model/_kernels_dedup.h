/* A review's n-grams folded into buckets, and its distinct buckets (training and scoring sets). */
#ifndef SENTIMENT_KERNELS_DEDUP_H
#define SENTIMENT_KERNELS_DEDUP_H

#include "_kernels_table.h"
#include "_kernels_tokenize.h"

/* Per-thread scratch, grown to the longest review it meets. */
typedef struct {
    uint64_t *tokens;
    uint32_t *buckets;
    uint32_t *keys;      /* distinct buckets, first-seen order */
    int64_t *counts;     /* occurrences of each distinct bucket */
    uint32_t *set;       /* open-addressing set: slot -> bucket */
    int64_t *where;      /* slot -> index into keys */
    Py_ssize_t cap_bytes, cap_set;
} Scratch;

static void scratch_free(Scratch *w) {
    free(w->tokens); free(w->buckets); free(w->keys); free(w->counts); free(w->set); free(w->where);
    memset(w, 0, sizeof *w);
}

static int scratch_reserve(Scratch *w, Py_ssize_t n_bytes, int ngram_max) {
    if (n_bytes <= w->cap_bytes && w->tokens) return 0;
    Py_ssize_t cap = n_bytes < 256 ? 256 : n_bytes;
    Py_ssize_t n_grams = (cap + 1) * ngram_max, set = 16;
    while (set < SET_SPARSITY * n_grams) set *= 2;
    scratch_free(w);
    w->tokens = malloc((cap + 1) * sizeof *w->tokens);
    w->buckets = malloc(n_grams * sizeof *w->buckets);
    w->keys = malloc(n_grams * sizeof *w->keys);
    w->counts = malloc(n_grams * sizeof *w->counts);
    w->set = malloc(set * sizeof *w->set);
    w->where = malloc(set * sizeof *w->where);
    if (!w->tokens || !w->buckets || !w->keys || !w->counts || !w->set || !w->where) {
        scratch_free(w);
        return -1;
    }
    w->cap_bytes = cap;
    w->cap_set = set;
    return 0;
}

/* Buckets of every 1..ngram_max-gram in document order (as tokenizer.iter_ngrams); prefetches. */
static Py_ssize_t fold_ngrams(const uint64_t *tokens, Py_ssize_t n, int ngram_max, uint64_t mask,
                              uint32_t *out, const Table *t) {
    Py_ssize_t m = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        for (int k = 1; k <= ngram_max && i + k <= n; k++) {
            uint32_t b = ngram_bucket(tokens + i, k, mask);
            if (t && t->prefetch) {
                __builtin_prefetch(t->dense ? (const void *)(t->dense + b) : (const void *)(t->slots + (b & t->slot_mask)), 0, 3);
                __builtin_prefetch(t->seen + (b >> 3), 0, 3);
            }
            out[m++] = b;
        }
    }
    return m;
}

/* Distinct buckets (first-seen order) and their counts; returns how many. */
static Py_ssize_t distinct(Scratch *w, Py_ssize_t n) {
    uint64_t size = 16;
    while ((Py_ssize_t)size < 2 * n) size *= 2;
    uint64_t slot_mask = size - 1;
    memset(w->set, 0xFF, size * sizeof *w->set);
    Py_ssize_t m = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        uint32_t b = w->buckets[i];
        uint64_t s = b & slot_mask; /* buckets are hash bits already */
        for (;;) {
            uint32_t key = w->set[s];
            if (key == EMPTY_KEY) {
                w->set[s] = b;
                w->where[s] = m;
                w->keys[m] = b;
                w->counts[m] = 1;
                m++;
                break;
            }
            if (key == b) { w->counts[w->where[s]]++; break; }
            s = (s + 1) & slot_mask;
        }
    }
    return m;
}

/* The distinct buckets of a document's tokens, first-seen order, in one pass over its n-grams:
 * fold each into its bucket and keep it if the set (SET_SPARSITY slots per n-gram) has not seen
 * it; with a table, prefetch the weight and seen bit of each kept bucket. Returns how many. */
static Py_ssize_t distinct_ngrams(const uint64_t *tokens, Py_ssize_t n_tok, int ngram_max, uint64_t mask,
                                  uint32_t *set, uint32_t *keys, const Table *t) {
    uint64_t size = 16;
    while ((Py_ssize_t)size < SET_SPARSITY * n_tok * ngram_max) size *= 2;
    const uint64_t smask = size - 1;
    const int prefetch = t && t->prefetch;
    memset(set, 0xFF, size * sizeof *set);
    Py_ssize_t m = 0;
    for (Py_ssize_t i = 0; i < n_tok; i++) {
        for (int k = 1; k <= ngram_max && i + k <= n_tok; k++) {
            uint32_t b = ngram_bucket(tokens + i, k, mask);
            uint64_t s = b & smask; /* buckets are hash bits already */
            uint32_t key;
            while ((key = set[s]) != EMPTY_KEY && key != b) s = (s + 1) & smask;
            /* Branch-free from here: whether an n-gram is new is a coin toss to the predictor. */
            set[s] = b;
            keys[m] = b;
            m += key == EMPTY_KEY;
            if (prefetch) {
                __builtin_prefetch(t->dense ? (const void *)(t->dense + b) : (const void *)(t->slots + (b & t->slot_mask)), 0, 3);
                __builtin_prefetch(t->seen + (b >> 3), 0, 3);
            }
        }
    }
    return m;
}

#endif /* SENTIMENT_KERNELS_DEDUP_H */
