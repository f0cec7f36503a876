"""Text normalisation, tokenisation and n-gram hashing: the reference implementation.

Training and serving both go through these rules; ``features.py`` runs the same rules,
compiled in the C kernels (``_kernels.c``), on the hot path, and the tests hold the two to identical output.

The rules work on UTF-8 bytes so that both implementations agree exactly:

1. HTML tags of up to 32 bytes (``<br />``, ``<i>``) become a space: IMDB reviews are full of them.
2. ASCII letters are lower-cased (``bytes.lower``). Non-ASCII bytes are kept as word characters,
   so accented words survive as tokens.
3. A token is a run of word characters ``[a-z0-9]`` or bytes >= 0x80, with inner apostrophes kept
   (``don't``, ``director's``); or one punctuation mark of ``! ? . , ; : ( ) " * -``; or ``...`` for
   any run of two or more dots. Punctuation carries sentiment ("!", "...", "(sigh)", "10/10"'s
   neighbours): keeping it raised validation accuracy by about 0.4 points. Everything else separates
   tokens. No stop-word removal: "not", "no" and "but" carry sentiment.
4. Each token is hashed with 64-bit FNV-1a; an n-gram's hash folds its tokens' hashes with an
   order-specific seed and a final avalanche, and its bucket is the low ``hash_bits`` bits.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

TOKENIZER_VERSION = "bytes-v2"

_MASK64 = (1 << 64) - 1
FNV_OFFSET = 0xCBF29CE484222325
FNV_PRIME = 0x100000001B3
ORDER_SEED = 0x9E3779B97F4A7C15
FOLD_PRIME = 0xFF51AFD7ED558CCD
AVALANCHE_PRIME = 0xC4CEB9FE1A85EC53
MAX_TAG_BYTES = 32
PUNCTUATION_TOKENS = b'!?.,;:()"*-'
ELLIPSIS = b"..."

_TAG = re.compile(rb"<[^<>]{0,%d}>" % MAX_TAG_BYTES)
_TOKEN = re.compile(rb"[a-z0-9\x80-\xff]+(?:'[a-z0-9\x80-\xff]+)*|\.{2,}|[!?.,;:()\"*-]")


def encode(text: str) -> bytes:
    """UTF-8 bytes of ``text``; lone surrogates (valid in JSON strings) pass through, never raise."""
    return text.encode("utf-8", errors="surrogatepass")


def normalize(text: str) -> bytes:
    """Rules 1-2: strip short HTML tags, lower-case ASCII; returns UTF-8 bytes."""
    return _TAG.sub(b" ", encode(text)).lower()


def tokenize(text: str) -> list[bytes]:
    """Rule 3: the tokens of ``text``, as UTF-8 bytes."""
    return [ELLIPSIS if t.startswith(b"..") else t for t in _TOKEN.findall(normalize(text))]


def token_hash(token: bytes) -> int:
    """64-bit FNV-1a of a token's bytes."""
    h = FNV_OFFSET
    for byte in token:
        h = ((h ^ byte) * FNV_PRIME) & _MASK64
    return h


def ngram_hash(token_hashes: tuple[int, ...] | list[int]) -> int:
    """The 64-bit hash of an n-gram, from its tokens' hashes (order-dependent)."""
    h = (len(token_hashes) * ORDER_SEED) & _MASK64
    for th in token_hashes:
        h = ((h ^ th) * FOLD_PRIME) & _MASK64
    h ^= h >> 33
    h = (h * AVALANCHE_PRIME) & _MASK64
    h ^= h >> 33
    return h


def iter_ngrams(tokens: list[bytes], ngram_max: int) -> Iterator[tuple[str, int]]:
    """Yield ``(ngram text, 64-bit hash)`` for every 1..ngram_max-gram, in document order."""
    hashes = [token_hash(t) for t in tokens]
    n = len(tokens)
    for i in range(n):
        for k in range(1, ngram_max + 1):
            if i + k > n:
                break
            words = b" ".join(tokens[i : i + k]).decode("utf-8", errors="replace")
            yield words, ngram_hash(hashes[i : i + k])


def ngram_buckets(text: str, ngram_max: int, hash_bits: int) -> list[int]:
    """The hashed bucket of every n-gram of ``text``, in document order (with repeats)."""
    mask = (1 << hash_bits) - 1
    return [h & mask for _, h in iter_ngrams(tokenize(text), ngram_max)]
