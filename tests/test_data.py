"""The labelled data: well-formed, reproducible from data/raw, and free of leaks."""

from __future__ import annotations

from pathlib import Path

import pytest

from funcgemma.registry import default_registry
from funcgemma_lab.datasets import (
    SPLITS,
    Case,
    DataError,
    leaks,
    near_duplicate_pairs,
    read_cases,
    split_cases,
)

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"
ALL_NONE = [DATA / "holdout" / "out_of_scope.jsonl", DATA / "holdout" / "no_function_blind.jsonl"]
HOLDOUT = [DATA / "holdout" / "wild.jsonl", DATA / "holdout" / "blind_args.jsonl",
           DATA / "holdout" / "asks_blind.jsonl", *ALL_NONE]
FILES = sorted(DATA.glob("raw/*.jsonl")) + HOLDOUT


@pytest.mark.parametrize("path", FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_data_cases_follow_the_format(path: Path) -> None:
    registry = default_registry()
    for case in read_cases(path):
        where = f"{path.name}: {case.text!r}"
        assert case.lang in {"en", "ja"}, where
        assert case.extra.get("split") in (None, *SPLITS), where
        if case.expected_function is None:
            assert case.expected_arguments == {}, where
            continue
        spec = registry.get(case.expected_function)
        ask = case.extra.get("expected_ask")
        if ask is None:
            spec.params.model_validate(case.expected_arguments)  # the arguments are valid
        else:  # a request that lacks the value asked for: valid once it is given
            assert ask["field"] in spec.params.model_fields, where
            assert ask["field"] not in case.expected_arguments, where
            spec.params.model_validate({**case.expected_arguments, ask["field"]: "x"})
        for key in (k for k, r in spec.roles.items() if r.grounded):
            value = case.expected_arguments.get(key)
            assert value is None or value in case.text, f"{where}: {key}={value!r} not verbatim"


@pytest.mark.slow
def test_data_splits_are_what_split_data_writes(tmp_path: Path) -> None:
    from funcgemma_lab import split as split_data  # what tools/split_data.py runs
    assert split_data.main(["--raw", str(DATA / "raw"), "--out", str(tmp_path)]) == 0
    for name in SPLITS:
        assert (tmp_path / f"{name}.jsonl").read_bytes() == (DATA / f"{name}.jsonl").read_bytes()


@pytest.mark.parametrize("path", HOLDOUT, ids=lambda p: p.name)
@pytest.mark.slow
def test_data_holdout_shares_no_text_with_training_data(path: Path) -> None:
    """The held-out sets are never trained on, and nothing trained on is in them:
    neither the training split nor the extra-function messages (finetune
    --extra-functions)."""
    train = [c.text for c in read_cases(DATA / "train.jsonl")]
    train += [c.text for path in sorted(DATA.glob("extra*/cases.jsonl"))
              for c in read_cases(path)]
    held = [c.text for c in read_cases(path)]
    pairs = near_duplicate_pairs(train + held)
    crossing = [(train[i], held[j - len(train)]) for i, j in pairs
                if i < len(train) <= j]
    assert crossing == []


@pytest.mark.parametrize("path", ALL_NONE, ids=lambda p: p.name)
def test_data_no_function_holdouts_are_all_no_function(path: Path) -> None:
    cases = read_cases(path)
    assert len(cases) >= 150
    assert all(c.expected_function is None for c in cases)
    assert {c.lang for c in cases} == {"en", "ja"}


def _case(text: str, fn: str | None = None, **extra: object) -> Case:
    args = {"location": text.split()[-1]} if fn else {}
    return Case(text=text, expected_function=fn, expected_arguments=args, extra=dict(extra))


def test_split_pinned_cases_leave_every_other_assignment_unchanged() -> None:
    cities = ["Kyoto", "Lima", "Oslo", "Quito", "Hanoi", "Perth", "Cusco", "Bergen", "Porto",
              "Dakar", "Accra", "Tunis", "Male", "Riga", "Baku", "Doha", "Sucre", "Suva"]
    base = [_case(f"{verb} {city}", "weather_info") for city in cities
            for verb in ("forecast please for", )]
    base += [_case(f"tell me a joke about number {n} and a {w}") for n, w in
             zip(range(20), "cat dog owl eel ant bee cow elk fox gnu hen jay koi yak ram "
                 "asp bat cod doe emu".split(), strict=True)]
    before = split_cases(base, seed=3)
    added = [_case("is it raining over in Reykjavik", "weather_info", split="train"),
             _case("completely different words entirely", split="test")]
    after = split_cases(base + added, seed=3)
    for name in SPLITS:
        pinned = [c for c in added if c.extra["split"] == name]
        assert after[name] == before[name] + pinned
    assert leaks(after) == []


def test_split_leaks_catch_a_pinned_near_duplicate() -> None:
    words = ("apple banana cherry damson elder fig grape hazel iris juniper kale lemon mango "
             "nutmeg olive papaya quince radish sage thyme").split()
    base = [_case(f"{w} {w[::-1]} {len(w) * 7} {w.upper()}") for w in words]
    splits = split_cases(base, seed=1)
    victim = splits["test"][0].text
    splits = split_cases(base + [_case(victim + "!", split="train")], seed=1)
    assert leaks(splits), "a pinned train row that copies a test row must be reported"


def _split_data_tool():
    from funcgemma_lab import split as split_data  # what tools/split_data.py runs
    return split_data


def _published(out: Path) -> dict[str, str]:
    """Stand-ins for published splits, which a refused run must leave as they are."""
    out.mkdir(exist_ok=True)
    for name in SPLITS:
        (out / f"{name}.jsonl").write_text(f'{{"text": "{name} row"}}\n', "utf-8")
    return {name: (out / f"{name}.jsonl").read_text("utf-8") for name in SPLITS}


@pytest.mark.parametrize(("setup", "message"), [
    ("missing", "is not a folder"),
    ("empty", "holds no *.jsonl files"),
    ("blank", "hold no cases"),
])
def test_split_data_without_cases_refuses_and_keeps_the_splits(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], setup: str, message: str) -> None:
    raw = tmp_path / "raw"
    if setup != "missing":
        raw.mkdir()
    if setup == "blank":
        (raw / "a.jsonl").write_text("\n\n", "utf-8")
    out = tmp_path / "out"
    before = _published(out)
    assert _split_data_tool().main(["--raw", str(raw), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"split_data: --raw {raw}") and message in err
    assert err.count("\n") == 1
    assert {name: (out / f"{name}.jsonl").read_text("utf-8") for name in SPLITS} == before


@pytest.mark.parametrize(("line", "message"), [
    ("{oops", "not JSON"),
    ('["x"]', "expected a JSON object, got list"),
    ('"x"', "expected a JSON object, got str"),
    ('{"text": "hi"}', "not a case (no 'expected_function')"),
    ('{"text": 5, "expected_function": null}', "`text` must be a string"),
])
def test_split_data_bad_line_is_one_line_naming_file_and_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], line: str, message: str) -> None:
    raw = tmp_path / "raw"
    raw.mkdir()
    bad = raw / "a.jsonl"
    bad.write_text('{"text": "hello there", "expected_function": null}\n' + line + "\n",
                   "utf-8")
    out = tmp_path / "out"
    before = _published(out)
    assert _split_data_tool().main(["--raw", str(raw), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"split_data: {bad}:2: ") and message in err
    assert err.count("\n") == 1
    assert {name: (out / f"{name}.jsonl").read_text("utf-8") for name in SPLITS} == before


def test_read_cases_unreadable_file_is_a_data_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="No such file or directory"):
        read_cases(tmp_path / "missing.jsonl")
    (tmp_path / "latin1.jsonl").write_bytes(b'{"text": "caf\xe9", "expected_function": null}\n')
    with pytest.raises(DataError, match="not UTF-8"):
        read_cases(tmp_path / "latin1.jsonl")
