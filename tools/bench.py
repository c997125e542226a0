"""Benchmark a real `funcgemma serve` (`funcgemma bench`): funcgemma_lab.bench.

    python tools/bench.py [--backend llamacpp] [--requests 200] [--clients 32] [--duration 60]
"""

from funcgemma_lab.bench import main

if __name__ == "__main__":
    raise SystemExit(main())
