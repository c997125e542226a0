set -e
cd /work/main
base=$(.venv/bin/python -c "import json;b=json.load(open('src/funcgemma/adapters/funcgemma-router-lora.json'))['encoder'];b.pop('calibration',None);print(json.dumps(b))")
for w in 0 0.15 0.3; do
  pol=$(.venv/bin/python -c "import json,sys;b=json.loads(sys.argv[1]);b['lexical']=float(sys.argv[2]);print(json.dumps(b))" "$base" $w)
  echo "$(date -u +%T) w=$w $pol"
  .venv/bin/funcgemma hybrid test --adapter-out runs/adapter-answers --fresh extra3 --no-extra --policy "$pol" --out runs/h7-dev-$w 2>&1 | tail -4
done
echo "$(date -u +%T) done"
