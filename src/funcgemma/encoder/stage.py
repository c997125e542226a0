"""The encoder stage of the router: reads a message against every function's exemplars
and says which function, if any, the call must go to (funcgemma.encoder.decide).

The index is built on first use (or by ``warm()``, which the server calls at start-up)
and kept on disk under FUNCGEMMA_ENCODER_CACHE_DIR, keyed by a hash of the encoder and
every exemplar: a registry that has not changed is never encoded twice.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Collection, Iterable
from pathlib import Path

from ..registry import FunctionRegistry
from .decide import Policy, Reading, bonus_vector, choose, reading
from .index import ExemplarIndex, registry_exemplars
from .models import load

log = logging.getLogger(__name__)


class EncoderStage:
    def __init__(self, registry: FunctionRegistry, policy: Policy, *,
                 trained: Iterable[str] | None = None, cache_dir: Path | None = None,
                 threads: int = 1) -> None:
        """``trained``: the functions the router model was trained on (None: all of the
        registry's, so the encoder only fills the model's "no function")."""
        self.registry = registry
        self.policy = policy
        self.trained = frozenset(registry.names if trained is None else trained)
        self.cache_dir = cache_dir
        self.threads = threads
        self._index: ExemplarIndex | None = None
        self._typical: dict[str, float] = {}
        self._lock = threading.Lock()

    @property
    def routing_names(self) -> list[str]:
        """The functions the router model is shown when it routes: those it was trained
        on. Any other is reached through the encoder."""
        return [n for n in self.registry.names if n in self.trained]

    @property
    def untrained(self) -> list[str]:
        return [n for n in self.registry.names if n not in self.trained]

    @property
    def index(self) -> ExemplarIndex:
        with self._lock:
            if self._index is None:
                self._index = ExemplarIndex(load(self.policy.encoder, threads=self.threads),
                                            registry_exemplars(self.registry),
                                            cache_dir=self.cache_dir)
                self._bonus = bonus_vector(self._index.groups, self._index.counts,
                                           self.policy)
                bonus = dict(zip(self._index.groups, self._bonus, strict=True))
                self._typical = {name: m + float(bonus[name]) for name, m in
                                 self._index.typical_margins(self.policy.k).items()}
            return self._index

    @property
    def typical(self) -> dict[str, float]:
        """Each function's typical margin over no function, bonus included (decide)."""
        _ = self.index
        return self._typical

    def new_threshold(self, name: str) -> float:
        """The margin an untrained function ``name`` needs to be called."""
        return self.policy.new_threshold(self.typical.get(name, 0.0))

    def may_act(self, *, called: bool) -> bool:
        """Whether reading a message can change anything: with a function the model was not
        trained on, or (when the model called nothing) where the encoder may fill in."""
        return bool(self.untrained) or (not called and math.isfinite(self.policy.fill_margin))

    @property
    def active(self) -> bool:
        """Whether the encoder is ever read (else it is never loaded: no memory, no time)."""
        return self.may_act(called=False)

    def warm(self) -> None:
        """Load the encoder and build (or read) the index now, when it will be used."""
        if self.active:
            _ = self.index

    def read(self, text: str, allowed: Collection[str] | None = None) -> Reading:
        """Every function's score for ``text``, best first (``allowed``: only these)."""
        index = self.index
        row = index.group_scores(index.encode([text]), self.policy.k)[0] + self._bonus
        return reading(index.groups, row, allowed)

    def choose(self, text: str, adapter: str | None, allowed: Collection[str] | None = None,
               seen: Reading | None = None) -> tuple[str | None, Reading]:
        """The function the call must go to (None: the model's answer stands) and the
        reading it came from; ``adapter``: the function the model called, or None;
        ``seen``: the reading of ``text`` already made (else it is read now)."""
        seen = self.read(text, allowed) if seen is None else seen
        forced = choose(adapter, seen, self.trained, self.policy, self.typical)
        if forced is not None:
            log.debug("encoder: %s (margin %.3f over no function; model said %s)",
                      forced, seen.margin, adapter)
        return forced, seen

    def overriding(self, text: str, allowed: Collection[str] | None = None
                   ) -> tuple[str | None, Reading]:
        """The function ``choose`` makes the call go to whatever the model answers (one
        the model was not trained on: None when the model must answer first), and the
        reading, for ``choose`` after the model answers."""
        forced, seen = self.choose(text, None, allowed)
        return (forced if forced not in self.trained else None), seen

    def describe(self) -> dict[str, object]:
        out: dict[str, object] = {"encoder": self.policy.encoder,
                                  "trained": sorted(self.trained),
                                  "untrained": self.untrained, "policy": self.policy.to_json()}
        if self._index is not None and self.untrained:
            out["new_thresholds"] = {n: round(self.new_threshold(n), 4) for n in self.untrained}
        return out
