"""tools/v1_parity.py: the same cases through /route and /v1/chat/completions of a real
`funcgemma serve` on the embedded backend (issue 33's "routing figures unchanged")."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from funcgemma_lab.parity import main


@pytest.mark.llamacpp
@pytest.mark.slow
def test_v1_parity_runs_a_real_server_and_finds_the_same_calls(tmp_path: Path) -> None:
    data = tmp_path / "cases.jsonl"
    rows = [{"text": "What's the weather in Kyoto tomorrow?", "expected_function": "weather_info"},
            {"text": "thanks, that's all", "expected_function": None},
            {"text": "remind me to call mom at 6pm", "expected_function": "schedule_reminder"}]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert main(["--data", str(data), "--out", str(tmp_path / "out")]) == 0
    report = json.loads((tmp_path / "out" / "parity.json").read_text())
    assert report["n"] == 3 and report["differ"] == 0, report["rows_that_differ"]
    assert report["route"] == report["v1"] and report["route"]["false_calls"] == 0.0
    assert "rows whose calls differ: 0" in (tmp_path / "out" / "parity.md").read_text()
