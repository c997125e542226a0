"""tools/generate_test_data.py: bad arguments and data are one line and exit 2, checked
before anything is generated; offline generation writes what it was asked for."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from funcgemma_lab import datagen

ROOT = Path(__file__).resolve().parents[1]


def generate(argv: list[str]) -> int:
    from funcgemma_lab.generate import main  # what tools/generate_test_data.py runs

    return int(main(argv))


def offline(out: Path, *extra: str) -> list[str]:
    return ["--offline", "--out", str(out), "--against", "", "--per-class", "2", *extra]


@pytest.mark.parametrize(("extra", "message"), [
    (["--functions", "nope"], "--functions: 'nope' given; choose from celebrity_info, "),
    (["--functions", "weather_info,nope,none"], "--functions: 'nope' given"),
    (["--langs", "fr"], "--langs: 'fr' given; choose from en, ja"),
    (["--langs", ","], "--langs: nothing given"),
])
def test_datagen_tool_rejects_unknown_functions_and_languages(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str],
        message: str) -> None:
    out = tmp_path / "gen.jsonl"
    assert generate(offline(out, *extra)) == 2
    err = capsys.readouterr().err
    assert err.startswith("generate: ") and message in err and err.count("\n") == 1
    assert not out.exists()


def test_datagen_tool_malformed_against_file_names_file_and_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "raw" / "bad.jsonl"
    bad.parent.mkdir()
    bad.write_text('{"text": "hi", "expected_function": null}\n["x"]\n', "utf-8")
    out = tmp_path / "gen.jsonl"
    argv = ["--offline", "--out", str(out), "--against", str(tmp_path / "raw" / "*.jsonl")]
    assert generate(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"generate: {bad}:2: expected a JSON object, got list")
    assert err.count("\n") == 1 and not out.exists()


def test_datagen_tool_unwritable_out_exits_2(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "file").write_text("", "utf-8")
    out = tmp_path / "file" / "gen.jsonl"
    assert generate(offline(out)) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"generate: cannot write --out {out}: ") and err.count("\n") == 1


def test_datagen_tool_offline_writes_the_quota_and_skips_what_has_no_templates(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(datagen.TEMPLATES, "weather_info",
                        {"en": datagen.TEMPLATES["weather_info"]["en"]})
    out = tmp_path / "gen.jsonl"
    assert generate(offline(out, "--functions", "weather_info", "--langs", "en,ja")) == 0
    rows = [json.loads(line) for line in out.read_text("utf-8").splitlines()]
    assert len(rows) == 2
    assert {(r["expected_function"], r["lang"]) for r in rows} == {("weather_info", "en")}
