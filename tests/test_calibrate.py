"""The call/no-call threshold: sweep and choice, checked against numbers derived by hand,
and the adapter's calibrated bias found through its `.json` sidecar."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from funcgemma import weights
from funcgemma.registry import default_registry
from funcgemma.settings import Settings
from funcgemma_lab.datasets import Case, about_function, read_cases
from funcgemma_lab.training.calibrate import (
    Decision,
    calibration_cases,
    choose_bias,
    evaluate_bias,
)

# Four cases. A call is kept when its margin beats the bias.
DECISIONS = [
    Decision("weather_info", "weather_info", 3.0),  # right function, confident
    Decision("weather_info", "weather_info", 0.5),  # right function, unsure
    Decision("none", "travel_guide", 1.0),  # a false call unless bias >= 1.0
    Decision("none", "weather_info", -2.0),  # the model itself said no call
]


# Three right calls (one confident), one confident false call and two the model declined:
# bias 0 keeps a false call, bias 2 drops it with two right calls.
NEAR_TIE = [Decision("weather_info", "weather_info", 3.0),
            Decision("weather_info", "weather_info", 1.0),
            Decision("weather_info", "weather_info", 1.0),
            Decision("none", "weather_info", 1.5),
            Decision("none", "weather_info", -1.0),
            Decision("none", "weather_info", -1.0)]


def test_evaluate_bias_zero_by_hand() -> None:
    # bias 0: predictions weather, weather, travel, none.
    # weather_info: tp 2, fp 0, fn 0 -> F1 1. none: tp 1, fp 0, fn 1 -> P 1, R 0.5, F1 2/3.
    # travel_guide: tp 0, fp 1 -> F1 0. macro over 3 labels = (1 + 2/3 + 0) / 3 = 5/9.
    out = evaluate_bias(DECISIONS, 0.0)
    assert out["macro_f1"] == pytest.approx(5 / 9)
    assert out["false_call_rate"] == pytest.approx(0.5)  # 1 of 2 no-function cases called


def test_evaluate_bias_one_by_hand() -> None:
    # bias 1.0 (strict >): predictions weather, none, none, none.
    # weather_info: tp 1, fn 1 -> P 1, R 1/2, F1 2/3. none: tp 2, fp 1 -> P 2/3, R 1, F1 4/5.
    # macro over 2 labels = (2/3 + 4/5) / 2 = 11/15.
    out = evaluate_bias(DECISIONS, 1.0)
    assert out["macro_f1"] == pytest.approx(11 / 15)
    assert out["false_call_rate"] == 0.0


def test_choose_bias_takes_the_best_macro_f1() -> None:
    grid = [-3.0, 0.0, 0.5, 1.0, 3.0]
    # -3: predictions weather, weather, travel, weather: weather P 2/3 R 1 F1 4/5, travel 0,
    # none 0 -> macro 4/15. 0 and 0.5: 5/9 (0.5 also drops the unsure call: weather F1 2/3,
    # none P 1/2 R 1/2 F1 1/2, travel 0 -> 7/18). 1.0: 11/15 (above). 3.0: no call at all:
    # weather F1 0, none P 2/4 R 1 F1 2/3 -> macro 1/3. So 1.0 wins.
    best = choose_bias(DECISIONS, grid=grid)
    assert best["bias"] == 1.0 and best["macro_f1"] == pytest.approx(11 / 15)
    assert best["at_zero"]["false_call_rate"] == pytest.approx(0.5)
    assert [s["bias"] for s in best["sweep"]] == grid
    assert [s["macro_f1"] for s in best["sweep"]] == pytest.approx(
        [4 / 15, 5 / 9, 7 / 18, 11 / 15, 1 / 3])


def test_choose_bias_near_ties_go_to_fewer_false_calls() -> None:
    # bias 0 has one false call; bias 2 has none but loses two right calls. Within a
    # tolerance that covers the gap, fewer false calls win.
    cases = NEAR_TIE
    # bias 0: weather P 3/4 R 1 F1 6/7, none P 1 R 2/3 F1 4/5. bias 2: weather P 1 R 1/3
    # F1 1/2, none P 3/5 R 1 F1 3/4.
    at0, at2 = evaluate_bias(cases, 0.0), evaluate_bias(cases, 2.0)
    assert at0["macro_f1"] == pytest.approx((6 / 7 + 4 / 5) / 2)
    assert at2["macro_f1"] == pytest.approx((1 / 2 + 3 / 4) / 2)
    assert at2["false_call_rate"] == 0.0 and at0["false_call_rate"] == pytest.approx(1 / 3)
    gap = at0["macro_f1"] - at2["macro_f1"]
    assert choose_bias(cases, grid=[0.0, 2.0], tolerance=gap + 1e-9)["bias"] == 2.0
    assert choose_bias(cases, grid=[0.0, 2.0], tolerance=gap / 2)["bias"] == 0.0


def test_choose_bias_with_a_cap_takes_the_best_macro_f1_under_it() -> None:
    grid = [-3.0, 0.0, 0.5, 1.0, 3.0]
    # false calls (of the 2 no-function cases): -3: 2/2 (travel and weather); 0, 0.5: 1/2;
    # 1.0, 3.0: 0. Cap 0.5: -3 is out; the best macro-F1 left is 1.0 (11/15).
    capped = choose_bias(DECISIONS, grid=grid, max_false_calls=0.5)
    assert capped["bias"] == 1.0 and capped["cap_met"] is True
    # Cap 0: only 1.0 and 3.0 compete; 1.0 has the better macro-F1.
    assert choose_bias(DECISIONS, grid=grid, max_false_calls=0.0)["bias"] == 1.0
    # A cap only the uncalibrated biases meet wins over the near-best rule's choice: with
    # the near-tie cases of the test below, tolerance alone takes bias 2 (no false call),
    # but a cap of 1/3 lets bias 0 (better macro-F1) compete, and it wins.
    cases = NEAR_TIE
    assert choose_bias(cases, grid=[0.0, 2.0], tolerance=1.0)["bias"] == 2.0
    assert choose_bias(cases, grid=[0.0, 2.0], tolerance=1.0,
                       max_false_calls=1 / 3)["bias"] == 0.0


def test_choose_bias_cap_nobody_meets_falls_back_to_fewest_false_calls() -> None:
    decisions = [Decision("weather_info", "weather_info", 3.0),
                 Decision("none", "weather_info", 5.0)]
    out = choose_bias(decisions, grid=[0.0, 1.0, 2.0], max_false_calls=0.0)
    # every bias below 5 calls the no-function case: none meets the cap
    assert out["cap_met"] is False and out["false_call_rate"] == 1.0 and out["bias"] == 0.0


def test_calibration_leaves_out_the_held_out_function() -> None:
    cases = [Case(text="weather in Oslo?", expected_function="weather_info",
                  expected_arguments={"location": "Oslo"}),
             Case(text="who is Ada Lovelace?", expected_function="celebrity_info",
                  expected_arguments={"name": "Ada Lovelace"}),
             Case(text="hello there", expected_function=None, expected_arguments={}),
             Case(text="what causes thunder?", expected_function=None,
                  extra={"near": "weather_info"}),
             Case(text="who plays Ada in the film?", expected_function=None,
                  extra={"near": "celebrity_info"})]
    assert calibration_cases(cases, None) == cases
    kept = calibration_cases(cases, "weather_info")
    # the held-out function's calls and the hard negatives written for it both go
    assert [c.text for c in kept] == ["who is Ada Lovelace?", "hello there",
                                      "who plays Ada in the film?"]
    # --keep-near-negatives: only the function's own calls go
    kept = calibration_cases(cases, "weather_info", negatives=False)
    assert [c.text for c in kept] == [c.text for c in cases[1:]]


def test_router_call_bias_from_sidecar_and_override(tmp_path: Path) -> None:
    lora = tmp_path / "adapter.gguf"
    lora.write_bytes(b"GGUF")
    assert weights.router_call_bias(Settings(), lora) == 0.0  # no sidecar
    lora.with_suffix(".json").write_text(json.dumps({"call_bias": 1.75}))
    assert weights.router_call_bias(Settings(), lora) == 1.75
    assert weights.router_call_bias(Settings(router_call_bias=-0.5), lora) == -0.5
    lora.with_suffix(".json").write_text("{not json")
    assert weights.router_call_bias(Settings(), lora) == 0.0
    assert weights.router_call_bias(Settings(), None) == 0.0


def test_router_name_prior_from_sidecar_override_and_range(tmp_path: Path) -> None:
    lora = tmp_path / "adapter.gguf"
    lora.write_bytes(b"GGUF")
    assert weights.router_name_prior(Settings(), lora) == 0.0  # no sidecar: off
    lora.with_suffix(".json").write_text(json.dumps({"call_bias": 1.0, "name_prior": 0.5}))
    assert weights.router_name_prior(Settings(), lora) == 0.5
    assert weights.router_name_prior(Settings(router_name_prior=0.0), lora) == 0.0
    with pytest.raises(ValidationError, match="less than or equal to 2"):
        Settings(router_name_prior=5)
    # the shipped adapter carries the value chosen on dev (README, Fine-tuning)
    shipped = weights.DEFAULT_ADAPTER
    assert weights.router_name_prior(Settings(), shipped) == json.loads(
        shipped.with_suffix(".json").read_text())["name_prior"] == 0.5


def test_every_served_function_has_hard_negatives_that_a_holdout_run_drops() -> None:
    """`finetune.py --holdout-function` relies on the `near` field of no-function rows."""
    train = read_cases(Path(__file__).parents[1] / "data" / "train.jsonl")
    for name in default_registry().names:
        near = [c for c in train if c.expected_function is None and about_function(c, name)]
        assert len(near) >= 100, (name, len(near))
        assert all(c.extra["near"] == name for c in near)


@pytest.mark.parametrize(("flag", "value", "message"), [
    ("--name-prior", "3", "--name-prior must be between 0 and 2"),
    ("--none-weight", "0", "--none-weight must be positive"),
    ("--extra-weight", "0", "--extra-weight must be positive"),
    ("--extra-weight", "4", "give that flag too"),
    ("--max-false-calls", "2.5", "--max-false-calls is a rate between 0 and 1"),
    ("--max-false-calls", "-0.1", "--max-false-calls is a rate between 0 and 1"),
])
@pytest.mark.slow
def test_finetune_rejects_a_setting_out_of_range(flag: str, value: str, message: str) -> None:
    import subprocess
    import sys

    root = Path(__file__).parents[1]
    done = subprocess.run([sys.executable, str(root / "tools" / "finetune.py"),
                           flag, value, "--calibrate-only", "missing.gguf"],
                          capture_output=True, text=True, cwd=root, timeout=120)
    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr


def run_finetune(cwd: Path, *argv: str) -> tuple[int, str, bool]:
    """tools/finetune.py in a fresh interpreter: (exit code, stderr, whether torch was
    imported), so a check is seen to come before the training stack loads."""
    import subprocess
    import sys

    probe = ("import runpy, sys\n"
             "sys.argv = sys.argv[1:]\n"
             "try:\n"
             "    runpy.run_path(sys.argv[0], run_name='__main__')\n"
             "finally:\n"
             "    print('torch' in sys.modules)\n")
    tool = Path(__file__).parents[1] / "tools" / "finetune.py"
    done = subprocess.run([sys.executable, "-c", probe, str(tool), *argv], capture_output=True,
                          text=True, cwd=cwd, timeout=120)
    return done.returncode, done.stderr, done.stdout.strip().splitlines()[-1] == "True"


@pytest.mark.parametrize(("flag", "value"), [
    ("--batch", "0"), ("--eval-every", "0"), ("--epochs", "0"), ("--epochs", "-1"),
    ("--accum", "0"), ("--lr", "-0.1"),
])
@pytest.mark.slow
def test_finetune_rejects_a_count_that_is_not_positive(tmp_path: Path, flag: str,
                                                       value: str) -> None:
    code, err, torch = run_finetune(tmp_path, flag, value)
    assert code == 2 and f"argument {flag}: must be positive, not {value}" in err
    assert "Traceback" not in err and not torch


@pytest.mark.parametrize(("argv", "message"), [
    (["--train", "missing.jsonl", "--dev", "ok.jsonl"], "--train missing.jsonl: no such file"),
    (["--train", "ok.jsonl", "--dev", "missing.jsonl"], "--dev missing.jsonl: no such file"),
    (["--merge-only", "missing.gguf", "--merged", "m.gguf"],
     "--merge-only missing.gguf: no such file"),
    (["--merge-only", "ok.jsonl"], "--merge-only needs --merged PATH"),
    (["--calibrate-only", "missing.gguf", "--dev", "ok.jsonl"],
     "--calibrate-only missing.gguf: no such file"),
    (["--train", "ok.jsonl", "--dev", "ok.jsonl", "--extra-functions", "nowhere"],
     "--extra-functions nowhere: no such folder"),
    (["--train", "ok.jsonl", "--dev", "ok.jsonl", "--holdout-function", "nope"],
     "no function 'nope' to hold out"),
    (["--train", "bad.jsonl", "--dev", "ok.jsonl"], "bad.jsonl:2: expected a JSON object"),
    (["--train", "ok.jsonl", "--dev", "bad.jsonl"], "bad.jsonl:2: expected a JSON object"),
])
@pytest.mark.slow
def test_finetune_bad_input_exits_2_before_the_training_stack_loads(
        tmp_path: Path, argv: list[str], message: str) -> None:
    (tmp_path / "ok.jsonl").write_text('{"text": "hi", "expected_function": null}\n', "utf-8")
    (tmp_path / "bad.jsonl").write_text('{"text": "hi", "expected_function": null}\n["x"]\n',
                                        "utf-8")
    code, err, torch = run_finetune(tmp_path, *argv)
    assert code == 2 and err.startswith(f"finetune: {message}")
    assert err.count("\n") == 1 and "Traceback" not in err and not torch
