"""The lab's ``funcgemma`` subcommands, declared in the ``funcgemma.commands`` entry-point
group (pyproject.toml): ``eval``, ``train``, ``bench``, ``gen-data``, ``split-data``, ``hybrid``.

Each takes the arguments of its ``tools/*.py`` twin (one function in
:mod:`funcgemma_lab.arguments` sets up both) and runs the same ``execute(args)``. The CLI
imports this module at every start, so it stays cheap: a command's module, and torch,
matplotlib or llama.cpp behind it, is imported when the command runs.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
from collections.abc import Callable

from funcgemma.plugins import Command, Invocation

from . import arguments

# import names of the `train` extra (pyproject.toml), checked before `funcgemma train` runs
TRAIN_STACK = ("torch", "transformers", "peft", "gguf", "numpy", "matplotlib")


def missing(modules: tuple[str, ...]) -> list[str]:
    """The modules of ``modules`` that cannot be imported here (found without importing)."""
    return [name for name in modules if importlib.util.find_spec(name) is None]


def _runs(module: str, *, extra: str | None = None,
          needs: tuple[str, ...] = ()) -> Callable[[Invocation], int]:
    """``funcgemma_lab.<module>.execute(args)`` with the invocation's streams; exit 2 with
    the extra to install when a module of ``needs`` is absent."""
    def run(invocation: Invocation) -> int:
        absent = missing(needs)
        if absent:
            print(f"funcgemma {invocation.args.command}: {', '.join(absent)} not installed; "
                  f"install the `{extra}` extra: pip install -e '.[{extra}]' (or ./setup.sh "
                  f"--{extra})", file=invocation.err)
            return 2
        lab = importlib.import_module(f"funcgemma_lab.{module}")
        with contextlib.redirect_stdout(invocation.out), \
                contextlib.redirect_stderr(invocation.err):
            return int(lab.execute(invocation.args))

    return run


COMMANDS: tuple[Command, ...] = (
    Command("eval", "evaluate the router on a labelled JSONL file (tools/evaluate.py)",
            _runs("evaluate"), arguments.evaluate),
    Command("train", "fine-tune the router's LoRA adapter (tools/finetune.py)",
            _runs("finetune", extra="train", needs=TRAIN_STACK), arguments.finetune),
    Command("bench", "benchmark a real `funcgemma serve` (tools/bench.py)",
            _runs("bench"), arguments.bench),
    Command("gen-data", "grow the labelled data with an LLM or from templates "
            "(tools/generate_test_data.py)", _runs("generate"), arguments.generate),
    Command("split-data", "split data/raw into train/dev/test without near-duplicate "
            "leaks (tools/split_data.py)", _runs("split"), arguments.split),
    Command("hybrid", "calibrate and score the router's encoder stage from cached adapter "
            "answers; rewrite the built-in example files", _runs("hybrid_cli"),
            arguments.hybrid),
)
