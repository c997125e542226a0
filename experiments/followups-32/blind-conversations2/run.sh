set -e
cd /work/main
bash experiments/followups-32/blind-conversations2/test.sh /tmp/wt47 runs/mt2
for s in train dev; do
  echo "$(date -u +%T) $s before"; PYTHONPATH=/tmp/wt47/src .venv/bin/python -m funcgemma eval --backend llamacpp --data data/multiturn/$s.jsonl --out runs/mt2/guard/$s-before --no-progress > /dev/null
  echo "$(date -u +%T) $s after"; .venv/bin/python -m funcgemma eval --backend llamacpp --data data/multiturn/$s.jsonl --out runs/mt2/guard/$s-after --no-progress > /dev/null
done
for pair in test:data/test.jsonl wild:data/holdout/wild.jsonl multicall_test:data/multicall/test.jsonl multiturn_test:data/multiturn/test.jsonl multiturn_blind:data/holdout/multiturn_blind.jsonl; do
  n=${pair%%:*}; f=${pair#*:}
  echo "$(date -u +%T) $n after"; .venv/bin/python -m funcgemma eval --backend llamacpp --data $f --out runs/mt2/guard/$n-after --no-progress > /dev/null
done
echo "$(date -u +%T) done"
