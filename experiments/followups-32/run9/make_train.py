"""runs/run9/train.jsonl by the eighth rule: run 8's rows (data/train.jsonl, and three
times each data/plain/train.jsonl, data/plain/train2.jsonl and the first turns of
data/multiturn/train.jsonl) plus data/plain/negatives.jsonl three times."""

import json
from pathlib import Path


def rows(path: str) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text("utf-8").splitlines()
            if line.strip()]


out = rows("data/train.jsonl")
added = (rows("data/plain/train.jsonl") + rows("data/plain/train2.jsonl")
         + [r for r in rows("data/multiturn/train.jsonl") if not r.get("history")])
negatives = rows("data/plain/negatives.jsonl")
out += 3 * added + 3 * negatives
Path("runs/run9").mkdir(parents=True, exist_ok=True)
with open("runs/run9/train.jsonl", "w", encoding="utf-8") as w:
    for r in out:
        w.write(json.dumps(r, ensure_ascii=False) + "\n")
print(f"train rows {len(out)}: data/train, {len(added)} added x3, {len(negatives)} negatives x3")
