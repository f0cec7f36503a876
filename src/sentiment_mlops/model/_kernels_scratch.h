/* Scoring's per-thread scratch: kept between calls, freed when its thread ends. */
#ifndef SENTIMENT_KERNELS_SCRATCH_H
#define SENTIMENT_KERNELS_SCRATCH_H

#include "_kernels_base.h"

/* Scoring needs only the tokens, the distinct buckets and a set: lean scratch, kept per thread
 * between calls (a single review then costs no allocation), freed when the thread ends. */
typedef struct {
    uint64_t *tokens;
    uint32_t *keys; /* distinct buckets, first-seen order */
    uint32_t *set;  /* open-addressing set of buckets */
    Py_ssize_t cap_bytes;
} ScoreScratch;

/* A thread keeps its scratch only up to this many bytes of review (about 120 bytes of scratch per
 * byte: 2 MB per thread; IMDB's longest reviews are 14 kB). */
#define KEEP_SCRATCH_BYTES (16 * 1024)

static pthread_key_t scratch_key;

static void score_scratch_free(void *p) {
    ScoreScratch *w = p;
    if (!w) return;
    free(w->tokens); free(w->keys); free(w->set); free(w);
}

static ScoreScratch *score_scratch(Py_ssize_t n_bytes, int ngram_max) {
    ScoreScratch *w = pthread_getspecific(scratch_key);
    if (w && n_bytes <= w->cap_bytes) return w;
    if (!w) {
        w = calloc(1, sizeof *w);
        if (!w || pthread_setspecific(scratch_key, w) != 0) { free(w); return NULL; }
    }
    Py_ssize_t cap = n_bytes < 4096 ? 4096 : n_bytes, set = 16;
    while (set < SET_SPARSITY * (cap + 1) * ngram_max) set *= 2;
    free(w->tokens); free(w->keys); free(w->set);
    w->tokens = malloc((cap + 1) * sizeof *w->tokens);
    w->keys = malloc((cap + 1) * ngram_max * sizeof *w->keys);
    w->set = malloc(set * sizeof *w->set);
    w->cap_bytes = cap;
    if (!w->tokens || !w->keys || !w->set) {
        free(w->tokens); free(w->keys); free(w->set);
        memset(w, 0, sizeof *w);
        return NULL;
    }
    return w;
}

/* Drops a thread's scratch after an unusually long review, so it does not hold the memory. */
static void score_scratch_trim(void) {
    ScoreScratch *w = pthread_getspecific(scratch_key);
    if (w && w->cap_bytes > KEEP_SCRATCH_BYTES) {
        score_scratch_free(w);
        pthread_setspecific(scratch_key, NULL);
    }
}

#endif /* SENTIMENT_KERNELS_SCRATCH_H */
