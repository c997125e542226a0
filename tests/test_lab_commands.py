"""`funcgemma eval|train|bench|gen-data|split-data`: the lab's commands, found through the
`funcgemma.commands` entry point, with the arguments of their tools/*.py twins."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from funcgemma.cli import main
from funcgemma.plugins import installed_commands

LAB = ("eval", "train", "bench", "gen-data", "split-data")


def cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), stdin=io.StringIO(), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def test_lab_commands_come_from_the_entry_point() -> None:
    names = [command.name for command in installed_commands()]
    assert [name for name in names if name in LAB] == sorted(LAB, key=names.index)
    assert set(LAB) <= set(names)


@pytest.mark.parametrize(("command", "options"), [
    ("eval", ["--data", "--compare", "--expect-none", "--explain", "--no-progress"]),
    ("train", ["--train", "--dev", "--merge-only", "--calibrate-only", "--name-prior"]),
    ("bench", ["--requests", "--clients", "--duration", "--startup-timeout"]),
    ("gen-data", ["--out", "--per-class", "--offline", "--against", "--max-attempts"]),
    ("split-data", ["--raw", "--out", "--seed"]),
])
def test_lab_command_help_lists_the_tools_options(command: str, options: list[str]) -> None:
    code, out, err = cli(command, "--help")
    assert code == 0, err
    assert out.startswith(f"usage: funcgemma {command} ")
    assert all(option in out for option in options), out


def test_lab_command_eval_without_data_is_one_line_exit_2() -> None:
    code, out, err = cli("eval")
    assert (code, out) == (2, "")
    assert err == "evaluate: --data is required unless --compare is given\n"


def test_lab_command_split_data_runs_the_tools_function(tmp_path: Path) -> None:
    code, out, err = cli("split-data", "--raw", str(tmp_path / "nowhere"), "--out",
                         str(tmp_path / "out"))
    assert (code, out) == (2, "")
    assert err == f"split_data: --raw {tmp_path / 'nowhere'} is not a folder; nothing written\n"
    assert not (tmp_path / "out").exists()


def test_lab_command_gen_data_writes_what_it_is_asked(tmp_path: Path) -> None:
    out_file = tmp_path / "gen.jsonl"
    code, out, err = cli("gen-data", "--offline", "--out", str(out_file), "--against", "",
                         "--per-class", "1", "--functions", "weather_info", "--langs", "en")
    assert code == 0, err
    assert out.startswith(f"wrote {out_file}")
    rows = [json.loads(line) for line in out_file.read_text("utf-8").splitlines()]
    assert [row["expected_function"] for row in rows] == ["weather_info"]


def test_lab_command_train_without_the_training_stack_names_the_extra(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)  # what find_spec sees when absent
    code, out, err = cli("train")
    assert (code, out) == (2, "")
    absent, _, install = err.partition(" not installed; ")
    assert absent.startswith("funcgemma train: ") and "torch" in absent.split(": ")[1].split(", ")
    assert install.startswith("install the `train` extra: pip install -e '.[train]'")
    assert "Traceback" not in err and err.count("\n") == 1


def test_lab_commands_import_no_heavy_stack() -> None:
    probe = ("import json, sys\nfrom funcgemma.cli import _parser\n"
             "from funcgemma.plugins import installed_commands\n"
             "_parser(installed_commands()).parse_args(['eval', '--data', 'x.jsonl'])\n"
             "heavy = {'torch', 'transformers', 'matplotlib', 'llama_cpp', 'peft'}\n"
             "print(json.dumps(sorted(heavy & {n.split('.')[0] for n in sys.modules})))\n")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []
