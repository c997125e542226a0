"""Twelfth rule's calibration (RULE.md): every case routed with the encoder's question
back off and at any margin; the encoder's margin kept per row, so that each ask_margin on
the grid is read from the one pair of runs.

.venv/bin/python experiments/followups-32/ask-margin/calibrate.py OUT.jsonl FILE...
"""

import dataclasses
import json
import sys
import time

from funcgemma.factory import make_backends, make_router
from funcgemma.registry import default_registry
from funcgemma.settings import Settings
from funcgemma_lab.evaluation import load_cases


def outcome(result):
    ask = result.ask.field if result.outcome == "ask" and result.ask else None
    return {"kept": [c.name for c in result.kept], "ask": ask,
            "arguments": [c.arguments for c in result.kept]}


def main(out: str, files: list[str]) -> None:
    settings = Settings()
    registry = default_registry()
    router = make_router(make_backends(settings, "llamacpp"), registry, settings)
    stage = router.encoder
    assert stage is not None, "the shipped adapter has an encoder block"
    off = stage.policy
    anywhere = dataclasses.replace(off, ask_margin=-1.0)
    with open(out, "w") as sink:
        for path in files:
            cases = load_cases(path)
            begun = time.time()
            for i, case in enumerate(cases):
                row = {"file": path, "line": case.line, "text": case.text,
                       "expected": case.expected_function,
                       "expected_ask": case.expected_ask, "asks_labelled": case.asks_labelled}
                for key, policy in (("off", off), ("on", anywhere)):
                    stage.policy = policy
                    row[key] = outcome(router.route(case.text, history=case.history))
                seen = stage.read(case.text)
                row["best"], row["margin"] = seen.best, round(seen.margin, 4)
                sink.write(json.dumps(row, ensure_ascii=False) + "\n")
                sink.flush()
                if i % 50 == 0:
                    print(f"{path} {i}/{len(cases)} {time.time() - begun:.0f}s", flush=True)
    stage.policy = off


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
