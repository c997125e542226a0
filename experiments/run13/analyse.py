import json, sys
sys.path.insert(0, "src")
from funcgemma.training.calibrate import Decision, choose_bias, evaluate_bias
d = json.load(open("reports/run13/margins.json"))
ens = {"O0": ["O0"], "O1": ["O1"], "O2": ["O2"], "E2": ["O0", "O1"], "E3": ["O0", "O1", "O2"]}
def decisions(rows, keys):
    return [Decision(r["expected"], r["O0"][1], sum(r[k][0] for k in keys) / len(keys)) for r in rows]
def auc(rows, keys):
    pos = [sum(r[k][0] for k in keys)/len(keys) for r in rows if r["expected"] != "none"]
    neg = [sum(r[k][0] for k in keys)/len(keys) for r in rows if r["expected"] == "none"]
    return sum((p > n) + 0.5*(p == n) for p in pos for n in neg) / max(1, len(pos)*len(neg))
dev = d["data/dev.jsonl"]
for name, keys in ens.items():
    c = choose_bias(decisions(dev, keys))
    line = f"{name}: dev bias {c['bias']} F1 {c['macro_f1']:.3f} FC {c['false_call_rate']:.3f} auc {auc(dev, keys):.4f}"
    for split in list(d)[1:]:
        e = evaluate_bias(decisions(d[split], keys), c["bias"])
        rows = d[split]
        calls = sum(sum(r[k][0] for k in keys)/len(keys) > c["bias"] for r in rows if r["expected"] == "none")
        line += f" | {split.split('/')[-1]} F1 {e['macro_f1']:.3f} FC {e['false_call_rate']:.3f} ({calls}/{sum(r['expected']=='none' for r in rows)}) auc {auc(rows, keys):.4f}"
    print(line)
# order disagreement of names
for split, rows in d.items():
    dis = sum(len({r[k][1] for k in ("O0","O1","O2") if k in r}) > 1 for r in rows if r["expected"] != "none")
    print(split, "name disagreement among positives", dis, "/", sum(r["expected"] != "none" for r in rows))
