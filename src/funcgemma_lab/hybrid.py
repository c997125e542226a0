"""The hybrid router (adapter + sentence encoder) scored from cached outputs.

Running the real adapter over every message for every function added one at a time
would take hours here (76 functions x ~1,600 messages). The adapter's routing does not
depend on which untrained functions the registry has (the router shows it only the
functions it was trained on, funcgemma.router), so its answer on each message is computed
once (`funcgemma eval` writes it to predictions.jsonl) and reused: this module combines
those answers with the encoder's scores under funcgemma.encoder.decide, exactly as the
router does, to calibrate the policy on dev and to score test sets. `funcgemma eval
--add-function` runs the same through the real router, for a check.

Texts are encoded once and kept in ``runs/hybrid/embeddings.npz`` (both encoders' raw
rows), so a grid over the policy costs seconds.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, Field, create_model

from funcgemma.encoder.decide import Policy, bonus_vector, choose, reading
from funcgemma.encoder.index import top_k_means, typical_margin
from funcgemma.encoder.models import _unit, load, with_kana
from funcgemma.registry import FunctionRegistry, FunctionSpec

EMBEDDINGS = Path("runs/hybrid/embeddings.npz")
SEED = 31


class Vectors:
    """Raw encoder rows for texts, from the on-disk store, encoding what is missing."""

    def __init__(self, path: Path = EMBEDDINGS) -> None:
        self.path = path
        self.rows: dict[str, dict[str, np.ndarray]] = {"use": {}, "e5": {}}
        if path.exists():
            with np.load(path, allow_pickle=True) as stored:
                texts = [str(t) for t in stored["texts"]]
                for part in ("use", "e5"):
                    self.rows[part] = dict(zip(texts, stored[part], strict=True))
        self._models: dict[str, Any] = {}

    def _fill(self, texts: Iterable[str]) -> None:
        missing = sorted({t for t in texts if t not in self.rows["use"]})
        if not missing:
            return
        for part in ("use", "e5"):
            model = self._models.setdefault(part, load(part))
            for i in range(0, len(missing), 64):
                chunk = missing[i:i + 64]
                for text, row in zip(chunk, model.raw(chunk), strict=True):
                    self.rows[part][text] = row
        self.save()

    def save(self) -> None:
        texts = sorted(self.rows["use"])
        self.path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(self.path, texts=np.array(texts, dtype=object),
                 use=np.stack([self.rows["use"][t] for t in texts]),
                 e5=np.stack([self.rows["e5"][t] for t in texts]))

    def part(self, texts: Sequence[str], name: str) -> np.ndarray:
        """One encoder's unit rows, romaji blended with its kana reading (as
        funcgemma.encoder.models.with_kana does)."""
        def raw(batch: Sequence[str]) -> np.ndarray:
            self._fill(batch)
            return _unit(np.stack([self.rows[name][t] for t in batch]))

        return with_kana(raw, texts)

    def encode(self, texts: Sequence[str], encoder: str, e5_mean: np.ndarray | None
               ) -> np.ndarray:
        """Unit rows as funcgemma.encoder.models makes them."""
        if encoder == "use+e5":
            e5 = self.part(texts, "e5")
            if e5_mean is not None:
                e5 = _unit(e5 - e5_mean)
            return _unit(np.concatenate([self.part(texts, "use"), e5], axis=1))
        return self.part(texts, encoder)


@dataclass
class Bank:
    """Exemplars: (function or None, text) pairs."""

    items: list[tuple[str | None, str]] = field(default_factory=list)

    def groups(self) -> list[str | None]:
        return [None, *sorted({f for f, _ in self.items if f})]

    def counts(self) -> dict[str | None, int]:
        counts: dict[str | None, int] = {}
        for f, _ in self.items:
            counts[f] = counts.get(f, 0) + 1
        return counts


def e5_mean(vectors: Vectors, bank: Bank) -> np.ndarray:
    return vectors.part([t for _, t in bank.items], "e5").mean(axis=0)


def scores(vectors: Vectors, bank: Bank, texts: Sequence[str], policy: Policy
           ) -> tuple[list[str | None], np.ndarray]:
    """Group names and (texts x groups) scores, the few-shot bonus added."""
    mean = e5_mean(vectors, bank) if policy.encoder == "use+e5" else None
    ex = vectors.encode([t for _, t in bank.items], policy.encoder, mean)
    msgs = vectors.encode(texts, policy.encoder, mean)
    groups = bank.groups()
    where = {g: i for i, g in enumerate(groups)}
    labels = np.array([where[f] for f, _ in bank.items])
    members = [np.flatnonzero(labels == g) for g in range(len(groups))]
    table = top_k_means(msgs @ ex.T, members, policy.k)
    return groups, table + bonus_vector(groups, bank.counts(), policy)


def typical(vectors: Vectors, bank: Bank, name: str, policy: Policy) -> float:
    """``name``'s typical margin over no function in ``bank`` (funcgemma.encoder.index),
    the few-shot bonus added as the router adds it."""
    mean = e5_mean(vectors, bank) if policy.encoder == "use+e5" else None
    mine = [t for f, t in bank.items if f == name]
    said = [t for t in mine if t.startswith(f"{name.replace('_', ' ')}: ")]
    examples = [t for t in mine if t not in said]
    none = [t for f, t in bank.items if f is None]

    def rows(texts: list[str]) -> np.ndarray:
        return (vectors.encode(texts, policy.encoder, mean) if texts
                else np.zeros((0, 1), dtype=np.float32))

    m = typical_margin(rows(examples), rows(said), rows(none), policy.k)
    return m + float(bonus_vector([name], bank.counts(), policy)[0])


def decide(groups: list[str | None], table: np.ndarray, adapter: Sequence[str | None],
           trained: set[str], policy: Policy, typical: dict[str, float] | None = None
           ) -> list[str | None]:
    """What the hybrid router calls for each message, given the adapter's answers
    (``typical``: the untrained functions' typical margins, bonus included)."""
    out: list[str | None] = []
    for row, said in zip(table, adapter, strict=True):
        forced = choose(said, reading(groups, row), trained, policy, typical)
        out.append(forced or said)
    return out


def f1(name: str, gold: Sequence[str | None], pred: Sequence[str | None]) -> float:
    tp = sum(g == name and p == name for g, p in zip(gold, pred, strict=True))
    fp = sum(g != name and p == name for g, p in zip(gold, pred, strict=True))
    fn = sum(g == name and p != name for g, p in zip(gold, pred, strict=True))
    return 2 * tp / (2 * tp + fp + fn) if tp else 0.0


def false_calls(gold: Sequence[str | None], pred: Sequence[str | None]) -> float:
    negatives = [p for g, p in zip(gold, pred, strict=True) if g is None]
    return sum(p is not None for p in negatives) / max(1, len(negatives))


def macro_f1(gold: Sequence[str | None], pred: Sequence[str | None]) -> float:
    labels = sorted({g or "" for g in gold} | {p or "" for p in pred})
    g2 = [g or "" for g in gold]
    p2 = [p or "" for p in pred]
    return sum(f1(lab, g2, p2) for lab in labels) / len(labels)


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip()]


def adapter_answers(predictions: Path) -> dict[str, str | None]:
    """text -> the function the adapter called first (None: no function), from a
    predictions.jsonl that `funcgemma eval` wrote."""
    out: dict[str, str | None] = {}
    for row in read_jsonl(predictions):
        calls = row.get("predicted") or []
        out[row["text"]] = calls[0]["name"] if calls else None
    return out


def answers_from_failures(data: Path, failures: Path) -> dict[str, str | None]:
    """text -> the function the adapter called, rebuilt from a run that kept only its
    failures.jsonl (older runs): a row of ``data`` not listed there was routed to its
    expected function; a listed row has its own prediction."""
    out: dict[str, str | None] = {r["text"]: r.get("expected_function")
                                  for r in read_jsonl(data)}
    for row in read_jsonl(failures):
        calls = row.get("predicted") or []
        out[row["text"]] = calls[0]["name"] if calls else None
    return out


def sample_examples(texts: Sequence[str], k: int, seed: int = SEED) -> list[str]:
    """The first ``k`` of ``texts`` in a seeded shuffle (the rule's k examples)."""
    pool = sorted(set(texts))
    random.Random(seed).shuffle(pool)
    return pool[:k]


_JSON_TYPES: dict[str, Any] = {"string": str, "integer": int, "number": float,
                               "boolean": bool, "array": list, "object": dict}


def params_of(name: str, schema: dict[str, Any]) -> type[BaseModel]:
    """A params model for a flat JSON-schema function (the data/extra* declarations): each
    property by its own name, required or optional as declared."""
    required = set(schema.get("required", []))
    fields: dict[str, Any] = {}
    for prop, spec in schema.get("properties", {}).items():
        kind = _JSON_TYPES.get(spec.get("type", "string"), str)
        described = Field(description=spec.get("description", ""))
        fields[prop] = ((kind, described) if prop in required
                        else (kind | None, Field(None, description=spec.get("description", ""))))
    model = create_model(name, **fields)
    model.__doc__ = schema.get("description")
    return model


def _not_served(params: Any, ctx: Any) -> Any:
    raise RuntimeError("an evaluated function is routed, never run")


def added_registry(registry: FunctionRegistry, add: Sequence[str], as_new: Sequence[str],
                   k: int) -> tuple[FunctionRegistry, set[str], set[str]]:
    """``registry`` for `funcgemma eval --add-function FILE:NAME --as-new NAME`: each added
    function declared from a functions.json (data/extra2...), with k of the requests
    labelled for it in the cases.jsonl beside that file as its examples (seed 31); each
    --as-new built-in with its example file forgotten and k of its training rows as
    examples. Returns the registry, the functions to count as untrained, and the texts
    used as examples (not test cases)."""
    specs = {s.name: s for s in registry}
    examples_used: set[str] = set()
    for item in add:
        path, _, name = item.rpartition(":")
        if not path or not Path(path).is_file():
            raise SystemExit(f"--add-function {item}: expected FILE:NAME with FILE a "
                             "functions.json")
        tools = {t["function"]["name"]: t["function"]
                 for t in json.loads(Path(path).read_text(encoding="utf-8"))}
        if name not in tools:
            raise SystemExit(f"--add-function: {name} is not declared in {path}")
        fn = tools[name]
        mine = [r["text"] for r in read_jsonl(Path(path).with_name("cases.jsonl"))
                if r.get("expected_function") == name]
        examples = tuple(sample_examples(mine, k))
        examples_used.update(examples)
        specs[name] = FunctionSpec(name=name, params=params_of(name, fn.get("parameters", {})),
                                   handler=_not_served, description=fn.get("description", ""),
                                   examples=examples)
    for name in as_new:
        if name not in specs:
            raise SystemExit(f"--as-new: no function named {name}")
        rows = [r["text"] for r in read_jsonl(Path("data/train.jsonl"))
                if r.get("expected_function") == name]
        examples = tuple(sample_examples(rows, k))
        specs[name] = replace(specs[name], examples=examples, example_file=None)
    return FunctionRegistry(specs.values()), {*as_new, *(a.rpartition(":")[2] for a in add)}, \
        examples_used
