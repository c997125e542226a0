#!/usr/bin/env bash
# Twelfth rule's test (RULE.md): off (the shipped adapter), then the chosen ask_margin
# (a copy of the adapter whose .json has it), one after the other, on the fresh set and
# the guards. Usage: test.sh MARGIN OUTDIR
set -euo pipefail
margin=$1; out=$2
mkdir -p "$out/adapter"
cp src/funcgemma/adapters/funcgemma-router-lora.gguf "$out/adapter/"
.venv/bin/python - "$margin" "$out/adapter/funcgemma-router-lora.json" <<'PY'
import json, sys
meta = json.load(open("src/funcgemma/adapters/funcgemma-router-lora.json"))
meta["encoder"]["ask_margin"] = float(sys.argv[1])
json.dump(meta, open(sys.argv[2], "w"), indent=2)
PY
sets="asks_blind5:data/holdout/asks_blind5.jsonl test:data/test.jsonl wild:data/holdout/wild.jsonl
out_of_scope:data/holdout/out_of_scope.jsonl no_function_blind:data/holdout/no_function_blind.jsonl
multiturn_test:data/multiturn/test.jsonl multiturn_blind:data/holdout/multiturn_blind.jsonl
multicall_test:data/multicall/test.jsonl"
for mode in off on; do
  for pair in $sets; do
    name=${pair%%:*}; file=${pair#*:}
    echo "$(date -u +%T) $mode $name"
    if [ "$mode" = on ]; then
      FUNCGEMMA_ROUTER_LORA="$out/adapter/funcgemma-router-lora.gguf" \
        .venv/bin/funcgemma eval --backend llamacpp --data "$file" --out "$out/$mode/$name" --no-progress > /dev/null
    else
      .venv/bin/funcgemma eval --backend llamacpp --data "$file" --out "$out/$mode/$name" --no-progress > /dev/null
    fi
  done
done
echo "$(date -u +%T) done"
