#!/usr/bin/env bash
# Thirteenth rule's test (RULE.md): multiturn_blind2 routed once with the code before
# (47efd74, a worktree at $1) and after (this tree), one after the other. Usage:
# test.sh WORKTREE OUTDIR
set -euo pipefail
before=$1; out=$2
echo "$(date -u +%T) before"
PYTHONPATH="$before/src" .venv/bin/python -m funcgemma eval --backend llamacpp \
  --data data/holdout/multiturn_blind2.jsonl --out "$out/before" --no-progress > /dev/null
echo "$(date -u +%T) after"
.venv/bin/python -m funcgemma eval --backend llamacpp \
  --data data/holdout/multiturn_blind2.jsonl --out "$out/after" --no-progress > /dev/null
echo "$(date -u +%T) done"
