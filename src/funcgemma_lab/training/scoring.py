"""An adapter GGUF routed through the real embedded router (base GGUF + adapter on
llama.cpp, the same parser and metrics as ``funcgemma eval``): scored, calibrated and its
tokenizer checked against training's, at each checkpoint of ``funcgemma train`` and after.

Needs the embedded backend (llama.cpp); ``check_parity`` also the training stack.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from funcgemma import weights
from funcgemma.registry import default_registry
from funcgemma.settings import Settings

from ..datasets import Case


def adapter_backend(adapter: Path, settings: Settings, *, call_bias: float = 0.0,
                    name_prior: float = 0.0) -> Any:
    """The embedded router model (base GGUF + ``adapter``) as a LlamaCppRouter."""
    from funcgemma.backends.fairlock import FairLock
    from funcgemma.backends.llamacpp import LlamaCppRouter, load_llama

    llm = load_llama(weights.router_gguf(settings), n_ctx=settings.embedded_router_n_ctx,
                     n_threads=settings.n_threads, lora=adapter)
    return LlamaCppRouter(llm, model=adapter.stem, lock=FairLock(), call_bias=call_bias,
                          name_prior=name_prior)


def score_adapter(adapter: Path, cases: list[Case], settings: Settings, *,
                  name_prior: float = 0.0) -> dict[str, Any]:
    """Route ``cases`` through the embedded router with ``adapter``; evaluate.py's metrics."""
    from funcgemma.router import Router

    from ..evaluation import Case as EvalCase
    from ..evaluation import build_report, run_cases

    registry = default_registry()
    backend = adapter_backend(adapter, settings, name_prior=name_prior)
    router = Router(backend, registry, settings=settings)
    run = run_cases(router, [EvalCase(text=c.text, expected_function=c.expected_function,
                                      expected_arguments=c.expected_arguments, lang=c.lang)
                             for c in cases], progress=False)
    report = build_report(run, functions=registry.names)
    del router, backend
    keys = ("accuracy", "macro_f1", "false_call_rate", "argument_match", "parse_failures")
    out = {k: report.get(k) for k in keys}
    out["latency_p50_ms"] = report["latency_ms"]["p50"]
    out["per_function_f1"] = {k: v["f1"] for k, v in report["per_function"].items()}
    return out


def calibrate_adapter(adapter: Path, cases: list[Case], settings: Settings, *,
                      name_prior: float = 0.0,
                      max_false_calls: float | None = None) -> dict[str, Any]:
    """Force a call on every case, record the first-step margin and the function the model
    would call, then choose the bias. Only the name matters here, so decoding stops a few
    tokens after the call marker: bounded cost, even for an adapter that rambles."""
    import regex
    from tqdm import tqdm

    from funcgemma.types import CompletionOptions, Message

    from .calibrate import Decision, choose_bias

    registry = default_registry()
    tools = registry.tools()
    names = sorted(registry.names, key=len, reverse=True)
    name_re = regex.compile(r"call:(" + "|".join(map(regex.escape, names)) + ")")
    backend = adapter_backend(adapter, settings, call_bias=-1e9,  # always call
                              name_prior=name_prior)
    options = CompletionOptions(temperature=0.0, max_tokens=12)
    decisions = []
    for case in tqdm(cases, desc="calibrating", unit="case"):
        out = backend.complete([Message(role="user", content=case.text)], tools=tools,
                               options=options)
        found = name_re.search(out.text)
        decisions.append(Decision(case.expected_function or "none",
                                  found.group(1) if found else "none",
                                  backend.last_stats["call_margin"]))
    return {**choose_bias(decisions, max_false_calls=max_false_calls),
            "decisions": [{"text": c.text, "expected": d.expected, "called": d.called,
                           "margin": round(d.margin, 4)}
                          for c, d in zip(cases, decisions, strict=True)]}


def check_parity(tok: Any, cases: list[Case], tools: list[dict[str, Any]], settings: Settings
                 ) -> int:
    """Train/serve parity: transformers' token ids for rendered prompts equal llama.cpp's.
    Returns the number of prompts compared; raises on the first difference."""
    from funcgemma.backends.fairlock import FairLock
    from funcgemma.backends.llamacpp import LlamaCppRouter, load_llama
    from funcgemma.formats import functiongemma as fg
    from funcgemma.types import Message

    from .trainer import hf_tokenizer

    llm = load_llama(weights.router_gguf(settings), n_ctx=256, n_threads=1)
    served = LlamaCppRouter(llm, model="parity", lock=FairLock())
    trained = hf_tokenizer(tok)
    for case in cases:
        seg = fg.render_prompt(tools, [Message(role="user", content=case.text)])
        a, b = trained.encode(seg), served.encode(seg)
        if a != b:
            pairs = enumerate(zip(a, b, strict=False))
            first = next((i for i, (x, y) in pairs if x != y), min(len(a), len(b)))
            raise SystemExit(f"tokenizer mismatch between transformers and llama.cpp on "
                             f"{case.text!r}: first difference at token {first}")
    return len(cases)
