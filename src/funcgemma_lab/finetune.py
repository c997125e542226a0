"""Fine-tune funcgemma's router: PEFT LoRA on Gemma 3 270M, exported to a llama.cpp GGUF.

    python tools/finetune.py --out runs/router [--epochs 2] [--resume] [--install]

Trains on data/train.jsonl, scores every checkpoint on data/dev.jsonl through the real
embedded router (the exported GGUF adapter on llama.cpp, the same parser and metrics as
tools/evaluate.py), keeps the best, and writes loss and dev-F1 curves as PNG.
`--install` copies the best adapter and its model card into the package, where the
embedded backend picks it up by default. Needs `./setup.sh --train`.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from funcgemma import weights
from funcgemma.errors import FuncgemmaError
from funcgemma.registry import default_registry
from funcgemma.settings import NAME_PRIOR_MAX, Settings, get_settings

from . import arguments
from .datasets import Case, DataError, about_function, read_cases
from .training.calibrate import calibration_cases

log = logging.getLogger("finetune")


def stratified(cases: list[Case], limit: int, seed: int) -> list[Case]:
    by: dict[str, list[Case]] = {}
    for c in cases:
        by.setdefault(c.expected_function or "none", []).append(c)
    rng = random.Random(seed)
    for group in by.values():
        rng.shuffle(group)
    out: list[Case] = []
    while len(out) < min(limit, len(cases)):
        for group in by.values():
            if group and len(out) < limit:
                out.append(group.pop())
    return out


def plot_curves(state: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5))
    hist = state.get("history", [])
    ax.plot([h["step"] for h in hist], [h["loss"] for h in hist], color="tab:blue",
            label="train loss (EMA)")
    ax.set_xlabel("step")
    ax.set_ylabel("loss", color="tab:blue")
    ax.set_yscale("log")
    evals = state.get("evals", [])
    if evals:
        ax2 = ax.twinx()
        ax2.plot([e["step"] for e in evals], [e["macro_f1"] or 0 for e in evals], "o-",
                 color="tab:red", label="dev macro-F1")
        ax2.plot([e["step"] for e in evals], [e["false_call_rate"] or 0 for e in evals], "s--",
                 color="tab:orange", label="dev false-call rate")
        ax2.set_ylim(0, 1)
        ax2.set_ylabel("dev", color="tab:red")
        ax2.legend(loc="center right")
    ax.set_title("funcgemma router fine-tuning")
    ax.legend(loc="upper right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def check_args(args: argparse.Namespace) -> str | None:
    """What is wrong with the arguments, found before torch is imported and the model
    loaded (tens of seconds), or None."""
    if not 0.0 <= args.name_prior <= NAME_PRIOR_MAX:
        return f"--name-prior must be between 0 and {NAME_PRIOR_MAX:g}, not {args.name_prior}"
    if args.none_weight <= 0:
        return f"--none-weight must be positive, not {args.none_weight}"
    if args.extra_weight <= 0:
        return f"--extra-weight must be positive, not {args.extra_weight}"
    if args.max_false_calls is not None and not 0.0 <= args.max_false_calls <= 1.0:
        return f"--max-false-calls is a rate between 0 and 1, not {args.max_false_calls}"
    if args.extra_weight != 1.0 and not args.extra_functions:
        return "--extra-weight weighs the cases of --extra-functions; give that flag too"
    if args.merge_only:
        if not args.merged:
            return "--merge-only needs --merged PATH"
        needed = {"--merge-only": args.merge_only}
    elif args.calibrate_only:
        needed = {"--calibrate-only": args.calibrate_only, "--dev": args.dev}
    else:
        needed = {"--train": args.train, "--dev": args.dev}
        if args.init_adapter:
            needed["--init-adapter"] = args.init_adapter
    for flag, path in needed.items():
        if not path.is_file():
            return f"{flag} {path}: no such file"
    if not (args.merge_only or args.calibrate_only):
        for folder in args.extra_functions:
            if not folder.is_dir():
                return f"--extra-functions {folder}: no such folder"
    if args.init_adapter and args.resume and not (args.merge_only or args.calibrate_only):
        return "--init-adapter starts a new run; --resume continues one"
    if args.holdout_function and args.holdout_function not in default_registry():
        return f"no function {args.holdout_function!r} to hold out"
    return None


def _summary(calib: dict[str, Any]) -> dict[str, Any]:
    """The calibration kept in the adapter's .json: the choice, without the whole sweep
    and the per-case decisions (those go to the calibration record)."""
    return {k: v for k, v in calib.items() if k not in ("sweep", "decisions")}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    arguments.finetune(ap)
    return execute(ap.parse_args(argv))


def execute(args: argparse.Namespace) -> int:
    """Train (or calibrate, or merge) as ``args`` say: the exit status. The arguments and
    data are checked before torch is imported."""
    problem = check_args(args)
    if problem:
        print(f"finetune: {problem}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("funcgemma").setLevel(logging.WARNING)
    try:
        settings = get_settings()
        train_cases, dev_cases = read_splits(args)
        return run(args, settings, train_cases, dev_cases)
    except DataError as exc:
        print(f"finetune: {exc}", file=sys.stderr)
        return 2
    except FuncgemmaError as exc:
        print(f"finetune: {exc.message}", file=sys.stderr)
        return 2


def read_splits(args: argparse.Namespace) -> tuple[list[Case], list[Case]]:
    """The --train and --dev cases this mode uses, read before torch is imported, so a
    bad line is reported at once."""
    if args.merge_only:
        return [], []
    dev_cases = read_cases(args.dev)
    return ([] if args.calibrate_only else read_cases(args.train)), dev_cases


def run(args: argparse.Namespace, settings: Settings, train_cases: list[Case],
        dev_cases: list[Case]) -> int:
    try:
        from .training.export import export_adapter, merge_into_gguf
        from .training.modelcard import write_model_card
        from .training.scoring import calibrate_adapter, check_parity, score_adapter
        from .training.trainer import TrainConfig, train
    except ImportError as exc:
        print(f"finetune: {exc}. Install the training extras: ./setup.sh --train", file=sys.stderr)
        return 2
    registry = default_registry()
    tools: list[dict[str, Any]] = registry.tools()
    if args.merge_only:
        t = time.time()
        merge_into_gguf(weights.router_gguf(settings), args.merge_only, args.merged)
        print(f"merged GGUF: {args.merged} ({args.merged.stat().st_size / 1e6:.0f} MB, "
              f"{time.time() - t:.0f} s)")
        return 0
    drop_near = not args.keep_near_negatives
    if args.calibrate_only:
        calib = calibrate_adapter(args.calibrate_only,
                                  calibration_cases(dev_cases, args.holdout_function, drop_near),
                                  settings, name_prior=args.name_prior,
                                  max_false_calls=args.max_false_calls)
        sidecar = args.calibrate_only.with_suffix(".json")
        meta = {**weights.adapter_json(args.calibrate_only),  # trained_functions, encoder
                "call_bias": calib["bias"], "name_prior": args.name_prior,
                "calibration": _summary(calib)}
        sidecar.write_text(json.dumps(meta, indent=2) + "\n")
        # the whole sweep and each case's margin, for the record (the .json keeps the choice)
        record = args.calibrate_only.with_name(args.calibrate_only.stem + ".calibration.json")
        record.write_text(json.dumps(calib, indent=1, ensure_ascii=False) + "\n")
        print(json.dumps(meta, indent=2))
        return 0
    if args.init_adapter:
        from .training.export import adapter_shape

        try:
            r, alpha, targets = adapter_shape(args.init_adapter)
        except (OSError, ValueError) as exc:
            print(f"finetune: --init-adapter: {exc}", file=sys.stderr)
            return 2
        args.r, args.alpha, args.targets = r, int(alpha), ",".join(targets)
    # the dev cases scored at checkpoints and calibrated on: all of dev, less a held-out
    # function's cases (and, unless kept, its hard negatives)
    held_out_dev = calibration_cases(dev_cases, args.holdout_function, drop_near)
    if args.holdout_function:
        train_cases = [c for c in train_cases
                       if not about_function(c, args.holdout_function, drop_near)]
        tools = [t for t in tools if t["function"]["name"] != args.holdout_function]
    if args.limit:
        train_cases = train_cases[: args.limit]
    extra_tools: list[dict[str, Any]] = []
    if args.extra_functions:
        from .training.extra import load_extras

        extra_tools, extra_cases = load_extras(args.extra_functions, registry.names)
        train_cases = train_cases + extra_cases
        log.info("extra functions: %d declarations, %d cases", len(extra_tools),
                 len(extra_cases))
    run_notes: dict[str, Any] = {}
    if args.extra_functions:
        run_notes["extra_functions"] = ", ".join(map(str, args.extra_functions))
    if args.holdout_function:
        run_notes["holdout_near_negatives"] = "kept" if args.keep_near_negatives else "dropped"
    dev_subset = stratified(held_out_dev, args.dev_limit, args.seed)
    cfg = TrainConfig(out=args.out, base=args.base, gguf_file=args.gguf_file, r=args.r,
                      alpha=args.alpha, dropout=args.dropout,
                      targets=tuple(args.targets.split(",")), epochs=args.epochs, lr=args.lr,
                      batch=args.batch, accum=args.accum, max_len=args.max_len, seed=args.seed,
                      eval_every=args.eval_every, serving_share=args.serving_share,
                      decision_weight=args.decision_weight, none_weight=args.none_weight,
                      extra_weight=args.extra_weight,
                      holdout_function=args.holdout_function, device=args.device,
                      threads=args.threads,
                      init_adapter=str(args.init_adapter) if args.init_adapter else None,
                      extra=run_notes)
    started = time.time()
    parity_checked = {"n": 0}

    def on_checkpoint(step: int, ckpt: Path, model: Any, tok: Any) -> dict[str, Any] | None:
        if not parity_checked["n"] and args.base is None:
            parity_checked["n"] = check_parity(tok, dev_subset[:40], registry.tools(), settings)
            log.info("train/serve tokenizer parity ok on %d prompts", parity_checked["n"])
        adapter = export_adapter(model, ckpt / "adapter.gguf")
        if args.base is not None:
            return None  # a non-default base is scored with tools/evaluate.py after export
        t = time.time()
        metrics = score_adapter(adapter, dev_subset, settings, name_prior=args.name_prior)
        log.info("step %d dev: macro_f1=%.3f acc=%.3f false_calls=%.3f args=%s (%.0f s)", step,
                 metrics["macro_f1"] or 0, metrics["accuracy"] or 0,
                 metrics["false_call_rate"] or 0, metrics["argument_match"], time.time() - t)
        return metrics

    state = train(cfg, train_cases, tools, on_checkpoint=on_checkpoint, resume=args.resume,
                  extra=extra_tools)
    plot_curves(state, args.out / "curves.png")
    best = state.get("best") or {"checkpoint": str(args.out / "last")}
    best_adapter = Path(best["checkpoint"]) / "adapter.gguf"
    final = args.out / "funcgemma-router-lora.gguf"
    shutil.copyfile(best_adapter, final)
    state["wall_seconds"] = round(time.time() - started, 1)
    state["train_cases"] = len(train_cases)
    state["dev_cases_scored"] = len(dev_subset)
    (args.out / "state.json").write_text(json.dumps(state, indent=2))
    card = write_model_card(args.out / "MODEL_CARD.md", state, train_cases, registry.names)
    print(f"best checkpoint: {best.get('checkpoint')} macro_f1={best.get('macro_f1')}")
    print(f"adapter: {final} ({final.stat().st_size / 1e6:.1f} MB); card: {card}")
    if not args.no_calibrate and args.base is None:
        calib = calibrate_adapter(final, held_out_dev, settings, name_prior=args.name_prior,
                                  max_false_calls=args.max_false_calls)
        meta = {"call_bias": calib["bias"], "name_prior": args.name_prior,
                "calibration": _summary(calib), "dev_cases": len(held_out_dev),
                # the router's encoder brings in any other (funcgemma.encoder); its own
                # calibration (`funcgemma hybrid calibrate --install`) is run after
                "trained_functions": [n for n in registry.names
                                      if n != args.holdout_function]}
        final.with_suffix(".json").write_text(json.dumps(meta, indent=2) + "\n")
        (args.out / "calibration.json").write_text(json.dumps(calib, indent=2) + "\n")
        print(f"call bias {calib['bias']}: dev macro_f1 {calib['macro_f1']:.3f}, false calls "
              f"{calib['false_call_rate']:.3f} (at 0: {calib['at_zero']})")
    if args.merged:
        merge_into_gguf(weights.router_gguf(settings), final, args.merged)
        print(f"merged GGUF: {args.merged}")
    if args.install:
        weights.ADAPTER_DIR.mkdir(exist_ok=True)
        shutil.copyfile(final, weights.DEFAULT_ADAPTER)
        if final.with_suffix(".json").exists():
            shutil.copyfile(final.with_suffix(".json"),
                            weights.DEFAULT_ADAPTER.with_suffix(".json"))
        shutil.copyfile(card, weights.ADAPTER_DIR / "MODEL_CARD.md")
        print(f"installed as the embedded router's default: {weights.DEFAULT_ADAPTER}")
    return 0
