/* What every part of the kernels shares: the headers, the ABI version and the constants. */
#ifndef SENTIMENT_KERNELS_BASE_H
#define SENTIMENT_KERNELS_BASE_H

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

#endif /* SENTIMENT_KERNELS_BASE_H */
