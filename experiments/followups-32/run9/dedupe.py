"""Drop drafted rows near any text under data/ (the eighth rule of ../RULE.md and the
fifth rule of ../../hybrid-31/RULE.md): a rapidfuzz ratio >= 80 after datasets.normalise
(NFKC, case folded, no punctuation), or a pair by datasets.near_duplicate_pairs (the split
tools' word-order-blind check). Usage: python dedupe.py DRAFT.jsonl KEPT.jsonl [--exclude PATH]
"""

import json
import sys
from pathlib import Path

from rapidfuzz import fuzz, process

from funcgemma_lab.datasets import near_duplicate_pairs, normalise


def texts_under(root: Path, exclude: set[Path]) -> list[str]:
    out = []
    for path in sorted(root.rglob("*.jsonl")):
        if path.resolve() in exclude:
            continue
        for line in path.read_text("utf-8").splitlines():
            if line.strip():
                row = json.loads(line)
                out.append(row["text"])
                out += [m["content"] for m in row.get("history") or []
                        if m.get("role") == "user" and isinstance(m.get("content"), str)]
    return out


def main() -> None:
    draft, kept = Path(sys.argv[1]), Path(sys.argv[2])
    exclude = {Path(p).resolve() for p in sys.argv[4::2]} | {draft.resolve(), kept.resolve()}
    rows = [json.loads(line) for line in draft.read_text("utf-8").splitlines() if line.strip()]
    theirs = texts_under(Path("data"), exclude)
    norm_theirs = [normalise(t) for t in theirs]
    ours = [r["text"] for r in rows]
    scores = process.cdist([normalise(t) for t in ours], norm_theirs, scorer=fuzz.ratio,
                           score_cutoff=80, workers=1)
    near = {i for i in range(len(ours)) if scores[i].max() >= 80}
    pairs = near_duplicate_pairs(theirs + ours)
    near |= {j - len(theirs) for i, j in pairs if i < len(theirs) <= j}
    # within the draft itself: keep the first of a near pair
    inner = process.cdist([normalise(t) for t in ours], [normalise(t) for t in ours],
                          scorer=fuzz.ratio, score_cutoff=90, workers=1)
    for i in range(len(ours)):
        for j in range(i + 1, len(ours)):
            if inner[i][j] >= 90 and i not in near:
                near.add(j)
    for i in sorted(near):
        best = int(scores[i].argmax())
        print(f"dropped: {ours[i]!r} ~ {theirs[best]!r} ({scores[i].max():.0f})")
    with kept.open("w", encoding="utf-8") as w:
        for i, row in enumerate(rows):
            if i not in near:
                w.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(f"{len(rows)} drafted, {len(near)} dropped, {len(rows) - len(near)} kept -> {kept}")


if __name__ == "__main__":
    main()
