"""Rendering evaluation reports: report.md, the confusion PNG, the headline line and the
Markdown comparison of two report.json files (``funcgemma eval --compare``)."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from funcgemma.errors import InvalidRequest

from .metrics import NONE

log = logging.getLogger(__name__)


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
    if report.get("per_kind"):
        out += ["## Conversation turns, per kind", ""] + _table(
            ["kind", "n", "accuracy", "arguments right", "reminders unasked"],
            [[kind, v["n"], _fmt(v["accuracy"]), _fmt(v["arguments_right"]),
              v["reminders_unasked"]] for kind, v in report["per_kind"].items()],
        )
    asks = report.get("asks")
    if asks:
        out += ["## Questions back (asks)", ""] + _table(
            ["n", "expected", "asked", "precision", "recall", "F1", "right field"],
            [[asks["n"], asks["expected"], asks["asked"]]
             + [_fmt(asks[k]) for k in ("precision", "recall", "f1", "field_right")]],
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
