"""Evaluate the router on a labelled JSONL file (`funcgemma eval`): funcgemma_lab.evaluate.

python tools/evaluate.py --data data/dev.jsonl [--backend ollama] [--limit 50] [--out DIR]
"""

from funcgemma_lab.evaluate import main

if __name__ == "__main__":
    raise SystemExit(main())
