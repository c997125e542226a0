"""How the encoder's reading of a message and the adapter's answer become one decision.

The adapter decides among the functions it was trained on; the encoder proposes a
function the adapter was not trained on, and may fill a "no function" of the adapter
when it is confident. The rule and its figures were chosen on dev by a rule written
before measuring (experiments/hybrid-31/RULE.md):

1. the encoder's best function f is untrained and its margin over "no function" is at
   least ``new_margin + margin_scale * m_f``: call it, whatever the adapter answered.
   ``m_f`` is f's typical margin, read from its own examples (each example left out of
   f's exemplars and scored against the rest, funcgemma.encoder.index.typical_margin): a
   narrow function whose examples sit far above "no function" needs more than a broad
   one whose requests sit close to it (fourth rule of the RULE.md);
2. else the adapter answered "no function", the encoder's best is a trained function and
   its margin is at least ``fill_margin``: call it;
3. else the adapter's answer stands.

Where the encoder picks a function, the adapter writes its arguments with the call forced
to that name (funcgemma.router).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

# a function with fewer exemplars than this gets the few-shot bonus
FEW_SHOT_BELOW = 30


@dataclass(frozen=True)
class Policy:
    """The calibrated figures (the adapter's `.json`, key "encoder")."""

    encoder: str = "use"
    k: int = 10
    few_shot_bonus: float = 0.0
    new_margin: float = math.inf
    fill_margin: float = math.inf
    # how much of a function's typical margin is added to new_margin (0: one margin for all)
    margin_scale: float = 0.0

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Policy:
        def margin(key: str) -> float:
            value = data.get(key)
            return math.inf if value is None else float(value)

        return cls(encoder=str(data.get("encoder", "use")), k=int(data.get("k", 10)),
                   few_shot_bonus=float(data.get("few_shot_bonus", 0.0)),
                   new_margin=margin("new_margin"), fill_margin=margin("fill_margin"),
                   margin_scale=float(data.get("margin_scale", 0.0)))

    def to_json(self) -> dict[str, Any]:
        def margin(value: float) -> float | None:
            return None if math.isinf(value) else round(value, 4)

        return {"encoder": self.encoder, "k": self.k,
                "few_shot_bonus": round(self.few_shot_bonus, 4),
                "new_margin": margin(self.new_margin), "fill_margin": margin(self.fill_margin),
                "margin_scale": round(self.margin_scale, 4)}

    def new_threshold(self, typical: float) -> float:
        """The margin an untrained function needs, given its typical margin."""
        return self.new_margin + self.margin_scale * typical


@dataclass(frozen=True)
class Reading:
    """The encoder's view of one message: functions best first with their scores (the
    few-shot bonus included), and the no-function score."""

    ranked: tuple[tuple[str, float], ...]
    none: float

    @property
    def best(self) -> str | None:
        return self.ranked[0][0] if self.ranked else None

    @property
    def margin(self) -> float:
        return self.ranked[0][1] - self.none if self.ranked else -math.inf

    def to_json(self, top: int = 3) -> dict[str, Any]:
        return {"none": round(self.none, 4),
                "top": [{"name": n, "score": round(s, 4)} for n, s in self.ranked[:top]]}


def bonus_vector(groups: list[str | None], counts: Mapping[str | None, int],
                 policy: Policy) -> np.ndarray:
    """What each group's score gets added: the few-shot bonus for a function with fewer
    than FEW_SHOT_BELOW exemplars (never for "no function", group None)."""
    return np.array([policy.few_shot_bonus if g is not None and counts[g] < FEW_SHOT_BELOW
                     else 0.0 for g in groups], dtype=np.float32)


def reading(groups: list[str | None], scores: np.ndarray,
            allowed: Collection[str] | None = None) -> Reading:
    """A Reading from one row of group scores (bonus already added); ``allowed``: the
    functions that may be proposed (None: all)."""
    ranked = sorted(((g, float(s)) for g, s in zip(groups, scores, strict=True)
                     if g is not None and (allowed is None or g in allowed)),
                    key=lambda item: -item[1])
    none = float(scores[groups.index(None)])
    return Reading(tuple(ranked), none)


def choose(adapter: str | None, seen: Reading, trained: Collection[str], policy: Policy,
           typical: Mapping[str, float] | None = None) -> str | None:
    """The function the encoder makes the call go to, or None (the adapter's answer
    stands); ``adapter``: the function the adapter called (None: no function);
    ``typical``: each function's typical margin (missing: 0)."""
    best = seen.best
    if best is None or best == adapter:
        return None
    if best not in trained:
        need = policy.new_threshold((typical or {}).get(best, 0.0))
        return best if seen.margin >= need else None
    if adapter is None and seen.margin >= policy.fill_margin:
        return best
    return None
