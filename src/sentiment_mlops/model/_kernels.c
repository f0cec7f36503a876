/* The compiled kernels of the featuriser: tokenise, hash, fold n-grams, dedup, score.
 *
 * They apply exactly the rules of sentiment_mlops/model/tokenizer.py (the pure-Python reference);
 * the tests hold the two to identical buckets and to probabilities within 1e-6. The Python side
 * (kernels.py) allocates every output array and passes it in through the buffer protocol, so this
 * module needs no NumPy headers. Batch scoring releases the GIL and, for a large batch, spreads the
 * reviews over threads. A Scorer object holds one model's table for single reviews: score_one(text)
 * parses no buffers and returns Python scalars.
 *
 * Weights are read from the dense float32 array (one branch-free load per bucket), or from a compact
 * open-addressing table of the non-zero buckets (one 64-bit slot: bucket in the high half, the
 * float32 weight's bits in the low half; a quarter of the dense array's size). Either's reads are
 * prefetched as a review's distinct n-grams are found, and summed after. Which layout is faster
 * depends on the node's last-level cache: bench/bench_kernels.py measures both.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Bumped whenever a signature below changes: kernels.py refuses an extension of another version. */
#define KERNELS_ABI 3

#define FNV_OFFSET 0xCBF29CE484222325ULL
#define FNV_PRIME 0x100000001B3ULL
#define ORDER_SEED 0x9E3779B97F4A7C15ULL
#define FOLD_PRIME 0xFF51AFD7ED558CCDULL
#define AVALANCHE_PRIME 0xC4CEB9FE1A85EC53ULL
#define MAX_TAG 32
#define EMPTY_KEY 0xFFFFFFFFu
/* Below this many bytes a batch is scored on the calling thread: starting threads costs more. */
#define PARALLEL_MIN_BYTES (64 * 1024)
#define BLOCK_DOCS 32
/* A review's set of distinct buckets has at least this many slots per n-gram: few collisions. */
#define SET_SPARSITY 4

static uint64_t ellipsis_hash;      /* FNV-1a of "..." */


/* Byte classes of the tokenizer's rules, and each byte lower-cased (ASCII letters only). */
enum { SEP = 0, WORD, TAG_OPEN, APOSTROPHE, DOT, PUNCT };
static unsigned char byte_class[256];
static unsigned char lowered[256];

/* Rules 1-3: hash every token of s[0:n] into out (room for n + 1); optional byte spans.
 * A word is hashed in a tight loop over its bytes (one table lookup and one branch per byte); an
 * apostrophe between two word characters continues it. */
static Py_ssize_t tokenize(const unsigned char *s, Py_ssize_t n, uint64_t *out, int64_t *spans) {
    Py_ssize_t m = 0, i = 0;
#define EMIT(value, a, b)                 \
    do {                                  \
        if (spans) {                      \
            spans[2 * m] = (a);           \
            spans[2 * m + 1] = (b);       \
        }                                 \
        out[m++] = (value);               \
    } while (0)
    while (i < n) {
        unsigned c = s[i];
        switch (byte_class[c]) {
        case WORD: {
            Py_ssize_t start = i;
            uint64_t h = FNV_OFFSET;
            for (;;) {
                do {
                    h = (h ^ lowered[s[i]]) * FNV_PRIME;
                    i++;
                } while (i < n && byte_class[s[i]] == WORD);
                if (i + 1 < n && s[i] == '\'' && byte_class[s[i + 1]] == WORD) {
                    h = (h ^ 39u) * FNV_PRIME;
                    i++;
                    continue;
                }
                break;
            }
            EMIT(h, start, i);
            continue; /* s[i] is not part of a word: the next round classifies it */
        }
        case TAG_OPEN: { /* a short tag is a separator, else '<' itself is one */
            Py_ssize_t j = i + 1, limit = i + 2 + MAX_TAG, closed = -1;
            if (limit > n) limit = n;
            for (; j < limit; j++) {
                if (s[j] == '>') { closed = j; break; }
                if (s[j] == '<') break;
            }
            i = closed >= 0 ? closed + 1 : i + 1;
            continue;
        }
        case DOT: { /* alone a token; a run of two or more is the token "..." */
            Py_ssize_t run = 1;
            while (i + run < n && s[i + run] == '.') run++;
            if (run >= 2) {
                EMIT(ellipsis_hash, i, i + run);
                i += run;
                continue;
            }
            EMIT((FNV_OFFSET ^ c) * FNV_PRIME, i, i + 1);
            break;
        }
        case PUNCT:
            EMIT((FNV_OFFSET ^ c) * FNV_PRIME, i, i + 1);
            break;
        default: /* separators, and an apostrophe outside a word */
            break;
        }
        i++;
    }
#undef EMIT
    return m;
}

static inline uint32_t ngram_bucket(const uint64_t *tokens, int k, uint64_t mask) {
    uint64_t h = (uint64_t)k * ORDER_SEED;
    for (int j = 0; j < k; j++) h = (h ^ tokens[j]) * FOLD_PRIME;
    h ^= h >> 33;
    h *= AVALANCHE_PRIME;
    h ^= h >> 33;
    return (uint32_t)(h & mask);
}

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

typedef struct {
    double logit;
    int64_t n_tokens, n_ngrams, n_unseen;
} DocScore;

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

typedef struct {
    Py_buffer table, seen, scores, n_tokens, n_ngrams, n_unseen;
} Outputs;

static void release_outputs(Outputs *o) {
    Py_buffer *all[] = {&o->table, &o->seen, &o->scores, &o->n_tokens, &o->n_ngrams, &o->n_unseen};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        if (all[i]->obj) PyBuffer_Release(all[i]);
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

/* The floor's parts, for bench/bench_kernels.py: each part of score alone over a whole batch. */

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

static PyMethodDef methods[] = {
    {"score_texts", score_texts, METH_VARARGS, score_texts_doc},
    {"score_buffer", score_buffer, METH_VARARGS, score_buffer_doc},
    {"token_hashes", token_hashes, METH_VARARGS, token_hashes_doc},
    {"ngram_buckets", ngram_buckets, METH_VARARGS, ngram_buckets_doc},
    {"explain", explain, METH_VARARGS, explain_doc},
    {"featurize", featurize, METH_VARARGS, featurize_doc},
    {"build_table", build_table, METH_VARARGS, build_table_doc},
    {"hash_batch", hash_batch, METH_VARARGS, hash_batch_doc},
    {"gather", gather, METH_VARARGS, gather_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_kernels", "The featuriser's compiled kernels (see _kernels.c).", -1, methods,
};

#ifndef KERNELS_BASELINE
#define KERNELS_BASELINE "x86-64"
#endif

/* Built for the generic x86-64 baseline, so that it runs (and refuses) on an older CPU. */
__attribute__((target("arch=x86-64"))) static int cpu_has_baseline(void) {
#if defined(__x86_64__) && defined(KERNELS_NEED_V3)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("bmi2") && __builtin_cpu_supports("fma") &&
           __builtin_cpu_supports("movbe");
#else
    return 1;
#endif
}

__attribute__((target("arch=x86-64"))) PyMODINIT_FUNC PyInit__kernels(void) {
    if (!cpu_has_baseline()) {
        PyErr_SetString(PyExc_ImportError,
                        "sentiment_mlops.model._kernels was built for " KERNELS_BASELINE
                        " (AVX2, BMI2, FMA, MOVBE) and this CPU lacks part of it");
        return NULL;
    }
    static const unsigned char punctuation[] = "!?,;:()\"*-";
    for (unsigned c = 0; c < 256; c++) {
        lowered[c] = (unsigned char)(c - 65u <= 25u ? c + 32u : c);
        unsigned l = lowered[c];
        byte_class[c] = (l - 97u <= 25u || l - 48u <= 9u || l >= 128u) ? WORD : SEP;
    }
    for (size_t i = 0; i + 1 < sizeof punctuation; i++) byte_class[punctuation[i]] = PUNCT;
    byte_class['<'] = TAG_OPEN;
    byte_class['\''] = APOSTROPHE;
    byte_class['.'] = DOT;
    uint64_t h = FNV_OFFSET;
    for (int i = 0; i < 3; i++) h = (h ^ '.') * FNV_PRIME;
    ellipsis_hash = h;
    static int key_made = 0;
    if (!key_made) {
        if (pthread_key_create(&scratch_key, score_scratch_free) != 0) return PyErr_NoMemory();
        key_made = 1;
    }
    if (PyType_Ready(&ScorerType) < 0) return NULL;
    PyObject *m = PyModule_Create(&module);
    if (!m) return NULL;
    if (PyModule_AddType(m, &ScorerType) < 0 || PyModule_AddIntConstant(m, "ABI", KERNELS_ABI) < 0 ||
        PyModule_AddStringConstant(m, "BASELINE", KERNELS_BASELINE) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
