"""funcgemma_lab.bench (tools/bench.py): argument and data checks, which run before any
server or model starts."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def bench(monkeypatch: pytest.MonkeyPatch):
    from funcgemma_lab import bench as module

    def never(*args: object, **kwargs: object) -> None:
        raise AssertionError("the benchmark started before its arguments were checked")

    monkeypatch.setattr(module, "host_speed", never)
    monkeypatch.setattr(module, "start_server", never)
    return module


@pytest.mark.parametrize(("flag", "value"), [
    ("--duration", "0"), ("--duration", "-5"), ("--requests", "0"), ("--clients", "0"),
    ("--startup-timeout", "0"), ("--requests", "many"),
])
def test_bench_rejects_a_value_that_is_not_positive(bench, capsys: pytest.CaptureFixture[str],
                                                    flag: str, value: str) -> None:
    with pytest.raises(SystemExit) as info:
        bench.main([flag, value])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {flag}: " in err and "Traceback" not in err


@pytest.mark.parametrize(("content", "message"), [
    (None, "No such file or directory"),
    ("", "holds no texts"),
    ('{"text": "hi"}\n{oops\n', "cases.jsonl:2: not JSON"),
    ('{"text": "hi"}\n["hi"]\n', 'cases.jsonl:2: expected an object with a "text" string'),
    ('{"text": 5}\n', 'cases.jsonl:1: expected an object with a "text" string'),
])
def test_bench_bad_data_is_one_line_exit_2(bench, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str],
                                           content: str | None, message: str) -> None:
    data = tmp_path / "cases.jsonl"
    if content is not None:
        data.write_text(content, "utf-8")
    assert bench.main(["--data", str(data), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("bench: ") and message in err and err.count("\n") == 1


def test_bench_unwritable_out_exits_2_before_benchmarking(
        bench, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "cases.jsonl"
    data.write_text('{"text": "hi"}\n', "utf-8")
    (tmp_path / "file").write_text("", "utf-8")
    assert bench.main(["--data", str(data), "--out", str(tmp_path / "file")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"bench: cannot write the results to --out {tmp_path / 'file'}: ")


def test_bench_invalid_setting_exits_2(bench, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("FUNCGEMMA_OLLAMA_HOST", "http://[::1")
    assert bench.main(["--out", str(tmp_path / "out")]) == 2
    assert capsys.readouterr().err.startswith("bench: invalid setting: FUNCGEMMA_OLLAMA_HOST")


def test_bench_default_data_is_the_repositorys_wherever_it_runs(
        bench, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert bench._parser().parse_args([]).data == ROOT / "data" / "test.jsonl"


def test_bench_texts_cycle_to_the_number_asked(bench, tmp_path: Path) -> None:
    data = tmp_path / "cases.jsonl"
    data.write_text('{"text": "a"}\n\n{"text": "b", "lang": "en"}\n', "utf-8")
    assert bench.texts(data, 5) == ["a", "b", "a", "b", "a"]


def test_bench_takes_a_list_of_client_counts(bench) -> None:
    args = bench._parser().parse_args(["--clients", "1, 4,8,32"])
    assert args.clients == [1, 4, 8, 32]
    assert bench._parser().parse_args([]).clients == [32]
    for bad in ("1,0", "4,,8", "2048"):
        with pytest.raises(SystemExit):
            bench._parser().parse_args(["--clients", bad])


def test_bench_markdown_has_a_row_per_client_count(bench) -> None:
    run = {"clients": 4, "duration_s": 10.0, "sent": 9, "answered": 9, "errors": 1, "lost": 0,
           "status_codes": {"200": 8, "503": 1}, "throughput_rps": 0.9,
           "latency_ms": {"p50": 800.0, "p95": 1400.0, "p99": 1500.0, "mean": 850.0},
           "rss_start_mb": 700.0, "rss_end_mb": 701.0, "rss_drift_mb": 1.0}
    one = {**run, "clients": 1, "errors": 0, "status_codes": {"200": 9}, "throughput_rps": 3.1}
    summary = {"p50": 300.0, "p95": 500.0, "p99": 600.0, "mean": 320.0}
    res = {"backend": "llamacpp", "model": "m", "machine": "x", "requests": 2, "timestamp": "t",
           "cold": {"startup_s": 1.0, "first_route_ms": 2.0}, "warm_ms": summary,
           "router_ms": summary, "overhead_ms": summary, "warm_with_history_ms": {
               **summary, "p50": 330.0}, "memory": {"peak_rss_mb": 700.0},
           "concurrency": run, "concurrency_sweep": [one, run],
           "host": {"before": None, "after": None}}
    text = bench.markdown(res)
    assert "| 1 | 3.1 | 800.0 / 1400.0 | 0 (200: 9) |" in text
    assert "| 4 | 0.9 | 800.0 / 1400.0 | 1 (200: 8, 503: 1) |" in text
    assert "330.0 / 500.0 ms (+10% at p50)" in text
