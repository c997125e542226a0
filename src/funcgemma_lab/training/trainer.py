"""The LoRA fine-tuning loop (PEFT over transformers), CPU, CUDA or MPS.

Cost model on a 2-core CPU: the developer turn (~650 tokens of declarations) dwarfs a
case (~40 tokens). Each batch shares one sampled declaration set, so its KV state is
computed once per step, without gradients, by the current model, and the batch's
suffixes attend to it; the LM head (262k-token vocabulary) is applied only at label
positions. The gradient does not flow back into the prefix's keys and values; the
served model computes the prefix with the same weights, so the forward pass matches.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import random
import time
from collections import Counter
from collections.abc import Callable, Collection, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from tqdm import tqdm

from ..datasets import Case
from .declarations import sample_declarations
from .examples import IGNORE, Example, Tokenizer, build_example, prefix_ids
from .extra import weight_class

log = logging.getLogger(__name__)

TARGET_MODULES = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


@dataclass
class TrainConfig:
    out: Path
    base: str | None = None  # HF id or local dir; None: the PyPI Gemma 3 270M GGUF
    gguf_file: str | None = None
    r: int = 16
    alpha: int = 32
    dropout: float = 0.05
    targets: tuple[str, ...] = TARGET_MODULES
    epochs: float = 1.0
    lr: float = 3e-4
    warmup: int = 20
    batch: int = 16
    accum: int = 1
    max_len: int = 1536
    seed: int = 13
    eval_every: int = 50
    serving_share: float = 0.4
    decision_weight: float = 1.0
    # the no-function class's share of the loss, relative to each other class's
    none_weight: float = 1.0
    # the extra-function class's share (all data/extra functions together), likewise
    extra_weight: float = 1.0
    holdout_function: str | None = None
    device: str = "auto"
    threads: int | None = None
    # a LoRA adapter GGUF to start from (e.g. the shipped one), instead of PEFT's zero B
    init_adapter: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def pick_device(name: str) -> torch.device:
    if name != "auto":
        return torch.device(name)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def load_base(cfg: TrainConfig, device: torch.device) -> tuple[Any, Any, str]:
    """The base model and its tokenizer. Gemma 3 overflows to NaN in fp16: fp32 on CPU and
    MPS, bf16 on CUDA."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if cfg.base is None:
        from funcgemma import weights
        from funcgemma.settings import Settings

        path = weights.router_gguf(Settings())
        source, gguf = str(path.parent), path.name
    else:
        source, gguf = cfg.base, cfg.gguf_file or ""
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    kwargs = {"gguf_file": gguf} if gguf else {}
    tok = AutoTokenizer.from_pretrained(source, **kwargs)
    model = AutoModelForCausalLM.from_pretrained(source, dtype=dtype, **kwargs)
    model = model.to(device)  # type: ignore[arg-type]  # transformers' stub wants a model
    return model, tok, f"{source}/{gguf}" if gguf else source


def hf_tokenizer(tok: Any) -> Tokenizer:
    """funcgemma's Tokenizer over a transformers tokenizer (special parsing off)."""
    vocab = tok.get_vocab()

    def plain(text: str) -> list[int]:
        return list(tok(text, add_special_tokens=False, split_special_tokens=True)["input_ids"])

    def token_id(text: str) -> int | None:
        return vocab.get(text)

    return Tokenizer(plain=plain, token_id=token_id)


def class_weights(cases: Sequence[Case], served: Collection[str] | None = None, *,
                  none_weight: float = 1.0, extra_weight: float = 1.0) -> dict[str, float]:
    """Inverse-frequency weights, mean 1 over cases, so no class dominates the loss.

    ``none_weight`` gives the no-function class that many classes' share. With equal
    shares the call/no-call decision is trained seven (or eight) calls to one "none",
    however many no-function rows the data has: adding them diversifies the class but
    does not weigh it more. ``extra_weight`` does the same for the extra functions
    (data/extra..., one class together): the cases that teach reading a declaration the
    model has not learnt by heart, rather than recognising the seven served topics."""
    for label, value in (("none_weight", none_weight), ("extra_weight", extra_weight)):
        if value <= 0:
            raise ValueError(f"{label} must be positive, not {value}")
    if served is None:
        served = {c.expected_function for c in cases if c.expected_function}
    counts = Counter(weight_class(c, served) for c in cases)
    special = {"none": none_weight, "extra": extra_weight}
    share = {label: special.get(label, 1.0) for label in counts}
    total = sum(share.values())
    return {label: share[label] * len(cases) / (total * n) for label, n in counts.items()}


def _suffix_batch(examples: Sequence[Example], pad: int, device: torch.device
                  ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    width = max(len(e.suffix) for e in examples)
    ids = torch.full((len(examples), width), pad, dtype=torch.long)
    labels = torch.full((len(examples), width), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(examples), width), dtype=torch.long)
    for i, e in enumerate(examples):
        ids[i, : len(e.suffix)] = torch.tensor(e.suffix)
        labels[i, : len(e.labels)] = torch.tensor(e.labels)
        mask[i, : len(e.suffix)] = 1
    return ids.to(device), labels.to(device), mask.to(device)


class LossFn:
    """Weighted next-token loss over label positions of a batch sharing one prefix.

    Each example's loss is the mean over its target tokens, plus ``decision_weight`` times
    the loss of its first target token: that token is the routing decision (a call marker
    or "No"), and in a plain per-example mean it would weigh 1/30 in a call but 1/5 in a
    no-call answer, which teaches the model to say "No"."""

    def __init__(self, model: Any, pad_id: int, device: torch.device, *,
                 decision_weight: float = 1.0) -> None:
        self.model = model  # the PEFT-wrapped causal LM
        self.inner = model.get_base_model()
        self.pad_id = pad_id
        self.device = device
        self.decision_weight = decision_weight
        self.softcap = getattr(self.inner.config, "final_logit_softcapping", None)

    def __call__(self, prefix: list[int], examples: Sequence[Example],
                 weights: Sequence[float]) -> torch.Tensor:
        training = self.model.training
        self.model.eval()
        with torch.no_grad():
            pre = torch.tensor([prefix], device=self.device)
            out = self.inner.model(input_ids=pre, use_cache=True)
            cache = out.cache if hasattr(out, "cache") else out.past_key_values
        self.model.train(training)
        n = len(examples)
        cache = copy.deepcopy(cache)
        cache.batch_repeat_interleave(n)
        ids, labels, mask = _suffix_batch(examples, self.pad_id, self.device)
        p = len(prefix)
        attn = torch.cat([torch.ones((n, p), dtype=torch.long, device=self.device), mask], 1)
        pos = torch.arange(p, p + ids.shape[1], device=self.device).unsqueeze(0).expand(n, -1)
        hidden = self.inner.model(input_ids=ids, attention_mask=attn, position_ids=pos,
                                  cache=cache, use_cache=True).last_hidden_state
        # position t predicts token t+1; the first suffix token is predicted by the prefix
        # (never a label: the suffix starts with the user turn).
        tgt = labels[:, 1:]
        sel = tgt != IGNORE
        h = hidden[:, :-1][sel]
        logits = self.inner.lm_head(h).float()
        if self.softcap:
            logits = torch.tanh(logits / self.softcap) * self.softcap
        tok_loss = F.cross_entropy(logits, tgt[sel], reduction="none")
        row = torch.arange(n, device=self.device).unsqueeze(1).expand_as(tgt)[sel]
        w = torch.tensor(weights, device=self.device, dtype=tok_loss.dtype)
        per_ex = torch.zeros(n, device=self.device).index_add(0, row, tok_loss)
        counts = torch.zeros(n, device=self.device).index_add(0, row, torch.ones_like(tok_loss))
        first = ((sel.cumsum(1) == 1) & sel)[sel]  # each row's first label, among tok_loss
        decision = torch.zeros(n, device=self.device).index_add(0, row[first], tok_loss[first])
        per_ex = per_ex / counts.clamp(min=1) + self.decision_weight * decision
        return (per_ex * w).sum() / w.sum()


@dataclass
class Batch:
    prefix: list[int]
    examples: list[Example]
    weights: list[float]


def make_batches(cases: Sequence[Case], tools: Sequence[dict[str, Any]], tok: Tokenizer,
                 cfg: TrainConfig, rng: random.Random,
                 extra: Sequence[dict[str, Any]] = ()) -> list[Batch]:
    served = {t["function"]["name"] for t in tools}
    weights = class_weights(cases, served, none_weight=cfg.none_weight,
                            extra_weight=cfg.extra_weight)
    order = list(cases)
    rng.shuffle(order)
    batches = []
    for i in range(0, len(order), cfg.batch):
        chunk = order[i : i + cfg.batch]
        needed = [c.expected_function for c in chunk
                  if c.expected_function and c.expected_function not in served]
        decls = sample_declarations(tools, rng, serving_share=cfg.serving_share,
                                    extra=extra, needed=needed)
        prefix = prefix_ids(tok, decls.tools)
        examples = [build_example(tok, c, decls, max_len=cfg.max_len, prefix_len=len(prefix))
                    for c in chunk]
        batches.append(Batch(prefix, examples,
                             [weights[weight_class(c, served)] for c in chunk]))
    return batches


def lr_at(step: int, total: int, cfg: TrainConfig) -> float:
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    progress = (step - cfg.warmup) / max(1, total - cfg.warmup)
    return cfg.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))


def train(cfg: TrainConfig, cases: Sequence[Case], tools: Sequence[dict[str, Any]], *,
          on_checkpoint: Callable[[int, Path, Any, Any], dict[str, Any] | None],
          resume: bool = False, extra: Sequence[dict[str, Any]] = ()) -> dict[str, Any]:
    """Run the loop; ``on_checkpoint(step, dir, model, tokenizer)`` evaluates a checkpoint
    and returns its metrics (the caller exports and scores it). ``extra``: declarations
    of the data/extra functions that some of ``cases`` ask for."""
    from peft import LoraConfig, PeftModel, get_peft_model

    torch.manual_seed(cfg.seed)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    device = pick_device(cfg.device)
    base, hf_tok, source = load_base(cfg, device)
    tok = hf_tokenizer(hf_tok)
    cfg.out.mkdir(parents=True, exist_ok=True)
    state_path = cfg.out / "state.json"
    state: dict[str, Any] = {"step": 0, "history": [], "best": None, "config": _jsonable(cfg),
                             "base": source}
    last = cfg.out / "last"
    if resume and state_path.exists() and last.exists():
        state = json.loads(state_path.read_text())
        # the run continues under this invocation's configuration (epochs, data...)
        state.setdefault("resumed", []).append(
            {"at_step": state["step"], "previous_config": state.get("config"),
             "cases": len(cases)})
        state["config"] = _jsonable(cfg)
        model = PeftModel.from_pretrained(base, last, is_trainable=True)
        log.info("resumed at step %d", state["step"])
    else:
        lora = LoraConfig(r=cfg.r, lora_alpha=cfg.alpha, lora_dropout=cfg.dropout,
                          target_modules=list(cfg.targets), bias="none", task_type="CAUSAL_LM")
        model = get_peft_model(base, lora)
        if cfg.init_adapter:
            from .export import load_adapter_weights

            n = load_adapter_weights(model, Path(cfg.init_adapter))
            state["init_adapter"] = {"path": cfg.init_adapter, "tensors": n}
            log.info("started from %s (%d LoRA tensors)", cfg.init_adapter, n)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    log.info("trainable parameters: %d", trainable)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=cfg.lr,
                            weight_decay=0.0)
    if resume and (last / "optimizer.pt").exists():
        opt.load_state_dict(torch.load(last / "optimizer.pt", map_location=device))
    loss_fn = LossFn(model, hf_tok.pad_token_id or 0, device,
                     decision_weight=cfg.decision_weight)

    epochs = max(1, math.ceil(cfg.epochs))
    plan: list[Batch] = []
    for epoch in range(epochs):
        plan += make_batches(cases, tools, tok, cfg, random.Random(cfg.seed + epoch), extra)
    total = int(len(plan) * cfg.epochs / epochs) // cfg.accum * cfg.accum
    model.train()
    # elapsed_s and train_seconds count across resumes: continue the clock where it stopped
    start = time.time() - (state["history"][-1]["elapsed_s"] if state["history"] else 0.0)
    bar = tqdm(total=total // cfg.accum, initial=state["step"], desc="training", unit="step")
    running = None
    for i in range(state["step"] * cfg.accum, total):
        step = i // cfg.accum
        batch = plan[i]
        loss = loss_fn(batch.prefix, batch.examples, batch.weights) / cfg.accum
        if not torch.isfinite(loss):
            raise FloatingPointError(f"loss is {loss.item()} at step {step}; lower --lr")
        loss.backward()
        running = loss.item() * cfg.accum if running is None else (
            0.9 * running + 0.1 * loss.item() * cfg.accum)
        if (i + 1) % cfg.accum:
            continue
        for group in opt.param_groups:
            group["lr"] = lr_at(step, total // cfg.accum, cfg)
        torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        state["step"] = step + 1
        state["history"].append({"step": step + 1, "loss": round(running, 5),
                                 "lr": opt.param_groups[0]["lr"],
                                 "elapsed_s": round(time.time() - start, 1)})
        bar.update(1)
        bar.set_postfix(loss=f"{running:.4f}")
        done = state["step"] == total // cfg.accum
        if state["step"] % cfg.eval_every == 0 or done:
            _checkpoint(model, opt, state, cfg, hf_tok, on_checkpoint)
    bar.close()
    state["train_seconds"] = round(time.time() - start, 1)
    state["trainable_parameters"] = trainable
    state["device"] = str(device)
    state_path.write_text(json.dumps(state, indent=2))
    return state


def _checkpoint(model: Any, opt: Any, state: dict[str, Any], cfg: TrainConfig, hf_tok: Any,
                on_checkpoint: Callable[[int, Path, Any, Any], dict[str, Any] | None]) -> None:
    step = state["step"]
    ckpt = cfg.out / "checkpoints" / f"step-{step:05d}"
    model.save_pretrained(ckpt)
    model.eval()
    metrics = on_checkpoint(step, ckpt, model, hf_tok)
    model.train()
    if metrics is not None:
        entry = {"step": step, **metrics}
        state.setdefault("evals", []).append(entry)
        score = metrics.get("macro_f1") or 0.0
        if state["best"] is None or score > state["best"]["macro_f1"]:
            state["best"] = {**entry, "checkpoint": str(ckpt)}
    last = cfg.out / "last"
    model.save_pretrained(last)
    torch.save(opt.state_dict(), last / "optimizer.pt")
    (cfg.out / "state.json").write_text(json.dumps(state, indent=2))


def _jsonable(cfg: TrainConfig) -> dict[str, Any]:
    out = asdict(cfg)
    out["out"] = str(cfg.out)
    out["targets"] = list(cfg.targets)
    return out
