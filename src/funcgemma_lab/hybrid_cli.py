"""`funcgemma hybrid`: calibrate and score the router's encoder stage from the adapter's
cached answers (funcgemma_lab.hybrid_runs), and rewrite the built-in example files.

    funcgemma hybrid calibrate --adapter-out DIR [--install]
    funcgemma hybrid test --adapter-out DIR [--holdout NAME=PREDICTIONS.jsonl ...]
    funcgemma hybrid write-examples
    funcgemma hybrid romaji       # the encoder on romaji rows, with and without kana
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from funcgemma.encoder.decide import Policy
from funcgemma.weights import DEFAULT_ADAPTER

from . import arguments
from .hybrid import Vectors, read_jsonl
from .hybrid_runs import (
    Cases,
    calibrate,
    example_files,
    score_extra,
    score_holdout,
    score_trained,
    shipped_bank,
)

DATA = Path("data")
TRAINED = ("celebrity_info", "schedule_reminder", "sentiment_label", "shopping_intent",
           "translation_assist", "travel_guide", "weather_info")
# the rule: `use` unless `use+e5` is this much better in the leave-one-out objective
BOTH_MUST_GAIN = 0.02
TEST_SETS = {"test": ("test.jsonl", False), "wild": ("holdout/wild.jsonl", False),
             "out_of_scope": ("holdout/out_of_scope.jsonl", True),
             "no_function_blind": ("holdout/no_function_blind.jsonl", False)}


def _cases(adapter_out: Path, name: str, data: str, *, as_none: bool) -> Cases:
    return Cases.load(DATA / data, adapter_out / name / "predictions.jsonl", as_none=as_none)


def _dev(adapter_out: Path) -> tuple[Cases, Cases]:
    """dev, and data/extra's requests with their own functions as the truth."""
    return (_cases(adapter_out, "dev", "dev.jsonl", as_none=False),
            _cases(adapter_out, "extra", "extra/cases.jsonl", as_none=False))


def _write(out: Path, name: str, payload: dict[str, Any]) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    path = out / name
    path.write_text(json.dumps(payload, indent=1, ensure_ascii=False, default=str) + "\n")
    return path


def run_calibrate(args: argparse.Namespace) -> int:
    args.adapter = args.adapter or DEFAULT_ADAPTER
    vectors = Vectors()
    dev, extra = _dev(args.adapter_out)
    results = {name: calibrate(vectors, dev, extra, name) for name in args.encoders}
    for name, r in results.items():
        print(f"{name}: mean new-function F1 {r['chosen']['mean_new_f1']:.3f} "
              f"(bonus {r['chosen']['bonus']}, new margin {r['chosen']['new_margin']}), "
              f"false calls {r['chosen']['false_calls']:.3f} "
              f"(adapter alone {r['adapter_false_calls']:.3f}); "
              f"fill {r['fill']['fill_margin']}: macro-F1 {r['fill']['macro_f1']:.3f} "
              f"(adapter {r['fill']['adapter_macro_f1']:.3f})", file=sys.stderr)
    chosen = "use"
    if "use+e5" in results and "use" in results and (
            results["use+e5"]["chosen"]["mean_new_f1"]
            >= results["use"]["chosen"]["mean_new_f1"] + BOTH_MUST_GAIN):
        chosen = "use+e5"
    if chosen not in results:
        chosen = args.encoders[0]
    policy = results[chosen]["policy"]
    path = _write(args.out, "calibration.json", {"chosen": chosen, "policy": policy,
                                                 "results": results})
    print(f"chosen: {chosen} {json.dumps(policy)}; {path}", file=sys.stderr)
    if args.install:
        sidecar = args.adapter.with_suffix(".json")
        meta = json.loads(sidecar.read_text())
        meta["trained_functions"] = list(TRAINED)
        meta["encoder"] = {**policy, "calibration": {
            "rule": "experiments/hybrid-31/RULE.md",
            "dev_cases": len(dev.texts) + len(extra.texts),
            "mean_new_function_f1_dev": round(results[chosen]["chosen"]["mean_new_f1"], 4)}}
        sidecar.write_text(json.dumps(meta, indent=2) + "\n")
        print(f"written to {sidecar}", file=sys.stderr)
    return 0


def run_test(args: argparse.Namespace) -> int:
    args.adapter = args.adapter or DEFAULT_ADAPTER
    vectors = Vectors()
    meta = json.loads(args.adapter.with_suffix(".json").read_text())
    policy = Policy.from_json(json.loads(args.policy) if args.policy else meta["encoder"])
    bank = shipped_bank()
    report: dict[str, Any] = {"policy": policy.to_json(), "examples": args.examples,
                              "trained": {}, "holdout": [],
                              "extra": []}
    for name, (data, as_none) in TEST_SETS.items():
        if (args.adapter_out / name / "predictions.jsonl").exists():
            report["trained"][name] = score_trained(
                vectors, bank, _cases(args.adapter_out, name, data, as_none=as_none), policy)
    test = _cases(args.adapter_out, "test", "test.jsonl", as_none=False)
    for spec in args.holdout:
        function, _, predictions = spec.partition("=")
        cases = Cases.load(DATA / "test.jsonl", Path(predictions))
        report["holdout"].append({**score_holdout(vectors, bank, cases, function, policy),
                                  "predictions": predictions})
    if not args.no_extra:
        extra = {s: Cases.load(DATA / s / "cases.jsonl",
                               args.adapter_out / s / "predictions.jsonl")
                 for s in ("extra2", "extra3")}
        report["extra"] = score_extra(vectors, bank, extra, test, policy, k=args.examples)
        report["extra_summary"] = _summary(report["extra"])
    report["fresh"] = {}
    args.out.mkdir(parents=True, exist_ok=True)
    for folder in args.fresh:
        cases = Cases.load(DATA / folder / "cases.jsonl",
                           args.adapter_out / Path(folder).name / "predictions.jsonl")
        rows = score_extra(vectors, bank, {folder: cases}, test, policy, k=args.examples)
        report["fresh"][folder] = {
            **_summary(rows),
            "precision": float(np.mean([r["precision_recall"][0] for r in rows])),
            "recall": float(np.mean([r["precision_recall"][1] for r in rows])),
            "rows": rows}
        _plot_extra(rows, args.out / f"{Path(folder).name}-f1.png")
    path = _write(args.out, "test.json", report)
    _print_test(report)
    if report["extra"]:
        _plot_extra(report["extra"], args.out / "extra-f1.png")
    print(f"written: {path}", file=sys.stderr)
    return 0


def _print_test(report: dict[str, Any]) -> None:
    for name, r in report["trained"].items():
        print(f"{name}: adapter macro-F1 {r['adapter']['macro_f1']:.3f} false calls "
              f"{r['adapter']['false_calls']:.3f} -> hybrid {r['hybrid']['macro_f1']:.3f} / "
              f"{r['hybrid']['false_calls']:.3f} ({r['changed']} of {r['n']} changed)")
    for r in report["holdout"]:
        print(f"held out {r['function']}: adapter F1 {r['adapter_f1']:.3f} -> hybrid "
              f"{r['hybrid_f1']:.3f} (macro-F1 {r['macro_f1']:.3f}, false calls "
              f"{r['false_calls']:.3f})")
    if report.get("extra_summary"):
        s = report["extra_summary"]
        print(f"extra2+extra3, one at a time: mean F1 {s['mean_f1']:.3f} over "
              f"{s['functions']} (worst {s['worst']:.3f}); the 7's test messages taken "
              f"{s['seven_taken_mean']:.4f}")
    _print_fresh(report)


def _summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Functions added one at a time (score_extra's rows): how many, their mean and worst
    F1, and the mean share of the seven's data/test messages they took."""
    f1s = [r["f1"] for r in rows]
    return {"functions": len(f1s), "mean_f1": float(np.mean(f1s)), "worst": min(f1s),
            "seven_taken_mean": float(np.mean([r["seven_taken"] for r in rows]))}


def _print_fresh(report: dict[str, Any]) -> None:
    for folder, s in report.get("fresh", {}).items():
        print(f"{folder}, one at a time: mean F1 {s['mean_f1']:.3f} (P {s['precision']:.2f}, "
              f"R {s['recall']:.2f}) over {s['functions']} (worst {s['worst']:.3f}); the 7's "
              f"test messages taken {s['seven_taken_mean']:.4f}")


def _plot_extra(rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = sorted(rows, key=lambda r: r["f1"])
    fig, ax = plt.subplots(figsize=(7, 12))
    ax.barh([r["function"] for r in rows], [r["f1"] for r in rows], color="#4a7ab5")
    ax.axvline(0.75, color="#b54a4a", linestyle="--", label="target mean 0.75")
    ax.set_xlabel("F1 of the added function (k = 5 examples)")
    ax.set_xlim(0, 1)
    ax.tick_params(axis="y", labelsize=6)
    ax.legend(loc="lower right")
    ax.set_title("Each extra2/extra3 function added alone to the shipped adapter")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run_write_examples(_: argparse.Namespace) -> int:
    for path, text in example_files().items():
        path.write_text(text, encoding="utf-8")
        print(f"{path}: {text.count(chr(10)) - 3} requests", file=sys.stderr)
    return 0


# the end-to-end check: this many extra2/extra3 functions, the first in a seeded shuffle
E2E_FUNCTIONS = 5


def run_e2e_cases(args: argparse.Namespace) -> int:
    """Case files for `funcgemma eval --add-function` on E2E_FUNCTIONS functions: all 16
    requests for it (its examples are taken out by eval), 60 other extra2/extra3 requests
    as no function and 60 data/test rows, seeded."""
    import random

    from .hybrid import read_jsonl, sample_examples

    pools = {s: read_jsonl(DATA / s / "cases.jsonl") for s in ("extra2", "extra3")}
    names = sample_examples(sorted({r["expected_function"] for rows in pools.values()
                                    for r in rows}), E2E_FUNCTIONS)
    test = read_jsonl(DATA / "test.jsonl")
    args.out.mkdir(parents=True, exist_ok=True)
    for name in names:
        where = next(s for s, rows in pools.items()
                     if any(r["expected_function"] == name for r in rows))
        others = [r for rows in pools.values() for r in rows if r["expected_function"] != name]
        rng = random.Random(31)
        rows = [r for r in pools[where] if r["expected_function"] == name] + [
            {**r, "expected_function": None, "expected_arguments": {}}
            for r in rng.sample(others, 60)] + rng.sample(test, 60)
        path = args.out / f"{name}.jsonl"
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
        print(f"funcgemma eval --backend llamacpp --data {path} --add-function "
              f"data/{where}/functions.json:{name} --out {args.out / name}")
    return 0


BENCH_BLOCK = 10


def run_bench(args: argparse.Namespace) -> int:
    """Warm routing latency and peak memory of the embedded router with one function added
    (pay_parking_meter, 5 examples), the encoder off and on, side by side in one process:
    the same messages in alternating blocks of BENCH_BLOCK, so that a change in the host's
    speed hits both. (Message by message, each switch re-evaluated the declarations: 2.5 s
    a message for both.)"""
    import resource
    import time

    from funcgemma.backends.llamacpp import make_embedded
    from funcgemma.factory import make_encoder_stage
    from funcgemma.registry import default_registry
    from funcgemma.router import Router
    from funcgemma.settings import get_settings

    from .hybrid import added_registry, read_jsonl

    settings = get_settings()
    registry, _, skip = added_registry(
        default_registry(), ["data/extra2/functions.json:pay_parking_meter"], [], 5)
    model, _ = make_embedded(settings)
    rss_model = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    stage = make_encoder_stage(settings, registry)
    if stage is None:
        raise SystemExit("the encoder is off or not installed")
    stage.warm()
    rss_encoder = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    routers = {"encoder off": Router(model, registry, settings=settings),
               "encoder on": Router(model, registry, settings=settings, encoder=stage)}
    texts = [r["text"] for r in read_jsonl(DATA / "test.jsonl")][:args.requests]
    texts += [r["text"] for r in read_jsonl(DATA / "extra2" / "cases.jsonl")
              if r["expected_function"] == "pay_parking_meter" and r["text"] not in skip]
    times: dict[str, list[float]] = {name: [] for name in routers}
    for at in range(0, len(texts), BENCH_BLOCK):
        for name, router in routers.items():
            # the two routers declare the functions in different orders: after a switch,
            # one untimed message brings the declarations' KV state and name bias back
            router.route(texts[0])
            for text in texts[at:at + BENCH_BLOCK]:
                start = time.perf_counter()
                router.route(text)
                times[name].append((time.perf_counter() - start) * 1000)
    report = {"messages": len(texts), "threads": settings.n_threads,
              "peak_rss_mb": {"model": round(rss_model, 1),
                              "model_and_encoder": round(rss_encoder, 1),
                              "end": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
                                           / 1024, 1)},
              "route_ms": {name: {"p50": round(float(np.percentile(t, 50)), 1),
                                  "p95": round(float(np.percentile(t, 95)), 1)}
                           for name, t in times.items()}}
    path = _write(args.out, "bench.json", report)
    print(json.dumps(report, indent=1))
    print(f"written: {path}", file=sys.stderr)
    return 0


def run_e2e_compare(args: argparse.Namespace) -> int:
    """The end-to-end runs (run_e2e_cases' commands, done) beside the simulation."""
    from .hybrid import adapter_answers, sample_examples
    from .hybrid_runs import compare_e2e, describe, extra_functions

    policy = Policy.from_json(json.loads((args.adapter or DEFAULT_ADAPTER)
                                         .with_suffix(".json").read_text())["encoder"])
    cached: dict[str, str | None] = {}
    for name in ("test", "extra2", "extra3"):
        cached.update(adapter_answers(args.adapter_out / name / "predictions.jsonl"))
    functions = extra_functions(["extra2", "extra3"])
    rows = []
    for run in sorted(p for p in args.out.iterdir() if (p / "predictions.jsonl").exists()):
        mine = [r["text"] for s in ("extra2", "extra3")
                for r in read_jsonl(DATA / s / "cases.jsonl")
                if r["expected_function"] == run.name]
        rows.append(compare_e2e(Vectors(), shipped_bank(), policy, run.name,
                                describe(functions[run.name]), sample_examples(mine, 5),
                                run / "predictions.jsonl", cached))
        print(json.dumps(rows[-1]))
    _write(args.out, "compare.json", {"runs": rows})
    return 0


def run_romaji(args: argparse.Namespace) -> int:
    """The encoder alone on the romaji rows (lang ja, Latin letters) of data/test and wild,
    each read as it is and with its kana reading blended in (funcgemma.encoder.romaji):
    the share whose best function is the expected one, and the share that would be
    routed to it by the shipped policy were it a new function (best, and past the
    new-function margin). Messages that expect no function: the share the encoder keeps
    below the margin."""
    from funcgemma.encoder.decide import bonus_vector, reading
    from funcgemma.encoder.index import ExemplarIndex, registry_exemplars
    from funcgemma.encoder.models import load
    from funcgemma.registry import default_registry

    policy = Policy.from_json(json.loads((args.adapter or DEFAULT_ADAPTER)
                                         .with_suffix(".json").read_text())["encoder"])
    encoder = load(policy.encoder)
    index = ExemplarIndex(encoder, registry_exemplars(default_registry()))
    bonus = bonus_vector(index.groups, index.counts, policy)
    rows = [r for name in ("test.jsonl", "holdout/wild.jsonl")
            for r in read_jsonl(DATA / name) if r.get("lang") == "ja" and r["text"].isascii()]
    texts = [r["text"] for r in rows]
    raw = getattr(encoder, "raw", None)
    ways = {"as typed": raw(texts) if raw else None, "with kana": encoder.encode(texts)}
    report: dict[str, Any] = {"rows": len(rows), "policy": policy.to_json()}
    for way, vectors in ways.items():
        if vectors is None:
            continue
        table = index.group_scores(vectors, policy.k) + bonus
        best = called = kept = calls = nones = 0
        for row, scores in zip(rows, table, strict=True):
            seen = reading(index.groups, scores)
            expected = row["expected_function"]
            if expected is None:
                nones += 1
                kept += seen.margin <= policy.new_margin
                continue
            calls += 1
            best += seen.best == expected
            called += seen.best == expected and seen.margin > policy.new_margin
        report[way] = {"function_rows": calls, "best_is_expected": round(best / calls, 3),
                       "routed_if_new": round(called / calls, 3), "no_function_rows": nones,
                       "kept_as_none": round(kept / nones, 3) if nones else None}
    path = _write(args.out, "romaji.json", report)
    print(json.dumps(report, indent=1))
    print(f"written: {path}", file=sys.stderr)
    return 0


ACTIONS = {"calibrate": run_calibrate, "test": run_test, "write-examples": run_write_examples,
           "e2e-cases": run_e2e_cases, "e2e-compare": run_e2e_compare, "bench": run_bench,
           "romaji": run_romaji}


def execute(args: argparse.Namespace) -> int:
    return ACTIONS[args.action](args)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="funcgemma hybrid", description=__doc__)
    arguments.hybrid(parser)
    return execute(parser.parse_args(argv))


