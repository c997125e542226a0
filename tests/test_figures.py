"""tools/figures.py: the current figures are rewritten between markers, nothing else."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("figures_tool", ROOT / "tools" / "figures.py")
assert _spec and _spec.loader
figures = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(figures)


def _report(**over: Any) -> dict[str, Any]:
    """A report.json as tools/evaluate.py writes it, cut to what figures reads."""
    report: dict[str, Any] = {
        "meta": {"backend": "llamacpp", "model": "base+lora", "data": "data/test.jsonl",
                 "timestamp": "2026-12-05T14:05:36+00:00", "git_commit": "6451f69d0f98",
                 "call_bias": -0.75, "name_prior": 0.5},
        "n": 423, "accuracy": 0.95271, "macro_f1": 0.95908, "false_call_rate": 0.02830,
        "argument_match": 0.94666, "argument_match_n": 300,
        "per_function": {"weather_info": {"support": 47}, "none": {"support": 106}},
        "per_lang": {"en": {"macro_f1": 0.96093}, "ja": {"macro_f1": 0.95665}},
        "latency_ms": {"p50": 150.545, "p95": 252.837},
    }
    report.update(over)
    return report


BENCH = {
    "backend": "llamacpp", "model": "base+lora", "machine": "x86_64, 2 cores, Linux",
    "timestamp": "2026-12-05 14:08:02", "requests": 100,
    "cold": {"startup_s": 1.79, "first_route_ms": 1632.3},
    "warm_ms": {"p50": 174.92, "p95": 269.2, "p99": 306.12},
    "router_ms": {"p50": 172.69, "p95": 266.97},
    "overhead_ms": {"p50": 2.25, "p95": 2.99},
    "memory": {"peak_rss_mb": 705.4},
    "concurrency": {"clients": 32, "duration_s": 30.0, "answered": 175, "errors": 0, "lost": 0},
    "host": {"before": {"prefill_tok_s": 688.2}, "after": {"prefill_tok_s": 755.2}},
}

PAGE = """# Benchmarks

Text before, kept as it is.

<!-- figures:start -->
stale figures typed by hand
<!-- figures:end -->

Text after, also kept.
"""


def _write(path: Path, data: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data) if not isinstance(data, str) else data, encoding="utf-8")
    return path


def test_figures_rewrites_the_block_from_a_report_and_a_bench(tmp_path: Path) -> None:
    _write(tmp_path / "runs" / "test" / "report.json", _report())
    bench = _write(tmp_path / "bench.json", BENCH)
    page = _write(tmp_path / "benchmarks.md", PAGE)

    code = figures.main(["--report", str(tmp_path / "runs" / "test"), "--bench", str(bench),
                         "--target", str(page)])

    assert code == 0
    text = page.read_text(encoding="utf-8")
    assert "stale figures" not in text
    row = next(line for line in text.splitlines() if line.startswith("| `data/test.jsonl`"))
    assert row.split(" | ")[1:8] == ["423", "0.953", "0.959", "2.8%", "0.947",
                                     "0.961 / 0.957", "151 / 253"]
    assert "2026-12-05 `6451f69`" in row
    assert "call bias -0.75, name prior 0.5" in text
    assert "| warm /route p50 / p95 / p99 | 175 / 269 / 306 ms |" in text
    assert "| 32 clients x 30 s | 175 answered, 0 errors, 0 lost |" in text


def test_figures_leaves_text_outside_the_markers_intact(tmp_path: Path) -> None:
    report = _write(tmp_path / "report.json", _report())
    page = _write(tmp_path / "page.md", PAGE)

    assert figures.main(["--report", str(report), "--target", str(page)]) == 0

    text = page.read_text(encoding="utf-8")
    head, rest = text.split("<!-- figures:start -->\n", 1)
    _, tail = rest.split("<!-- figures:end -->", 1)
    assert head == PAGE.split("<!-- figures:start -->\n")[0]
    assert tail == PAGE.split("<!-- figures:end -->")[1]
    # running it again changes nothing
    assert figures.main(["--report", str(report), "--target", str(page)]) == 0
    assert page.read_text(encoding="utf-8") == text


def test_figures_shows_no_f1_for_a_set_of_no_function_messages(tmp_path: Path) -> None:
    report = _write(tmp_path / "report.json", _report(
        per_function={"weather_info": {"support": 0}, "none": {"support": 174}},
        argument_match=None, argument_match_n=0, false_call_rate=0.02299))
    page = _write(tmp_path / "page.md", PAGE)

    assert figures.main(["--report", str(report), "--target", str(page)]) == 0

    row = next(line for line in page.read_text(encoding="utf-8").splitlines()
               if line.startswith("| `data/test.jsonl`"))
    assert row.split(" | ")[2:7] == ["0.953", "–", "2.3%", "–", "–"]


@pytest.mark.parametrize("page", [
    "# no markers at all\n",
    "<!-- figures:start -->\nonly the start\n",
    "<!-- figures:end -->\nend before start\n<!-- figures:start -->\n",
    "<!-- figures:start -->\n<!-- figures:end -->\n<!-- figures:start -->\n<!-- figures:end -->\n",
])
def test_figures_fails_with_exit_2_when_the_markers_are_missing(
        tmp_path: Path, page: str, capsys: pytest.CaptureFixture[str]) -> None:
    report = _write(tmp_path / "report.json", _report())
    good = _write(tmp_path / "good.md", PAGE)
    bad = _write(tmp_path / "bad.md", page)

    code = figures.main(["--report", str(report), "--target", str(good), "--target", str(bad)])

    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith(f"figures: {bad}: needs one line <!-- figures:start -->")
    # no file is written when any target lacks its markers
    assert good.read_text(encoding="utf-8") == PAGE
    assert bad.read_text(encoding="utf-8") == page


@pytest.mark.parametrize(("content", "message"), [
    (None, "no such file"),
    ("{not json", "cannot read it as JSON"),
    ('{"n": 3}', "not an evaluation report.json"),
])
def test_figures_fails_with_exit_2_on_a_report_it_cannot_read(
        tmp_path: Path, content: str | None, message: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    report = tmp_path / "report.json"
    if content is not None:
        _write(report, content)
    page = _write(tmp_path / "page.md", PAGE)

    assert figures.main(["--report", str(report), "--target", str(page)]) == 2

    assert message in capsys.readouterr().err
    assert page.read_text(encoding="utf-8") == PAGE


def test_figures_fails_with_exit_2_when_given_nothing(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    page = _write(tmp_path / "page.md", PAGE)

    assert figures.main(["--target", str(page)]) == 2

    assert "nothing to write" in capsys.readouterr().err


def test_figures_the_shipped_pages_hold_the_markers() -> None:
    for path in figures.DEFAULT_TARGETS:
        text = path.read_text(encoding="utf-8")
        assert figures.replace_block(text, "x", where=str(path)).count("\nx\n") == 1
