set -e
cd /work/main
out=runs/ask6
echo "$(date -u +%T) before"
PYTHONPATH=/tmp/wtdf/src .venv/bin/python -m funcgemma eval --backend llamacpp --data data/holdout/asks_blind6.jsonl --out $out/before --no-progress > /dev/null
echo "$(date -u +%T) after"
.venv/bin/python -m funcgemma eval --backend llamacpp --data data/holdout/asks_blind6.jsonl --out $out/after --no-progress > /dev/null
for pair in test:data/test.jsonl wild:data/holdout/wild.jsonl asks_blind5:data/holdout/asks_blind5.jsonl; do
  n=${pair%%:*}; f=${pair#*:}
  echo "$(date -u +%T) $n after"; .venv/bin/python -m funcgemma eval --backend llamacpp --data $f --out $out/guard/$n-after --no-progress > /dev/null
done
echo "$(date -u +%T) done"
