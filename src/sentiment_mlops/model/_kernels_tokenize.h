/* Rules 1-3 of tokenizer.py compiled: byte classes, token hashes (FNV-1a) and n-gram buckets. */
#ifndef SENTIMENT_KERNELS_TOKENIZE_H
#define SENTIMENT_KERNELS_TOKENIZE_H

#include "_kernels_base.h"

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

/* Fills the byte tables from tokenizer.py's rules; the module's init calls it once. */
static void tokenizer_init(void) {
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
}

#endif /* SENTIMENT_KERNELS_TOKENIZE_H */
