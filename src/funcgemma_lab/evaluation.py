"""Route labelled cases through a Router and write report.json, report.md and confusion.png
(rendered by funcgemma_lab.reporting).

The numbers come from ``funcgemma_lab.metrics`` (definitions there). A FuncgemmaError
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

from funcgemma.errors import FuncgemmaError, InvalidRequest, ModelOutputError
from funcgemma.types import Call, Completion, Message

from .metrics import NONE, CaseOutcome, argument_matches, compute_metrics
from .misses import summarise as summarise_misses
from .reporting import plot_confusion, render_markdown

if TYPE_CHECKING:
    from funcgemma.router import Router

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
    # a conversation's turn (data/multiturn): the turns before it, routed with it, and
    # what kind of turn it is (follow_up, fragment, ...: per_kind in the report)
    history: tuple[Message, ...] = ()
    kind: str | None = None
    # the field a question back should ask for (data/multiturn's "expected_ask"); ask
    # precision and recall are scored over the cases whose file labels asks at all
    expected_ask: str | None = None
    asks_labelled: bool = False


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
    history = tuple(_history_item(item) for item in _field(obj, "history", list, []))
    kind = _field(obj, "kind", (str, type(None)), None)
    ask = _field(obj, "expected_ask", (dict, type(None)), None)
    if ask is not None and not isinstance(ask.get("field"), str):
        raise ValueError("'expected_ask' must be {\"field\": NAME} or null")
    return Case(text, function or None, arguments, lang, calls, line, history, kind,
                ask["field"] if ask else None, "expected_ask" in obj)


def _history_item(item: Any) -> Message:
    """A history item of data/multiturn: a user or assistant message, or an assistant's
    call (``{"role": "assistant", "call": {"name", "arguments"}}``)."""
    if not isinstance(item, dict) or item.get("role") not in ("user", "assistant"):
        raise ValueError("a 'history' item must be {\"role\": \"user\"|\"assistant\", ...}")
    if "call" in item:
        call = item["call"]
        if not isinstance(call, dict):
            raise ValueError("a history 'call' must be {\"name\", \"arguments\"}")
        return Message(role="assistant", tool_calls=[Call(
            name=_field(call, "name", str, None), arguments=_field(call, "arguments", dict, {}))])
    return Message(role=item["role"], content=_field(item, "content", str, None))


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
    ask: str | None = None
    recorder.last = None  # a message the router answers without the model has no raw text
    try:
        result = router.route(case.text, history=case.history)
    except ModelOutputError as exc:
        latency = (time.perf_counter() - start) * 1000
        parse_failure, source, error, raw = True, "error", exc.message, exc.raw
    except FuncgemmaError as exc:
        source, error, raw, failed = "error", f"{exc.code}: {exc.message}", recorder.raw(), exc
    else:
        # asked instead of calling: routed to the call the question waits on
        calls, source, latency, raw = result.kept, result.source, result.latency_ms, recorder.raw()
        ask = result.ask.field if result.outcome == "ask" and result.ask else None
    outcome = CaseOutcome(
        expected_function=case.expected_function, expected_arguments=case.expected_arguments,
        lang=case.lang, predicted=calls, source=source, latency_ms=latency,
        parse_failure=parse_failure, text=case.text, expected_calls=case.expected_calls,
        kind=case.kind, expected_ask=case.expected_ask, asked=ask,
        asks_labelled=case.asks_labelled,
    )
    entry = {
        "line": case.line, "text": case.text, "lang": case.lang,
        "expected": case.expected_function, "expected_arguments": case.expected_arguments,
        "predicted": [c.model_dump() for c in calls], "source": source, "raw": raw,
        "error": error, "latency_ms": latency,
        **({"expected_ask": case.expected_ask, "ask": ask} if case.asks_labelled else {}),
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
