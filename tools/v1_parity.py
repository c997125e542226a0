"""Do /v1/chat/completions and /route make the same calls? funcgemma_lab.parity.

    python tools/v1_parity.py [--data data/test.jsonl] [--out runs/v1-parity]
"""

from funcgemma_lab.parity import main

if __name__ == "__main__":
    raise SystemExit(main())
