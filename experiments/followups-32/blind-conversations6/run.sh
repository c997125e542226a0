set -e
cd /work/main
out=runs/mt6
echo "$(date -u +%T) before"
PYTHONPATH=/tmp/wt08/src .venv/bin/python -m funcgemma eval --backend llamacpp --data data/holdout/multiturn_blind6.jsonl --out $out/before --no-progress > /dev/null
echo "$(date -u +%T) after"
.venv/bin/python -m funcgemma eval --backend llamacpp --data data/holdout/multiturn_blind6.jsonl --out $out/after --no-progress > /dev/null
for pair in test:data/test.jsonl wild:data/holdout/wild.jsonl multicall_test:data/multicall/test.jsonl train:data/multiturn/train.jsonl dev:data/multiturn/dev.jsonl multiturn_test:data/multiturn/test.jsonl multiturn_blind:data/holdout/multiturn_blind.jsonl multiturn_blind2:data/holdout/multiturn_blind2.jsonl multiturn_blind3:data/holdout/multiturn_blind3.jsonl multiturn_blind4:data/holdout/multiturn_blind4.jsonl multiturn_blind5:data/holdout/multiturn_blind5.jsonl; do
  n=${pair%%:*}; f=${pair#*:}
  echo "$(date -u +%T) $n after"; .venv/bin/python -m funcgemma eval --backend llamacpp --data $f --out $out/guard/$n-after --no-progress > /dev/null
done
echo "$(date -u +%T) done"
