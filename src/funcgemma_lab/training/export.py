"""Export a PEFT LoRA adapter as a GGUF adapter for llama.cpp and Ollama (`ADAPTER`),
and optionally a merged GGUF with the adapter folded into the base weights.

Adapter layout (what llama.cpp's loader expects for gemma3): `general.type=adapter`,
`adapter.type=lora`, `adapter.lora.alpha`; tensors `blk.{i}.{attn_q,...}.weight.lora_a`
and `.lora_b` holding PEFT's A (r x in) and B (out x r) unchanged; llama.cpp applies
them as W + (alpha / r) * B @ A, as PEFT does.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

GGUF_NAMES = {
    "q_proj": "attn_q", "k_proj": "attn_k", "v_proj": "attn_v", "o_proj": "attn_output",
    "gate_proj": "ffn_gate", "up_proj": "ffn_up", "down_proj": "ffn_down",
}
_GGUF_KEY = re.compile(r"blk\.(\d+)\.(\w+)\.weight\.lora_([ab])")
_KEY = re.compile(r"layers\.(\d+)\.(?:self_attn|mlp)\.(\w+)\.lora_([AB])\.(?:default\.)?weight$")


def lora_tensors(state: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """GGUF tensor name -> float32 array, from a PEFT state dict."""
    out = {}
    for key, value in state.items():
        m = _KEY.search(key)
        if not m:
            continue
        layer, proj, ab = m.groups()
        if proj not in GGUF_NAMES:
            raise ValueError(f"cannot export LoRA on {proj!r}; supported: {sorted(GGUF_NAMES)}")
        arr = value.detach().to("cpu").float().numpy() if hasattr(value, "detach") else value
        out[f"blk.{layer}.{GGUF_NAMES[proj]}.weight.lora_{ab.lower()}"] = np.ascontiguousarray(
            arr, dtype=np.float32)
    if not out:
        raise ValueError("no LoRA weights found in the adapter state dict")
    return out


def write_lora_gguf(path: Path, tensors: Mapping[str, np.ndarray], *, alpha: float,
                    name: str = "funcgemma-router-lora", architecture: str = "gemma3") -> Path:
    import gguf

    path.parent.mkdir(parents=True, exist_ok=True)
    writer = gguf.GGUFWriter(str(path), architecture)
    writer.add_string("general.type", "adapter")
    writer.add_string("general.name", name)
    writer.add_string("adapter.type", "lora")
    writer.add_float32("adapter.lora.alpha", float(alpha))
    for tname in sorted(tensors):
        writer.add_tensor(tname, tensors[tname])
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def export_adapter(model: Any, path: Path, *, name: str = "funcgemma-router-lora") -> Path:
    """Write the PEFT model's active adapter as a llama.cpp LoRA GGUF."""
    from peft import get_peft_model_state_dict

    cfg = model.peft_config["default"]
    return write_lora_gguf(path, lora_tensors(get_peft_model_state_dict(model)),
                           alpha=float(cfg.lora_alpha), name=name)


def read_lora_gguf(path: Path) -> tuple[dict[str, np.ndarray], float]:
    """The tensors (GGUF name -> float32 array) and alpha of a LoRA adapter GGUF."""
    import gguf

    reader = gguf.GGUFReader(str(path))
    kind = reader.fields.get("adapter.type")
    if kind is None or kind.contents() != "lora" or "adapter.lora.alpha" not in reader.fields:
        raise ValueError(f"{path} is not a LoRA adapter GGUF (adapter.type=lora)")
    tensors = {t.name: np.array(t.data, dtype=np.float32).reshape(t.data.shape)
               for t in reader.tensors}
    return tensors, float(reader.fields["adapter.lora.alpha"].contents())


def adapter_shape(path: Path) -> tuple[int, float, tuple[str, ...]]:
    """(r, alpha, PEFT target modules) of a LoRA adapter GGUF written by export_adapter."""
    tensors, alpha = read_lora_gguf(path)
    peft_names = {v: k for k, v in GGUF_NAMES.items()}
    targets, ranks = set(), set()
    for name, arr in tensors.items():
        m = _GGUF_KEY.fullmatch(name)
        if not m or m.group(2) not in peft_names:
            raise ValueError(f"{path}: unexpected tensor {name!r}")
        targets.add(peft_names[m.group(2)])
        ranks.add(arr.shape[0] if m.group(3) == "a" else arr.shape[1])
    if len(ranks) != 1:
        raise ValueError(f"{path}: LoRA tensors disagree on the rank: {sorted(ranks)}")
    return ranks.pop(), alpha, tuple(k for k in GGUF_NAMES if k in targets)


def load_adapter_weights(model: Any, path: Path) -> int:
    """Copy a LoRA adapter GGUF (export_adapter's layout) into the PEFT model's active
    adapter, so training continues from it. Every tensor must find its parameter with the
    same shape, and every LoRA parameter its tensor. Returns the tensors copied."""
    import torch

    tensors, alpha = read_lora_gguf(path)
    want = float(model.peft_config["default"].lora_alpha)
    if alpha != want:
        raise ValueError(f"{path} has LoRA alpha {alpha:g}, the model {want:g}")
    used = set()
    for key, param in model.named_parameters():
        m = _KEY.search(key)
        if not m:
            continue
        layer, proj, ab = m.groups()
        name = f"blk.{layer}.{GGUF_NAMES[proj]}.weight.lora_{ab.lower()}"
        if name not in tensors:
            raise ValueError(f"{path} has no {name}: it adapts other modules than the model")
        if tuple(tensors[name].shape) != tuple(param.shape):
            raise ValueError(f"{path}: {name} is {tuple(tensors[name].shape)}, the model's "
                             f"parameter {tuple(param.shape)} (another rank?)")
        with torch.no_grad():
            param.copy_(torch.from_numpy(tensors[name]))
        used.add(name)
    if set(tensors) - used:
        raise ValueError(f"{path} adapts modules the model does not: "
                         f"{sorted(set(tensors) - used)[:3]}...")
    return len(used)


def merge_into_gguf(base: Path, adapter: Path, out: Path) -> Path:
    """A standalone GGUF: base weights + (alpha/r) B@A for every adapted tensor, those
    tensors re-quantised to Q8_0 (others copied as they are). For Ollama `FROM` without
    `ADAPTER`, or any runtime without LoRA support."""
    import gguf

    reader = gguf.GGUFReader(str(base))
    tensors, alpha = read_lora_gguf(adapter)
    deltas: dict[str, np.ndarray] = {}
    for tname, a in tensors.items():
        if not tname.endswith(".lora_a"):
            continue
        stem = tname[: -len(".lora_a")]
        deltas[stem] = (alpha / a.shape[0]) * (tensors[stem + ".lora_b"] @ a)
    writer = gguf.GGUFWriter(str(out), arch=str(reader.fields["general.architecture"].contents()))
    for field in reader.fields.values():
        if field.name.startswith("GGUF.") or field.name == "general.architecture":
            continue
        writer.add_key_value(field.name, field.contents(), field.types[0],
                             field.types[-1] if field.types[0] == gguf.GGUFValueType.ARRAY
                             else None)
    for t in reader.tensors:
        if t.name in deltas:
            w = gguf.quants.dequantize(t.data, t.tensor_type).reshape(deltas[t.name].shape)
            merged = (w + deltas[t.name]).astype(np.float32)
            q = gguf.quants.quantize(merged, gguf.GGMLQuantizationType.Q8_0)
            writer.add_tensor(t.name, q, raw_shape=q.shape,
                              raw_dtype=gguf.GGMLQuantizationType.Q8_0)
        else:
            writer.add_tensor(t.name, t.data, raw_shape=t.data.shape, raw_dtype=t.tensor_type)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return out
