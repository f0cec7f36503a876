/* One document's score, and a batch's documents spread over threads. */
#ifndef SENTIMENT_KERNELS_SCORE_H
#define SENTIMENT_KERNELS_SCORE_H

#include "_kernels_dedup.h"
#include "_kernels_scratch.h"

typedef struct {
    double logit;
    int64_t n_tokens, n_ngrams, n_unseen;
} DocScore;

/* One document: its distinct buckets (their reads prefetched as they are found), then the sum of
 * their weights, which by then are on their way from memory (many reads in flight, not one after
 * another). */
static int score_doc(const unsigned char *doc, Py_ssize_t len, int ngram_max, uint64_t mask, const Table *t,
                     double bias, DocScore *out) {
    ScoreScratch *w = score_scratch(len, ngram_max);
    if (!w) return -1;
    Py_ssize_t n_tok = tokenize(doc, len, w->tokens, NULL);
    uint32_t *keys = w->keys;
    Py_ssize_t m = distinct_ngrams(w->tokens, n_tok, ngram_max, mask, w->set, keys, t);
    double total = bias;
    int64_t unseen = 0;
    const uint8_t *seen = t->seen;
    if (t->dense) {
        const float *dense = t->dense;
        for (Py_ssize_t i = 0; i < m; i++) {
            uint32_t b = keys[i];
            total += (double)dense[b];
            unseen += !((seen[b >> 3] >> (b & 7)) & 1);
        }
    } else {
        for (Py_ssize_t i = 0; i < m; i++) {
            uint32_t b = keys[i];
            total += (double)table_weight(t, b);
            unseen += !((seen[b >> 3] >> (b & 7)) & 1);
        }
    }
    out->logit = total;
    out->n_tokens = n_tok;
    out->n_ngrams = m;
    out->n_unseen = unseen;
    return 0;
}

/* ------------------------------------------------------------------------------------------- */
/* Batch scoring, over (pointer, length) documents so that str lists and Arrow-style buffers share it. */

typedef struct {
    const unsigned char **docs;
    const Py_ssize_t *lens;
    Py_ssize_t n_docs;
    int ngram_max;
    uint64_t mask;
    Table table;
    double bias;
    double *scores;
    int64_t *n_tokens, *n_ngrams, *n_unseen;
    Py_ssize_t next_block; /* shared work counter (atomic) */
    int failed;
} Job;

static void *score_worker(void *arg) {
    Job *job = arg;
    for (;;) {
        Py_ssize_t start = __atomic_fetch_add(&job->next_block, BLOCK_DOCS, __ATOMIC_RELAXED);
        if (start >= job->n_docs) break;
        Py_ssize_t end = start + BLOCK_DOCS < job->n_docs ? start + BLOCK_DOCS : job->n_docs;
        for (Py_ssize_t d = start; d < end; d++) {
            DocScore r;
            if (score_doc(job->docs[d], job->lens[d], job->ngram_max, job->mask, &job->table, job->bias, &r) < 0) {
                __atomic_store_n(&job->failed, 1, __ATOMIC_RELAXED);
                return NULL;
            }
            job->scores[d] = r.logit;
            job->n_tokens[d] = r.n_tokens;
            job->n_ngrams[d] = r.n_ngrams;
            job->n_unseen[d] = r.n_unseen;
        }
    }
    score_scratch_trim();
    return NULL;
}

/* Runs job on up to n_threads threads (the caller's included); returns -1 when out of memory. */
static int run_job(Job *job, int n_threads, Py_ssize_t total_bytes) {
    if (n_threads < 1 || total_bytes < PARALLEL_MIN_BYTES) n_threads = 1;
    if (n_threads > job->n_docs / BLOCK_DOCS + 1) n_threads = (int)(job->n_docs / BLOCK_DOCS + 1);
    pthread_t threads[64];
    if (n_threads > 64) n_threads = 64;
    int started = 0;
    Py_BEGIN_ALLOW_THREADS
    for (; started < n_threads - 1; started++)
        if (pthread_create(&threads[started], NULL, score_worker, job) != 0) break;
    score_worker(job);
    for (int i = 0; i < started; i++) pthread_join(threads[i], NULL);
    Py_END_ALLOW_THREADS
    return job->failed ? -1 : 0;
}

#endif /* SENTIMENT_KERNELS_SCORE_H */
