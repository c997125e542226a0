"""Evaluate the router on a labelled JSONL file: report.json, report.md, confusion.png,
failures.jsonl (every case routed wrongly) and predictions.jsonl (every case, with what it was
routed to).

python tools/evaluate.py --data data/dev.jsonl [--backend ollama] [--limit 50] [--out DIR]
python tools/evaluate.py --compare runs/a/report.json runs/b/report.json
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

from funcgemma.errors import FuncgemmaError, InvalidRequest
from funcgemma.settings import Settings, get_settings

from . import arguments

log = logging.getLogger("funcgemma.tools.evaluate")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    arguments.evaluate(p)
    return p


def usage_problem(args: argparse.Namespace) -> str | None:
    """What argparse cannot say about the arguments alone, or None."""
    if not args.compare and args.data is None:
        return "--data is required unless --compare is given"
    return None


def git_commit(start: Path) -> str | None:
    """HEAD's commit read from .git (no subprocess, so no git binary needed), or None."""
    try:
        for directory in (start, *start.parents):
            dotgit = directory / ".git"
            if dotgit.is_file():  # a worktree: ".git" holds "gitdir: <path>"
                dotgit = (directory / dotgit.read_text().split(":", 1)[1].strip()).resolve()
            if dotgit.is_dir():
                break
        else:
            return None
        head = (dotgit / "HEAD").read_text().strip()
        if not head.startswith("ref:"):
            return head or None
        ref = head[4:].strip()
        roots = [dotgit]
        if (dotgit / "commondir").is_file():
            roots.append((dotgit / (dotgit / "commondir").read_text().strip()).resolve())
        for root in roots:
            if (root / ref).is_file():
                return (root / ref).read_text().strip()
            if (root / "packed-refs").is_file():
                for line in (root / "packed-refs").read_text().splitlines():
                    if line.endswith(" " + ref):
                        return line.split()[0]
    except (OSError, IndexError):
        return None
    return None


def _apply_model(settings: Settings, backend: str, model: str | None) -> tuple[Settings, str]:
    """--model targets Ollama (a model name) or llama.cpp (a .gguf path)."""
    if not model:
        return settings, backend
    if model.endswith(".gguf"):
        if backend == "ollama":
            raise InvalidRequest(f"--model {model} is a GGUF file; use --backend llamacpp or auto.")
        return settings.model_copy(update={"router_gguf": Path(model)}), "llamacpp"
    if backend == "llamacpp":
        raise InvalidRequest(f"--backend llamacpp needs --model to be a .gguf path, not {model!r}.")
    return settings.model_copy(update={"router_model": model}), backend


def prepare_out(out: Path) -> None:
    """Create the output folder and check it takes files before any case is routed: a
    bad --out found when the report is written would throw the whole run away."""
    if out.exists() and not out.is_dir():
        raise InvalidRequest(f"--out {out} is a file, not a folder; pass a folder for the "
                             "reports.")
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out):
            pass
    except OSError as exc:
        raise InvalidRequest(f"Cannot write the reports to {out}: {exc.strerror or exc}; "
                             "pass --out with a writable folder.") from None


def run(args: argparse.Namespace) -> int:
    from .evaluation import evaluate, load_cases, select_cases
    from .reporting import compare_reports, headline

    if args.compare:
        print(compare_reports(*args.compare))
        return 0
    cases = select_cases(load_cases(args.data), lang=args.lang, limit=args.limit,
                         seed=args.seed, expect_none=args.expect_none)
    if args.no_history:
        cases = [replace(c, history=()) for c in cases]
    if not cases:
        raise InvalidRequest(f"No cases selected from {args.data} (check --lang and --limit).")
    if args.explain and (args.backend or get_settings().backend) == "ollama":
        raise InvalidRequest("--explain needs the embedded router (--backend llamacpp): "
                             "Ollama does not show the router's call decision.")
    if args.out is not None:
        prepare_out(args.out)  # before any model is loaded

    from funcgemma.factory import make_backends, make_router
    from funcgemma.registry import default_registry

    settings, backend = _apply_model(
        get_settings(), args.backend or get_settings().backend, args.model
    )
    backends = make_backends(settings, backend)
    print(f"backend {backends.kind} ({backends.reason}); {len(cases)} cases", file=sys.stderr)
    if args.model and not args.model.endswith(".gguf") and backends.kind != "ollama":
        log.warning("--model %s applies to Ollama only; %s was chosen", args.model, backends.kind)
    registry, held = default_registry(), set[str]()
    if args.add_function or args.as_new:
        from .hybrid import added_registry

        registry, held, skip = added_registry(registry, args.add_function, args.as_new,
                                              args.examples)
        cases = [c for c in cases if c.text not in skip]  # an example is not a test case
    router = make_router(backends, registry, settings)
    if held and router.encoder is not None:
        router = router_with_untrained(router, held)
    scope = "-as-none" if args.expect_none else ""
    out = args.out or Path("runs") / f"{args.data.stem}{scope}-{backends.kind}"
    if args.out is None:
        prepare_out(out)
    meta = {
        "backend": backends.kind,
        "backend_reason": backends.reason,
        "data": str(args.data),
        "git_commit": git_commit(Path.cwd().resolve()),
        "lang": args.lang,
        "limit": args.limit,
        "seed": args.seed,
        "expect_none": args.expect_none,
        # the router's two decision settings (embedded and raw-Ollama routers)
        "call_bias": getattr(backends.router, "call_bias", None),
        "name_prior": getattr(backends.router, "name_prior", None),
    }
    report = evaluate(router, cases, out, meta=meta, progress=not args.no_progress,
                      explain=args.explain)
    print(headline(report))
    for name in ("report.json", "report.md", "confusion.png", "failures.jsonl",
                 "predictions.jsonl"):
        print(f"wrote {out / name}")
    if report["partial"]:
        print("interrupted: the report covers the cases routed before Ctrl-C", file=sys.stderr)
        return 130
    return 0


def router_with_untrained(router: Any, held: set[str]) -> Any:
    """``router`` with ``held`` counted as functions its model was not trained on (--as-new:
    the encoder brings them in; the model's own calls of them are not taken)."""
    from funcgemma.router import Router

    stage = router.encoder
    stage.trained = stage.trained - held
    return Router(router.backend, router.registry, settings=router.settings, encoder=stage)


def execute(args: argparse.Namespace) -> int:
    """Evaluate (or compare) as ``args`` say: the exit status; errors are one line."""
    problem = usage_problem(args)
    if problem:
        print(f"evaluate: {problem}", file=sys.stderr)
        return 2
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    try:
        return run(args)
    except FuncgemmaError as exc:
        print(f"evaluate: {exc.message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    problem = usage_problem(args)
    if problem:
        parser.error(problem)
    return execute(args)
