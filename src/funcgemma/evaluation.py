"""Route labelled cases through a Router and write report.json, report.md and confusion.png.

The numbers come from ``funcgemma.metrics`` (definitions there). A FuncgemmaError
raised for a case counts as a prediction of none with source ``error``; a
ModelOutputError is also a parse failure. Ctrl-C stops the run and the cases routed
so far are still reported, marked ``"partial": true``.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tqdm import tqdm

from .errors import FuncgemmaError, InvalidRequest, ModelOutputError
from .metrics import NONE, CaseOutcome, argument_matches, compute_metrics
from .misses import summarise as summarise_misses
from .types import Call, Completion, Message

if TYPE_CHECKING:
    from .router import Router

log = logging.getLogger(__name__)
MAX_FAILURES = 20
ABORT_AFTER = 3


@dataclass(frozen=True)
class Case:
    """One labelled line of a data file (see data/README.md)."""

    text: str
    expected_function: str | None
    expected_arguments: dict[str, Any]
    lang: str
    expected_calls: tuple[Call, ...] | None = None
    line: int = 0


@dataclass
class EvalRun:
    """What routing the cases produced; ``failures`` keeps every failed case (report.json
    shows the first MAX_FAILURES, failures.jsonl all of them), ``predictions`` every case
    (predictions.jsonl: re-score a change to argument handling without the model)."""

    outcomes: list[CaseOutcome] = field(default_factory=list)
    failures: list[dict[str, Any]] = field(default_factory=list)
    predictions: list[dict[str, Any]] = field(default_factory=list)
    failure_count: int = 0
    partial: bool = False
    planned: int = 0
    model: str = ""
    explained: bool = False  # rows carry if_called where a function was missed (--explain)


_KINDS = {str: "a string", dict: "an object", list: "a list", (str, type(None)): "a string or null"}


def _field(obj: dict[str, Any], key: str, kind: Any, default: Any) -> Any:
    value = obj.get(key, default)
    if not isinstance(value, kind):
        raise ValueError(f"{key!r} must be {_KINDS[kind]}, got {json.dumps(value)[:60]}")
    return value


def _parse_case(obj: Any, line: int) -> Case:
    if not isinstance(obj, dict):
        raise ValueError(f"expected a JSON object, got {type(obj).__name__}")
    text = _field(obj, "text", str, None)
    if not text.strip():
        raise ValueError("'text' is empty")
    calls = None
    if "expected_calls" in obj:
        raw_calls = _field(obj, "expected_calls", list, None)
        if not all(isinstance(c, dict) for c in raw_calls):
            raise ValueError("'expected_calls' must be a list of {\"name\", \"arguments\"} objects")
        calls = tuple(
            Call(name=_field(c, "name", str, None), arguments=_field(c, "arguments", dict, {}))
            for c in raw_calls
        )
    if "expected_function" not in obj and not calls:
        raise ValueError("missing 'expected_function' (use null when no function applies)")
    first = calls[0] if calls else None
    function = _field(obj, "expected_function", (str, type(None)), first and first.name)
    arguments = _field(obj, "expected_arguments", dict, dict(first.arguments) if first else {})
    lang = _field(obj, "lang", str, "unknown")
    return Case(text, function or None, arguments, lang, calls, line)


def load_cases(path: str | Path) -> list[Case]:
    """Read a JSONL case file; a bad line raises InvalidRequest naming ``file:line``."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise InvalidRequest(f"No data file at {path}; pass --data with a JSONL file.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidRequest(f"Cannot read {path}: {exc}") from None
    cases = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            cases.append(_parse_case(json.loads(line), number))
        except ValueError as exc:  # json.JSONDecodeError is a ValueError too
            raise InvalidRequest(f"{path}:{number}: bad case: {exc}") from None
    return cases


def select_cases(
    cases: Sequence[Case], *, lang: str | None = None, limit: int | None = None,
    seed: int | None = None, expect_none: bool = False,
) -> list[Case]:
    """Filter by language, shuffle when a seed is given, then keep the first ``limit``.
    ``expect_none`` relabels every case as a no-function message: for requests meant for
    functions that are not served (``data/extra/cases.jsonl``), whose false-call rate is
    then the share of out-of-scope requests that get a call anyway."""
    chosen = [c for c in cases if lang is None or c.lang == lang]
    if expect_none:
        chosen = [replace(c, expected_function=None, expected_arguments={},
                          expected_calls=None) for c in chosen]
    if seed is not None:
        random.Random(seed).shuffle(chosen)
    return chosen[:limit] if limit is not None else chosen


class _Recorder:
    """Wraps the router's backend during a run so a failure entry can show what the
    model actually said, not only what the router made of it."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.last: Completion | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def complete(self, messages: Any, **kwargs: Any) -> Completion:
        self.last = None
        self.last = self.inner.complete(messages, **kwargs)
        return self.last

    def raw(self) -> str:
        if self.last is None:
            return ""
        calls = [c.model_dump() for c in self.last.tool_calls]
        parts = [json.dumps(calls, ensure_ascii=False)] if calls else []
        return " ".join(parts + ([self.last.text] if self.last.text else []))


def _explain(router: Router, backend: Any, case: Case, calls: Sequence[Call]
             ) -> dict[str, Any]:
    """The call margin the embedded router recorded for this case, and, where a function
    was expected and not called, the names it would have picked if made to call
    (`misses.py`). Empty for backends that record neither."""
    out: dict[str, Any] = {}
    stats = getattr(backend, "last_stats", None)
    if isinstance(stats, dict) and isinstance(stats.get("call_margin"), (int, float)):
        out["call_margin"] = stats["call_margin"]
    if_called = getattr(backend, "if_called", None)
    first = calls[0].name if calls else None
    if callable(if_called) and case.expected_function and first != case.expected_function:
        try:
            names = if_called([Message(role="user", content=case.text)], router.registry.tools())
        except FuncgemmaError as exc:
            log.warning("could not explain line %d: %s", case.line, exc.message)
        else:
            out["if_called"] = dict(list(names.items())[:3])
    return out


def _route_one(
    router: Router, recorder: _Recorder, case: Case, *, explain: bool = False
) -> tuple[CaseOutcome, dict[str, Any], FuncgemmaError | None]:
    start = time.perf_counter()
    calls: list[Call] = []
    latency: float | None = None
    parse_failure, error, raw, failed = False, "", "", None
    recorder.last = None  # a message the router answers without the model has no raw text
    try:
        result = router.route(case.text)
    except ModelOutputError as exc:
        latency = (time.perf_counter() - start) * 1000
        parse_failure, source, error, raw = True, "error", exc.message, exc.raw
    except FuncgemmaError as exc:
        source, error, raw, failed = "error", f"{exc.code}: {exc.message}", recorder.raw(), exc
    else:
        calls, source, latency, raw = result.calls, result.source, result.latency_ms, recorder.raw()
    outcome = CaseOutcome(
        expected_function=case.expected_function, expected_arguments=case.expected_arguments,
        lang=case.lang, predicted=calls, source=source, latency_ms=latency,
        parse_failure=parse_failure, text=case.text, expected_calls=case.expected_calls,
    )
    entry = {
        "line": case.line, "text": case.text, "lang": case.lang,
        "expected": case.expected_function, "expected_arguments": case.expected_arguments,
        "predicted": [c.model_dump() for c in calls], "source": source, "raw": raw,
        "error": error, "latency_ms": latency,
    }
    if explain and source != "error":
        entry.update(_explain(router, recorder.inner, case, calls))
    return outcome, entry, failed


def _failure_kind(outcome: CaseOutcome) -> str | None:
    if outcome.parse_failure:
        return "parse_failure"
    if outcome.source == "error":
        return "error"
    if outcome.predicted_label != outcome.expected_label:
        return "misroute"
    if outcome.expected_label != NONE and outcome.expected_arguments:
        matches = argument_matches(outcome.expected_arguments, outcome.predicted[0].arguments)
        if not all(matches.values()):
            return "arguments"
    return None


def run_cases(router: Router, cases: Sequence[Case], *, progress: bool = True,
              explain: bool = False) -> EvalRun:
    """Route every case; Ctrl-C stops early and returns what was routed (partial).
    ``explain``: record where each missed function was lost (`misses.py`; the embedded
    backend only, else InvalidRequest).

    When the first ABORT_AFTER cases all fail with backend errors (not bad model
    output) the error is raised: a report of an unreachable backend measures nothing."""
    if explain and not callable(getattr(router.backend, "if_called", None)):
        raise InvalidRequest(
            f"--explain needs the embedded router (--backend llamacpp); the "
            f"{getattr(router.backend, 'name', 'chosen')} backend does not show its call "
            "decision.")
    run = EvalRun(planned=len(cases), model=getattr(router.backend, "model", ""),
                  explained=explain)
    recorder = _Recorder(router.backend)
    router.backend = recorder  # type: ignore[assignment]
    backend_errors = 0
    try:
        with tqdm(total=len(cases), disable=not progress, unit="case", desc="routing") as bar:
            for case in cases:
                outcome, entry, failed = _route_one(router, recorder, case, explain=explain)
                run.outcomes.append(outcome)
                backend_errors += failed is not None
                if failed and backend_errors == len(run.outcomes) == min(ABORT_AFTER, len(cases)):
                    log.warning("the first %d cases all failed; stopping", backend_errors)
                    raise failed
                kind = _failure_kind(outcome)
                run.predictions.append({"kind": kind or "ok", **entry})
                if kind:
                    run.failure_count += 1
                    run.failures.append({"kind": kind, **entry})
                if recorder.last is not None and recorder.last.model:
                    run.model = recorder.last.model
                bar.update()
    except KeyboardInterrupt:
        run.partial = True
        log.warning("interrupted after %d of %d cases; reporting on those", len(run.outcomes),
                    len(cases))
    finally:
        router.backend = recorder.inner
    return run


def build_report(
    run: EvalRun, *, functions: Sequence[str], meta: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """report.json's content: metrics, metadata, partial flag and the first failures."""
    info = {
        "backend": None, "model": run.model, "data": None,
        "timestamp": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "git_commit": None, "planned": run.planned, **(meta or {}),
    }
    return {
        "meta": info,
        "partial": run.partial,
        **compute_metrics(run.outcomes, functions),
        "errors": run.failures[:MAX_FAILURES],
        "errors_total": run.failure_count,
        **({"misses": summarise_misses(run.predictions)} if run.explained else {}),
    }


def write_report(report: Mapping[str, Any], out_dir: str | Path,
                 failures: Sequence[Mapping[str, Any]] | None = None,
                 predictions: Sequence[Mapping[str, Any]] | None = None) -> dict[str, Path]:
    """Write report.json, report.md, confusion.png, failures.jsonl (every failed case,
    one a line; report.json keeps only the first few) and, given ``predictions``,
    predictions.jsonl (every case) into ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / "report.json", "md": out / "report.md", "png": out / "confusion.png",
             "failures": out / "failures.jsonl"}
    if predictions is not None:
        paths["predictions"] = out / "predictions.jsonl"
        paths["predictions"].write_text(
            "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in predictions), "utf-8")
    paths["json"].write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n", "utf-8")
    paths["md"].write_text(render_markdown(report), "utf-8")
    plot_confusion(report, paths["png"])
    rows = report.get("errors", []) if failures is None else failures
    paths["failures"].write_text(
        "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), "utf-8")
    return paths


def evaluate(
    router: Router, cases: Sequence[Case], out_dir: str | Path, *,
    meta: Mapping[str, Any] | None = None, progress: bool = True, explain: bool = False,
) -> dict[str, Any]:
    """Route ``cases``, write the three report files and return the report."""
    if not cases:
        raise InvalidRequest("No cases to evaluate (check --data, --lang and --limit).")
    run = run_cases(router, cases, progress=progress, explain=explain)
    report = build_report(run, functions=router.registry.names, meta=meta)
    write_report(report, out_dir, run.failures, run.predictions)
    return report


# --- rendering -------------------------------------------------------------------------


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _delta(a: Any, b: Any, digits: int = 3) -> str:
    if not isinstance(a, (int, float)) or not isinstance(b, (int, float)):
        return "–"
    return f"{b - a:+.{digits}f}"


def _cell(text: Any, width: int = 80) -> str:
    flat = " ".join(str(text).split()).replace("|", "\\|")
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return lines + [""]


def headline(report: Mapping[str, Any]) -> str:
    """One line of the numbers people quote, for terminals and logs."""
    lat = report["latency_ms"]
    return (
        f"{'PARTIAL ' if report.get('partial') else ''}n={report['n']}  "
        f"accuracy={_fmt(report['accuracy'])}  macro_f1={_fmt(report['macro_f1'])}  "
        f"false_call_rate={_fmt(report['false_call_rate'])}  "
        f"argument_match={_fmt(report['argument_match'])} (n={report['argument_match_n']})  "
        f"parse_failures={report['parse_failures']}  "
        f"p50={_fmt(lat['p50'], 1)}ms  p95={_fmt(lat['p95'], 1)}ms"
    )


def render_markdown(report: Mapping[str, Any]) -> str:
    """report.md: the headline first, then the tables a reader scans for problems."""
    meta, lat = report.get("meta", {}), report["latency_ms"]
    commit = (meta.get("git_commit") or "")[:10] or "unknown"
    out = [f"# Routing evaluation: {meta.get('data') or 'cases'}", "",
           f"backend **{meta.get('backend')}** · model **{meta.get('model')}** · "
           f"{meta.get('timestamp')} · commit {commit}", ""]
    knobs = [f"{label} {meta[key]}" for key, label in (("call_bias", "call bias"),
                                                        ("name_prior", "name prior"))
             if meta.get(key) is not None]
    if knobs:
        out += [" · ".join(knobs), ""]
    if report.get("partial"):
        out += [f"> **Partial run**: interrupted after {report['n']} of "
                f"{meta.get('planned', '?')} cases.", ""]
    out += _table(
        ["n", "accuracy", "macro F1", "weighted F1", "false-call rate", "argument match",
         "parse failures", "p50 ms", "p95 ms"],
        [[report["n"], _fmt(report["accuracy"]), _fmt(report["macro_f1"]),
          _fmt(report["weighted_f1"]), _fmt(report["false_call_rate"]),
          f"{_fmt(report['argument_match'])} (n={report['argument_match_n']})",
          report["parse_failures"], _fmt(lat["p50"], 1), _fmt(lat["p95"], 1)]],
    )
    out += ["## Per function", ""] + _table(
        ["function", "precision", "recall", "F1", "support", "predicted"],
        [[f"`{name}`", _fmt(s["precision"]), _fmt(s["recall"]), _fmt(s["f1"]), s["support"],
          s["predicted"]] for name, s in report["per_function"].items()],
    )
    if report["argument_per_key"]:
        out += ["## Arguments (correctly routed cases)", ""] + _table(
            ["argument", "n", "match rate"],
            [[f"`{k}`", v["n"], _fmt(v["match_rate"])]
             for k, v in report["argument_per_key"].items()],
        )
    cs = report["call_set"]
    if cs["n"]:
        out += ["## Multi-call cases", ""] + _table(
            ["n", "precision", "recall", "F1", "exact"],
            [[cs["n"]] + [_fmt(cs[k]) for k in ("precision", "recall", "f1", "exact")]],
        )
    out += ["## Per language", ""] + _table(
        ["lang", "n", "accuracy", "macro F1"],
        [[lang, v["n"], _fmt(v["accuracy"]), _fmt(v["macro_f1"])]
         for lang, v in report["per_lang"].items()],
    )
    out += ["## Sources", ""] + _table(["source", "count"], list(report["sources"].items()))
    out += ["## Latency (ms)", ""] + _table(
        ["n", "p50", "p95", "p99", "mean"],
        [[lat["n"]] + [_fmt(lat[k], 1) for k in ("p50", "p95", "p99", "mean")]],
    )
    if report["worst_confusions"]:
        out += ["## Worst confusions", ""] + _table(
            ["expected", "predicted", "count", "examples"],
            [[f"`{w['expected']}`", f"`{w['predicted']}`", w["count"],
              "<br>".join(_cell(t, 60) for t in w["examples"])]
             for w in report["worst_confusions"]],
        )
    if report.get("misses"):
        out += ["## Where missed functions were lost", "",
                "No call: the call margin stayed under the call bias; of those, how many the "
                "model would have named right had it called. Another function: lost at the "
                "name.", ""] + _table(
            ["expected", "missed", "no call", "no call, right name if called",
             "median margin (no call)", "another function"],
            [[f"`{name}`", m["missed"], m["no_call"], m["no_call_right_name"],
              _fmt(m["no_call_median_margin"], 2), m["other_function"]]
             for name, m in report["misses"].items()],
        )
    if report.get("errors"):
        out += [f"## Failures (first {len(report['errors'])} of {report.get('errors_total')})", ""]
        out += _table(
            ["line", "kind", "expected", "predicted", "source", "text", "raw"],
            [[e["line"], e["kind"], e["expected"] or NONE,
              _cell(", ".join(p["name"] for p in e["predicted"]) or NONE), e["source"],
              _cell(e["text"], 60), _cell(e["raw"] or e["error"], 60)] for e in report["errors"]],
        )
    return "\n".join(out)


def plot_confusion(report: Mapping[str, Any], path: str | Path) -> Path | None:
    """Confusion matrix PNG: counts written in each cell, colour = share of the row
    (so rare labels stay visible). Skipped with a warning when matplotlib is missing."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        log.warning("matplotlib is not installed, so no confusion.png; pip install -e '.[eval]'")
        return None
    labels, matrix = report["confusion"]["labels"], report["confusion"]["matrix"]
    shares = [[c / sum(row) if sum(row) else 0.0 for c in row] for row in matrix]
    side = max(5.0, 0.8 * len(labels) + 2.5)
    fig = Figure(figsize=(side + 1.5, side), dpi=120, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    image = ax.imshow(shares, cmap="Blues", vmin=0.0, vmax=1.0)
    ax.set_xticks(range(len(labels)), labels=labels, rotation=40, ha="right",
                  rotation_mode="anchor")
    supports = [f"{lab} ({sum(row)})" for lab, row in zip(labels, matrix, strict=True)]
    ax.set_yticks(range(len(labels)), labels=supports)
    ax.set_xlabel("predicted")
    ax.set_ylabel("expected (support)")
    ax.set_title(f"Routing confusion: n={report['n']}, accuracy {_fmt(report['accuracy'])}")
    for i, row in enumerate(matrix):
        for j, count in enumerate(row):
            ax.text(j, i, str(count), ha="center", va="center", fontsize=9,
                    color="white" if shares[i][j] > 0.55 else "black", alpha=1.0 if count else 0.3)
    fig.colorbar(image, ax=ax, shrink=0.8, label="share of the expected row")
    fig.savefig(path)
    return Path(path)


def _check_report(name: str, report: Any) -> Mapping[str, Any]:
    """The parts compare_reports reads must have report.json's shape; anything else is
    named in one InvalidRequest instead of failing half-way through the table."""
    if not isinstance(report, Mapping):
        raise InvalidRequest(f"{name} is not a report.json: expected a JSON object, "
                             f"got {type(report).__name__}")
    for key in ("meta", "latency_ms", "per_function"):
        if key in report and not isinstance(report[key], Mapping):
            raise InvalidRequest(f"{name} is not a report.json: {key!r} must be an object, "
                                 f"got {json.dumps(report[key])[:60]}")
    if not all(isinstance(v, Mapping) for v in report.get("per_function", {}).values()):
        raise InvalidRequest(f"{name} is not a report.json: 'per_function' must map "
                             "function names to objects")
    return report


def _load_report(report: str | Path | Mapping[str, Any]) -> tuple[str, Mapping[str, Any]]:
    if isinstance(report, Mapping):
        meta = _check_report("report", report).get("meta", {})
        return f"{meta.get('backend')} · {meta.get('model')}", report
    try:
        loaded = json.loads(Path(report).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InvalidRequest(f"Cannot read report {report}: {exc}") from None
    return str(report), _check_report(str(report), loaded)


def compare_reports(
    a: str | Path | Mapping[str, Any], b: str | Path | Mapping[str, Any]
) -> str:
    """Markdown side-by-side of two report.json files (paths or loaded dicts), B − A."""
    (name_a, ra), (name_b, rb) = _load_report(a), _load_report(b)
    out = ["# Routing evaluation: A vs B", ""]
    for tag, name, r in (("A", name_a, ra), ("B", name_b, rb)):
        meta = r.get("meta", {})
        partial = " · **partial**" if r.get("partial") else ""
        out.append(f"- **{tag}**: {name} ({meta.get('backend')} · {meta.get('model')} · "
                   f"{meta.get('timestamp')} · n={r.get('n')}{partial})")
    rows = []
    for label, key, digits in (
        ("accuracy", ("accuracy",), 3), ("macro F1", ("macro_f1",), 3),
        ("false-call rate (lower is better)", ("false_call_rate",), 3),
        ("argument match", ("argument_match",), 3),
        ("latency p50 ms (lower is better)", ("latency_ms", "p50"), 1),
        ("latency p95 ms (lower is better)", ("latency_ms", "p95"), 1),
    ):
        va, vb = ra.get(key[0]), rb.get(key[0])
        if len(key) > 1:
            va, vb = (va or {}).get(key[1]), (vb or {}).get(key[1])
        rows.append([label, _fmt(va, digits), _fmt(vb, digits), _delta(va, vb, digits)])
    out += [""] + _table(["metric", "A", "B", "Δ (B − A)"], rows)
    pa, pb = ra.get("per_function", {}), rb.get("per_function", {})
    names = list(pa) + [n for n in pb if n not in pa]
    f1 = [[f"`{n}`", _fmt(pa.get(n, {}).get("f1")), _fmt(pb.get(n, {}).get("f1")),
           _delta(pa.get(n, {}).get("f1"), pb.get(n, {}).get("f1"))] for n in names]
    out += ["## Per-function F1", ""] + _table(["function", "A", "B", "Δ (B − A)"], f1)
    return "\n".join(out)
