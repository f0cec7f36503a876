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

/* One translation unit: each part is a header of static functions, included here, so the compiler
 * sees (and inlines across) all of them as it did when they were one file. */
#include "_kernels_batch.h"
#include "_kernels_parts.h"
#include "_kernels_review.h"
#include "_kernels_scorer.h"
#include "_kernels_train.h"

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
    tokenizer_init();
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
