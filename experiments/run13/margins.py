"""Run 13: first-step call margins of the shipped adapter under declaration orders O0-O2."""
import json, sys, time
from pathlib import Path
sys.path.insert(0, "tools")
from finetune import adapter_backend
from funcgemma import weights
from funcgemma.datasets import read_cases
from funcgemma.registry import default_registry
from funcgemma.settings import Settings
from funcgemma.types import CompletionOptions, Message
import regex

settings = Settings()
lora = weights.router_lora(settings)
reg = default_registry()
r = reg.tools()
orders = {"O0": r, "O1": r[::-1], "O2": r[3:] + r[:3]}
names = sorted(reg.names, key=len, reverse=True)
name_re = regex.compile(r"call:(" + "|".join(map(regex.escape, names)) + ")")
backend = adapter_backend(lora, settings, call_bias=-1e9, name_prior=0.5)
opts = CompletionOptions(temperature=0.0, max_tokens=12)
out = {}
for split in sys.argv[1:]:
    cases = read_cases(Path(split))
    rows = [{"text": c.text, "expected": c.expected_function or "none"} for c in cases]
    for oname, tools in orders.items():
        t = time.time()
        for row, c in zip(rows, cases):
            o = backend.complete([Message(role="user", content=c.text)], tools=tools, options=opts)
            f = name_re.search(o.text)
            row[oname] = [backend.last_stats["call_margin"], f.group(1) if f else "none"]
        print(split, oname, f"{time.time()-t:.0f}s", flush=True)
    out[split] = rows
    Path("reports/run13/margins.json").write_text(json.dumps(out))
