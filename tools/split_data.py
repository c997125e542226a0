"""Split data/raw/*.jsonl into data/{train,dev,test}.jsonl (`funcgemma split-data`):
funcgemma_lab.split.

    python tools/split_data.py [--raw data/raw] [--out data] [--seed 13]
"""

from funcgemma_lab.split import main

if __name__ == "__main__":
    raise SystemExit(main())
