"""Grow funcgemma's labelled data with an LLM through Ollama, or offline from templates
(`funcgemma gen-data`): funcgemma_lab.generate.

    python tools/generate_test_data.py --out data/raw/generated.jsonl --per-class 50
"""

from funcgemma_lab.generate import main

if __name__ == "__main__":
    raise SystemExit(main())
