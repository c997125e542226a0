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
from funcgemma.argtypes import positive
from funcgemma.datasets import Case, DataError, about_function, read_cases
from funcgemma.errors import FuncgemmaError
from funcgemma.registry import default_registry
from funcgemma.settings import NAME_PRIOR_MAX, Settings, get_settings
from funcgemma.training.calibrate import calibration_cases

log = logging.getLogger("finetune")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("runs/router"))
    ap.add_argument("--train", type=Path, default=Path("data/train.jsonl"))
    ap.add_argument("--dev", type=Path, default=Path("data/dev.jsonl"))
    ap.add_argument("--base", default=None, help="HF id or local dir (default: PyPI Gemma 3 270M)")
    ap.add_argument("--gguf-file", default=None, help="GGUF file name inside --base")
    ap.add_argument("--r", type=positive(int), default=16)
    ap.add_argument("--alpha", type=int, default=32)
    ap.add_argument("--dropout", type=float, default=0.05)
    ap.add_argument("--targets", default="q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj")
    ap.add_argument("--epochs", type=positive(float), default=2.0)
    ap.add_argument("--lr", type=positive(float), default=3e-4)
    ap.add_argument("--batch", type=positive(int), default=16)
    ap.add_argument("--accum", type=positive(int), default=1)
    ap.add_argument("--max-len", type=positive(int), default=1536)
    ap.add_argument("--eval-every", type=positive(int), default=100,
                    help="steps between checkpoints")
    ap.add_argument("--dev-limit", type=positive(int), default=240,
                    help="dev cases scored per checkpoint")
    ap.add_argument("--serving-share", type=float, default=0.4)
    ap.add_argument("--decision-weight", type=float, default=1.0,
                    help="extra loss weight on the first target token (call or no call)")
    ap.add_argument("--none-weight", type=float, default=1.0,
                    help="the no-function class's share of the loss, in other classes' "
                         "shares (1: one class among the rest; 3: as much as three)")
    ap.add_argument("--extra-weight", type=float, default=1.0,
                    help="the extra functions' share of the loss (all of them together), in "
                         "other classes' shares; only with --extra-functions")
    ap.add_argument("--holdout-function", default=None,
                    help="leave this function out of training entirely (generalisation test): "
                         "its cases and the hard negatives written for it (`near`) are "
                         "dropped from training, checkpoint scoring and calibration")
    ap.add_argument("--keep-near-negatives", action="store_true",
                    help="with --holdout-function: keep the hard negatives written for the "
                         "held-out function in training, checkpoint scoring and calibration "
                         "(how runs before 2026-12-03 17:00 trained)")
    ap.add_argument("--extra-functions", type=Path, action="append", default=[],
                    metavar="DIR",
                    help="also train on labelled messages for functions funcgemma does not "
                    "serve (DIR/functions.json + DIR/cases.jsonl, e.g. data/extra), so the "
                    "router learns to read declarations; may be given more than once; see "
                    "training/extra.py")
    ap.add_argument("--limit", type=positive(int), default=None,
                    help="train on the first N cases only (extra-function cases come on top)")
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--device", default="auto", help="auto, cpu, cuda or mps")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--init-adapter", type=Path, default=None, metavar="GGUF",
                    help="start from this LoRA adapter GGUF (e.g. the shipped one, "
                         "src/funcgemma/adapters/funcgemma-router-lora.gguf) instead of "
                         "from zero; its r, alpha and target modules replace --r, --alpha "
                         "and --targets. A fresh schedule and optimizer; not with --resume")
    ap.add_argument("--install", action="store_true",
                    help="copy the best adapter into src/funcgemma/adapters/")
    ap.add_argument("--no-calibrate", action="store_true",
                    help="skip choosing the call/no-call threshold on the dev split")
    ap.add_argument("--name-prior", type=float, default=0.5, metavar="LAMBDA",
                    help="how much of the router's prior over function names to take out "
                    "where it picks one (0-2; 0: none; default 0.5, the shipped adapter's). "
                    "Used for checkpoint scoring and calibration and recorded in the "
                    "adapter's .json, so a retrained adapter serves with it")
    ap.add_argument("--calibrate-only", type=Path, default=None,
                    help="only calibrate this adapter GGUF on --dev and write its .json")
    ap.add_argument("--merged", type=Path, default=None,
                    help="also write a merged GGUF (base + adapter, Q8_0) to this path")
    ap.add_argument("--merge-only", type=Path, default=None, metavar="ADAPTER",
                    help="only merge this adapter GGUF into the base and write --merged "
                    "(for Ollama: Modelfile.finetuned)")
    return ap.parse_args(argv)


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


def adapter_backend(adapter: Path, settings: Settings, *, call_bias: float = 0.0,
                    name_prior: float = 0.0) -> Any:
    """The embedded router model (base GGUF + ``adapter``) as a LlamaCppRouter."""
    from funcgemma.backends.fairlock import FairLock
    from funcgemma.backends.llamacpp import LlamaCppRouter, load_llama

    llm = load_llama(weights.router_gguf(settings), n_ctx=settings.embedded_router_n_ctx,
                     n_threads=settings.n_threads, lora=adapter)
    return LlamaCppRouter(llm, model=adapter.stem, lock=FairLock(), call_bias=call_bias,
                          name_prior=name_prior)


def score_adapter(adapter: Path, cases: list[Case], settings: Settings, *,
                  name_prior: float = 0.0) -> dict[str, Any]:
    """Route ``cases`` through the embedded router with ``adapter``; evaluate.py's metrics."""
    from funcgemma.evaluation import Case as EvalCase
    from funcgemma.evaluation import build_report, run_cases
    from funcgemma.router import Router

    registry = default_registry()
    backend = adapter_backend(adapter, settings, name_prior=name_prior)
    router = Router(backend, registry, settings=settings)
    run = run_cases(router, [EvalCase(text=c.text, expected_function=c.expected_function,
                                      expected_arguments=c.expected_arguments, lang=c.lang)
                             for c in cases], progress=False)
    report = build_report(run, functions=registry.names)
    del router, backend
    keys = ("accuracy", "macro_f1", "false_call_rate", "argument_match", "parse_failures")
    out = {k: report.get(k) for k in keys}
    out["latency_p50_ms"] = report["latency_ms"]["p50"]
    out["per_function_f1"] = {k: v["f1"] for k, v in report["per_function"].items()}
    return out


def calibrate_adapter(adapter: Path, cases: list[Case], settings: Settings, *,
                      name_prior: float = 0.0) -> dict[str, Any]:
    """Force a call on every case, record the first-step margin and the function the model
    would call, then choose the bias. Only the name matters here, so decoding stops a few
    tokens after the call marker: bounded cost, even for an adapter that rambles."""
    import regex
    from tqdm import tqdm

    from funcgemma.training.calibrate import Decision, choose_bias
    from funcgemma.types import CompletionOptions, Message

    registry = default_registry()
    tools = registry.tools()
    names = sorted(registry.names, key=len, reverse=True)
    name_re = regex.compile(r"call:(" + "|".join(map(regex.escape, names)) + ")")
    backend = adapter_backend(adapter, settings, call_bias=-1e9,  # always call
                              name_prior=name_prior)
    options = CompletionOptions(temperature=0.0, max_tokens=12)
    decisions = []
    for case in tqdm(cases, desc="calibrating", unit="case"):
        out = backend.complete([Message(role="user", content=case.text)], tools=tools,
                               options=options)
        found = name_re.search(out.text)
        decisions.append(Decision(case.expected_function or "none",
                                  found.group(1) if found else "none",
                                  backend.last_stats["call_margin"]))
    return choose_bias(decisions)


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


def check_parity(tok: Any, cases: list[Case], tools: list[dict[str, Any]], settings: Settings
                 ) -> int:
    """Train/serve parity: transformers' token ids for rendered prompts equal llama.cpp's.
    Returns the number of prompts compared; raises on the first difference."""
    from funcgemma import render
    from funcgemma.backends.fairlock import FairLock
    from funcgemma.backends.llamacpp import LlamaCppRouter, load_llama
    from funcgemma.training.trainer import hf_tokenizer
    from funcgemma.types import Message

    llm = load_llama(weights.router_gguf(settings), n_ctx=256, n_threads=1)
    served = LlamaCppRouter(llm, model="parity", lock=FairLock())
    trained = hf_tokenizer(tok)
    for case in cases:
        seg = render.render_prompt(tools, [Message(role="user", content=case.text)])
        a, b = trained.encode(seg), served.encode(seg)
        if a != b:
            pairs = enumerate(zip(a, b, strict=False))
            first = next((i for i, (x, y) in pairs if x != y), min(len(a), len(b)))
            raise SystemExit(f"tokenizer mismatch between transformers and llama.cpp on "
                             f"{case.text!r}: first difference at token {first}")
    return len(cases)


def check_args(args: argparse.Namespace) -> str | None:
    """What is wrong with the arguments, found before torch is imported and the model
    loaded (tens of seconds), or None."""
    if not 0.0 <= args.name_prior <= NAME_PRIOR_MAX:
        return f"--name-prior must be between 0 and {NAME_PRIOR_MAX:g}, not {args.name_prior}"
    if args.none_weight <= 0:
        return f"--none-weight must be positive, not {args.none_weight}"
    if args.extra_weight <= 0:
        return f"--extra-weight must be positive, not {args.extra_weight}"
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


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
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
        from funcgemma.training.export import export_adapter, merge_into_gguf
        from funcgemma.training.modelcard import write_model_card
        from funcgemma.training.trainer import TrainConfig, train
    except ImportError as exc:
        print(f"finetune: {exc}. Install the training extras: ./setup.sh --train", file=sys.stderr)
        return 2
    registry = default_registry()
    tools = registry.tools()
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
                                  settings, name_prior=args.name_prior)
        meta = {"call_bias": calib["bias"], "name_prior": args.name_prior, "calibration": {
            k: v for k, v in calib.items() if k != "sweep"}}
        args.calibrate_only.with_suffix(".json").write_text(json.dumps(meta, indent=2) + "\n")
        print(json.dumps(meta, indent=2))
        return 0
    if args.init_adapter:
        from funcgemma.training.export import adapter_shape

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
        from funcgemma.training.extra import load_extras

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
        calib = calibrate_adapter(final, held_out_dev, settings, name_prior=args.name_prior)
        meta = {"call_bias": calib["bias"], "name_prior": args.name_prior, "calibration": {
            k: v for k, v in calib.items() if k != "sweep"}, "dev_cases": len(held_out_dev)}
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


if __name__ == "__main__":
    raise SystemExit(main())
