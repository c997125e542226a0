"""Twelfth rule: read every ask_margin on the grid from calibrate.py's rows and choose.

.venv/bin/python experiments/followups-32/ask-margin/sweep.py CALIBRATION.jsonl OUT.json
"""

import json
import sys


def at(row: dict, margin: float | None) -> dict:
    """The row's outcome with the rule at ``margin`` (None: off)."""
    if margin is None or row["margin"] < margin:
        return row["off"]
    return row["on"]


def figures(rows: list[dict], margin: float | None) -> dict:
    none = [r for r in rows if r["expected"] is None]
    false = sum(bool(at(r, margin)["kept"]) for r in none)
    labelled = [r for r in rows if r["asks_labelled"]]
    asked = [r for r in labelled if at(r, margin)["ask"] is not None]
    expected = [r for r in labelled if r["expected_ask"] is not None]
    tp = [r for r in asked if r["expected_ask"] is not None]
    right = [r for r in tp if at(r, margin)["ask"] == r["expected_ask"]]
    return {"margin": margin, "no_function_rows": len(none), "false_calls": false,
            "false_call_rate": round(false / len(none), 4),
            "asks_expected": len(expected), "asked": len(asked),
            "ask_precision": round(len(tp) / len(asked), 4) if asked else None,
            "ask_recall": round(len(tp) / len(expected), 4),
            "ask_field_right": round(len(right) / len(expected), 4)}


def main(path: str, out: str) -> None:
    rows = [json.loads(line) for line in open(path)]
    off = figures(rows, None)
    grid = [figures(rows, round(m / 100, 2)) for m in range(0, 16)]
    ok = [g for g in grid if g["false_call_rate"] - off["false_call_rate"] <= 0.005
          and (g["ask_precision"] or 0) >= 0.85]
    chosen = min(ok, key=lambda g: g["margin"]) if ok else None
    report = {"off": off, "grid": grid, "chosen": chosen}
    json.dump(report, open(out, "w"), indent=1)
    print(json.dumps(off))
    for g in grid:
        print(json.dumps(g))
    print("chosen:", json.dumps(chosen))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
