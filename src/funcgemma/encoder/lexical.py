"""The words of a text, beside its sentence vector (experiments/hybrid-31, seventh rule).

A request to a function often says the function's own words ("take a note", 「メモして」)
around content that pulls its sentence vector elsewhere. The lexical part of a text is
its character 2- to 4-grams (NFKC, case-folded, runs of spaces as one), hashed into
``BUCKETS`` buckets, counted sublinearly (1 + log n) and scaled to unit length. ``blend``
puts it beside the encoder's row so that a dot product is ``(1 - w)`` times the
encoder's cosine plus ``w`` times the lexical one. No weights, no vocabulary: the same
text always gets the same row.
"""

from __future__ import annotations

import unicodedata
import zlib
from collections import Counter
from collections.abc import Sequence

import numpy as np

BUCKETS = 1 << 14
SIZES = (2, 3, 4)


def grams(text: str) -> Counter[str]:
    """The character n-grams of ``text`` (SIZES), with the spaces around it; none for a
    text of only spaces."""
    words = " ".join(unicodedata.normalize("NFKC", text).casefold().split())
    if not words:
        return Counter()
    said = f" {words} "
    return Counter(said[i:i + n] for n in SIZES for i in range(len(said) - n + 1))


def rows(texts: Sequence[str]) -> np.ndarray:
    """Unit-length lexical rows (texts x BUCKETS), float32; a text with no n-gram (an
    empty one) gets a zero row."""
    out = np.zeros((len(texts), BUCKETS), dtype=np.float32)
    for r, text in enumerate(texts):
        for gram, n in grams(text).items():
            out[r, zlib.crc32(gram.encode("utf-8")) % BUCKETS] += 1.0 + np.log(n)
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    return out / np.maximum(norms, 1e-12)


def blend(dense: np.ndarray, texts: Sequence[str], weight: float) -> np.ndarray:
    """``dense`` (unit rows for ``texts``) with the lexical rows beside them at
    ``weight``; ``dense`` itself when the weight is 0."""
    if weight <= 0.0:
        return dense
    return np.concatenate([np.sqrt(1.0 - weight) * dense,
                           np.sqrt(weight) * rows(texts)], axis=1).astype(np.float32)
