"""Rewrite the current figures in the docs from evaluation reports and a bench run.

The figures a reader trusts (docs/benchmarks.md, the adapter's model card) are generated,
never typed by hand: each file holds one block between the markers

    <!-- figures:start -->
    ...
    <!-- figures:end -->

and this tool replaces what is between them, leaving the rest of the file as it is.

python tools/figures.py --report runs/test-llamacpp --report runs/wild-llamacpp \\
    --bench runs/bench/bench.json

--report takes an evaluation folder or its report.json (written by tools/evaluate.py),
--bench a bench.json (written by tools/bench.py); --target names the files to rewrite
(default: docs/benchmarks.md and src/funcgemma/adapters/MODEL_CARD.md). A file without
its markers, or a report that cannot be read, is one line on stderr and exit 2, and no
file is written. Standard library only, so it runs without the project's extras.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
START = "<!-- figures:start -->"
END = "<!-- figures:end -->"
DEFAULT_TARGETS = (ROOT / "docs" / "benchmarks.md",
                   ROOT / "src" / "funcgemma" / "adapters" / "MODEL_CARD.md")
DASH = "–"


class FiguresError(Exception):
    """Anything the user can fix: a missing file, a report of another shape, no markers."""


def load_json(path: Path, name: str) -> dict[str, Any]:
    """The JSON object in `path` (a folder is taken to hold `name`)."""
    if path.is_dir():
        path = path / name
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FiguresError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FiguresError(f"{path}: cannot read it as JSON ({exc})") from None
    if not isinstance(data, dict):
        raise FiguresError(f"{path}: not a JSON object")
    data.setdefault("_path", str(path))
    return data


def _num(value: Any, digits: int = 3) -> str:
    return DASH if value is None else f"{value:.{digits}f}"


def _pct(value: Any) -> str:
    return DASH if value is None else f"{100 * value:.1f}%"


def routing_row(report: dict[str, Any]) -> str:
    """One table row for one report.json (tools/evaluate.py's format)."""
    try:
        meta = report.get("meta", {})
        per_function = report["per_function"]
        # a set of no-function messages only: F1 over functions means nothing there
        calls_expected = any(v.get("support", 0) for k, v in per_function.items() if k != "none")
        macro = _num(report["macro_f1"]) if calls_expected else DASH
        langs = report.get("per_lang", {})
        by_lang = " / ".join(_num(langs[k]["macro_f1"]) for k in ("en", "ja") if k in langs)
        if not calls_expected or not by_lang:
            by_lang = DASH
        arguments = _num(report.get("argument_match")) if report.get("argument_match_n") else DASH
        latency = report.get("latency_ms") or {}
        p50_95 = (f"{latency['p50']:.0f} / {latency['p95']:.0f}"
                  if latency.get("p50") is not None else DASH)
        when = str(meta.get("timestamp", ""))[:10] or DASH
        commit = str(meta.get("git_commit") or "")[:7] or DASH
        cells = [f"`{meta.get('data') or report.get('_path', '?')}`", str(report["n"]),
                 _num(report["accuracy"]), macro, _pct(report["false_call_rate"]), arguments,
                 by_lang, p50_95, f"{when} `{commit}`"]
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise FiguresError(f"{report.get('_path', 'report')}: not an evaluation report.json "
                           f"(tools/evaluate.py writes one): {exc!r}") from None
    return "| " + " | ".join(cells) + " |"


def routing_table(reports: Sequence[dict[str, Any]]) -> str:
    """The routing figures of several reports, with the model and settings they share."""
    metas = [r.get("meta", {}) for r in reports]
    served = sorted({f"{m.get('backend', '?')}, `{m.get('model', '?')}`, call bias "
                     f"{m.get('call_bias')}, name prior {m.get('name_prior')}" for m in metas})
    lines = [f"Routing ({'; '.join(served)}):", "",
             "| data | n | accuracy | macro-F1 | false calls | argument match "
             "| macro-F1 en / ja | p50 / p95 ms | measured (commit) |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    lines += [routing_row(r) for r in reports]
    return "\n".join(lines)


def bench_table(bench: dict[str, Any]) -> str:
    """The serving figures of one bench.json (tools/bench.py's format)."""
    try:
        warm, router, over = bench["warm_ms"], bench["router_ms"], bench["overhead_ms"]
        conc, host = bench["concurrency"], bench["host"]
        rows = [
            ("start-up (server ready)", f"{bench['cold']['startup_s']:.1f} s"),
            ("cold /route (first request)", f"{bench['cold']['first_route_ms']:.0f} ms"),
            ("warm /route p50 / p95 / p99",
             f"{warm['p50']:.0f} / {warm['p95']:.0f} / {warm['p99']:.0f} ms"),
            ("router only p50 / p95", f"{router['p50']:.0f} / {router['p95']:.0f} ms"),
            ("service overhead p50 / p95", f"{over['p50']:.1f} / {over['p95']:.1f} ms"),
            ("peak RSS (router + chat model loaded)", f"{bench['memory']['peak_rss_mb']:.0f} MB"),
            (f"{conc['clients']} clients x {conc['duration_s']:.0f} s",
             f"{conc['answered']} answered, {conc['errors']} errors, {conc['lost']} lost"),
            ("host speed before / after (prompt tokens/s)",
             f"{host['before']['prefill_tok_s']:.0f} / {host['after']['prefill_tok_s']:.0f}"),
        ]
        head = (f"Serving (`tools/bench.py`, {bench['backend']}, `{bench['model']}`, "
                f"{bench['machine']}, {bench['requests']} warm requests, {bench['timestamp']}):")
    except (KeyError, TypeError, ValueError) as exc:
        raise FiguresError(f"{bench.get('_path', 'bench')}: not a bench.json "
                           f"(tools/bench.py writes one): {exc!r}") from None
    return "\n".join([head, "", "| measure | value |", "| --- | --- |",
                      *(f"| {k} | {v} |" for k, v in rows)])


def render_block(reports: Sequence[dict[str, Any]], bench: dict[str, Any] | None) -> str:
    """The text that goes between the markers."""
    parts = ["<!-- generated by tools/figures.py; edit the reports, not this block -->"]
    if reports:
        parts.append(routing_table(reports))
    if bench is not None:
        parts.append(bench_table(bench))
    return "\n\n".join(parts)


def replace_block(text: str, block: str, *, where: str) -> str:
    """`text` with the lines between the marker lines replaced by `block`. A marker counts
    only as a line of its own, so a page may name the markers in its prose."""
    lines = text.splitlines(keepends=True)
    starts = [i for i, line in enumerate(lines) if line.strip() == START]
    ends = [i for i, line in enumerate(lines) if line.strip() == END]
    if len(starts) != 1 or len(ends) != 1 or starts[0] > ends[0]:
        raise FiguresError(f"{where}: needs one line {START} followed by one line {END} "
                           "where the figures go")
    return "".join([*lines[:starts[0] + 1], block, "\n", *lines[ends[0]:]])


def rewrite(targets: Sequence[Path], block: str) -> list[Path]:
    """Rewrite every target, or none if any lacks its markers; the files that changed."""
    new = {}
    for path in targets:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise FiguresError(f"{path}: cannot read it ({exc.strerror or exc})") from None
        new[path] = (text, replace_block(text, block, where=str(path)))
    changed = []
    for path, (old, text) in new.items():
        if text != old:
            path.write_text(text, encoding="utf-8")
            changed.append(path)
    return changed


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--report", type=Path, action="append", default=[],
                   help="evaluation folder or report.json (repeatable; rows in this order)")
    p.add_argument("--bench", type=Path, help="bench folder or bench.json")
    p.add_argument("--target", type=Path, action="append",
                   help="file to rewrite (repeatable; default docs/benchmarks.md and the "
                        "adapter's MODEL_CARD.md)")
    args = p.parse_args(argv)
    try:
        if not args.report and args.bench is None:
            raise FiguresError("nothing to write: give --report and/or --bench")
        reports = [load_json(path, "report.json") for path in args.report]
        bench = load_json(args.bench, "bench.json") if args.bench else None
        changed = rewrite(args.target or DEFAULT_TARGETS, render_block(reports, bench))
    except FiguresError as exc:
        print(f"figures: {exc}", file=sys.stderr)
        return 2
    for path in changed:
        print(f"rewrote {path}")
    if not changed:
        print("figures already current")
    return 0


if __name__ == "__main__":
    sys.exit(main())
