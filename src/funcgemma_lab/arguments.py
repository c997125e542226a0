"""The command-line arguments of the lab's commands: one function a command, used both by
its ``tools/*.py`` entry point and by its ``funcgemma <command>`` subcommand.

Cheap to import on purpose: the ``funcgemma`` CLI builds every subcommand's parser when
it starts (``funcgemma chat`` too), so nothing here imports more than argparse; each
command imports its stack when it runs.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from .argtypes import positive, positive_ints

# the repository checkout this package is installed from (editable): bench's default data
# is the repository's, wherever the tool is run from
REPOSITORY = Path(__file__).resolve().parents[2]
BENCH_DATA = REPOSITORY / "data" / "test.jsonl"


def evaluate(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", type=Path, help="JSONL case file (required unless --compare)")
    p.add_argument(
        "--backend",
        choices=["auto", "ollama", "llamacpp"],
        default=None,
        help="default: FUNCGEMMA_BACKEND (auto)",
    )
    p.add_argument(
        "--model", help="router model: an Ollama model name, or a .gguf path for llamacpp"
    )
    p.add_argument("--limit", type=positive(int), help="evaluate at most N cases")
    p.add_argument("--lang", choices=["en", "ja"], help="only cases in this language")
    p.add_argument("--seed", type=int, help="shuffle the cases with this seed before --limit")
    p.add_argument(
        "--expect-none",
        action="store_true",
        help="score every case as a no-function message (requests for functions that are "
        "not served, e.g. data/extra/cases.jsonl): the false-call rate is then the "
        "out-of-scope rate",
    )
    p.add_argument("--out", type=Path, help="output folder (default runs/<data stem>-<backend>)")
    p.add_argument("--add-function", action="append", default=[], metavar="FILE:NAME",
                   help="add a function declared in a functions.json (data/extra2/...) with "
                   "--examples of the requests labelled for it beside that file; it is "
                   "routed through the encoder, as a function added in one file is")
    p.add_argument("--as-new", action="append", default=[], metavar="NAME",
                   help="treat a built-in function as new: the encoder forgets its example "
                   "file and keeps --examples of its training rows, and the model's own "
                   "calls of it are not taken (use with a hold-out adapter via --model)")
    p.add_argument("--examples", type=positive(int), default=5,
                   help="examples an added or --as-new function keeps (default 5)")
    p.add_argument(
        "--compare",
        nargs=2,
        type=Path,
        metavar=("A.json", "B.json"),
        help="print a Markdown comparison of two report.json files and exit",
    )
    p.add_argument(
        "--explain",
        action="store_true",
        help="embedded router only: record each case's call margin and, where a function "
        "was missed, the name the model would have picked had it called; report.md says "
        "where misses were lost (the call decision or the name)",
    )
    p.add_argument("--no-history", action="store_true",
                   help="route each conversation turn (data/multiturn) on its own, without "
                   "the turns before it: the router as it was before follow-ups")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("-v", "--verbose", action="count", default=0, help="-v INFO, -vv DEBUG")


def bench(p: argparse.ArgumentParser) -> None:
    p.add_argument("--backend", default="llamacpp", choices=["auto", "ollama", "llamacpp"])
    p.add_argument("--data", type=Path, default=BENCH_DATA)
    p.add_argument("--requests", type=positive(int), default=200)
    p.add_argument("--clients", type=positive_ints, default=[32], metavar="N[,N...]",
                   help="concurrent /route clients; a list (1,4,8,32) measures each in turn")
    p.add_argument("--duration", type=positive(float), default=60.0)
    p.add_argument("--startup-timeout", type=positive(float), default=180.0)
    p.add_argument("--out", type=Path, default=Path("runs/bench"))


def generate(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--per-class", type=positive(int), default=50,
                   help="cases per function and language")
    p.add_argument("--langs", default="en,ja")
    p.add_argument("--functions", default=None, help="comma list (default: all + none)")
    p.add_argument("--model", default="qwen2.5:7b", help="Ollama model that writes the cases")
    p.add_argument("--batch", type=positive(int), default=10, help="cases asked for per LLM call")
    p.add_argument("--offline", action="store_true", help="expand templates, no Ollama")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--against", default="data/raw/*.jsonl,data/holdout/*.jsonl",
                   help="globs of existing data to deduplicate against")
    p.add_argument("--max-attempts", type=positive(int), default=20,
                   help="per quota, LLM calls or template draws x batch, before giving up on it")


def split(p: argparse.ArgumentParser) -> None:
    p.add_argument("--raw", type=Path, default=Path("data/raw"))
    p.add_argument("--out", type=Path, default=Path("data"))
    p.add_argument("--seed", type=int, default=13)


def finetune(ap: argparse.ArgumentParser) -> None:
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
    ap.add_argument("--max-false-calls", type=float, default=None, metavar="RATE",
                    help="calibrate with a cap: the best dev macro-F1 among the biases "
                    "whose dev false-call rate is at most RATE (e.g. 0.025), instead of "
                    "the fewest false calls among the near-best macro-F1")
    ap.add_argument("--calibrate-only", type=Path, default=None,
                    help="only calibrate this adapter GGUF on --dev and write its .json")
    ap.add_argument("--merged", type=Path, default=None,
                    help="also write a merged GGUF (base + adapter, Q8_0) to this path")
    ap.add_argument("--merge-only", type=Path, default=None, metavar="ADAPTER",
                    help="only merge this adapter GGUF into the base and write --merged "
                    "(for Ollama: Modelfile.finetuned)")


def hybrid(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=["calibrate", "test", "write-examples", "e2e-cases",
                                      "e2e-compare", "bench", "romaji"])
    p.add_argument("--requests", type=positive(int), default=100,
                   help="bench: data/test messages routed (and the added function's own)")
    p.add_argument("--adapter-out", type=Path,
                   default=Path("experiments/hybrid-31/adapter-answers"),
                   help="folder of `funcgemma eval` outputs, one per data set")
    p.add_argument("--adapter", type=Path, default=None,
                   help="the adapter whose .json holds (or gets) the policy "
                   "(default: the shipped one)")
    p.add_argument("--encoders", nargs="+", default=["use", "use+e5", "e5"])
    p.add_argument("--install", action="store_true",
                   help="calibrate: write the chosen policy into the adapter's .json")
    p.add_argument("--holdout", action="append", default=[],
                   metavar="FUNCTION=PREDICTIONS.jsonl",
                   help="test: a hold-out adapter's predictions on data/test (or the "
                   "failures.jsonl of a run that kept no predictions)")
    p.add_argument("--no-extra", action="store_true", help="test: skip extra2/extra3")
    p.add_argument("--fresh", action="append", default=[], metavar="FOLDER",
                   help="test: a further set of functions (functions.json + cases.jsonl "
                   "under data/), each added alone, its other requests as no function "
                   "(e.g. holdout/new_functions)")
    p.add_argument("--examples", type=positive(int), default=5,
                   help="test: examples each added function keeps (the rest are its "
                   "positives; default 5)")
    p.add_argument("--policy", default=None, metavar="JSON",
                   help="test: score this policy instead of the one in the adapter's .json")
    p.add_argument("--out", type=Path, default=Path("runs/hybrid"))
