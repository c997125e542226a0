"""llama.cpp in-process: loading a GGUF (its header checked first), and a loaded model
seen as one growing token sequence with logits (the decoder's Engine), for the embedded
router and chat models."""

from __future__ import annotations

import ctypes
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigurationError, TextTooLong
from . import ggufcheck

_native_log = logging.getLogger("funcgemma.llama_cpp")
_LOG_CALLBACK: Any = None


def _import_llama() -> Any:
    global _LOG_CALLBACK
    try:
        import llama_cpp
    except ImportError as exc:
        raise ConfigurationError(
            "The embedded backend needs llama-cpp-python: run ./setup.sh, which builds it "
            "portable (CMAKE_ARGS=-DGGML_NATIVE=OFF). Or use --backend ollama."
        ) from exc
    if _LOG_CALLBACK is None:
        # llama.cpp writes its own notes to stderr; send them to logging at DEBUG instead
        # (kept referenced: ctypes must not collect the callback while C holds it).
        @llama_cpp.llama_log_callback  # type: ignore[misc]
        def _forward(level: int, text: bytes, user_data: ctypes.c_void_p) -> None:
            _native_log.debug("%s", text.decode("utf-8", errors="replace").rstrip())

        _LOG_CALLBACK = _forward
        llama_cpp.llama_log_set(_LOG_CALLBACK, ctypes.c_void_p(0))
    return llama_cpp


def load_llama(path: Path, *, n_ctx: int, n_threads: int | None, lora: Path | None = None,
               n_batch: int = 256, checked: bool = False) -> Any:
    """A Llama over ``path`` (and ``lora``), their headers checked first (ggufcheck, a
    tenth of a second): llama.cpp can crash the process on a file it does not expect.
    ``checked``: the caller checked them already (make_embedded, with weights.checked)."""
    if not checked:
        base = ggufcheck.check_model(path, str(path))
        if lora is not None:
            ggufcheck.check_adapter(lora, str(lora), base, str(path))
    llama_cpp = _import_llama()
    kwargs: dict[str, Any] = {"model_path": str(path), "n_ctx": n_ctx, "n_batch": n_batch,
                              "n_threads": n_threads or max(1, min(4, os.cpu_count() or 1)),
                              "verbose": False, "logits_all": False}
    if lora is not None:
        kwargs["lora_path"] = str(lora)
    try:
        return llama_cpp.Llama(**kwargs)
    except (ValueError, RuntimeError, OSError) as exc:
        raise ConfigurationError(f"llama.cpp could not load {path}"
                                 f"{' with adapter ' + str(lora) if lora else ''}: {exc}") from exc


class LlamaEngine:
    """A Llama seen as one growing token sequence (the decoder's Engine)."""

    def __init__(self, llm: Any) -> None:
        self.llm = llm
        self.n_vocab = llm.n_vocab()
        self.n_ctx = llm.n_ctx()
        self.evaluated = 0  # tokens run through the model, for tests and benchmarks

    @property
    def n_tokens(self) -> int:
        return int(self.llm.n_tokens)

    @property
    def tokens(self) -> list[int]:
        return [int(t) for t in self.llm.input_ids[: self.llm.n_tokens]]

    def truncate(self, n_tokens: int) -> None:
        self.llm.n_tokens = min(n_tokens, self.llm.n_tokens)

    def feed(self, tokens: Sequence[int], *, all_logits: bool = False) -> np.ndarray:
        llm = self.llm
        if llm.n_tokens + len(tokens) > self.n_ctx:
            raise TextTooLong(f"The prompt needs more than the router's {self.n_ctx}-token "
                              "context; send a shorter message.")
        llm._ctx.kv_cache_seq_rm(-1, llm.n_tokens, -1)
        rows: list[np.ndarray] = []
        for i in range(0, len(tokens), llm.n_batch):
            chunk = list(tokens[i : i + llm.n_batch])
            n_past = llm.n_tokens
            llm._batch.set_batch(batch=chunk, n_past=n_past, logits_all=all_logits)
            llm._ctx.decode(llm._batch)
            llm.input_ids[n_past : n_past + len(chunk)] = chunk
            llm.n_tokens += len(chunk)
            n_out = len(chunk) if all_logits else 1
            out = np.ctypeslib.as_array(llm._ctx.get_logits(), shape=(n_out * self.n_vocab,))
            rows.append(out.reshape(n_out, self.n_vocab).copy())
        self.evaluated += len(tokens)
        return np.concatenate(rows) if all_logits else rows[-1]

    def prefill(self, ids: Sequence[int], *, reuse_at_most: int | None = None
                ) -> tuple[np.ndarray, int]:
        """Evaluate ``ids`` reusing the longest common prefix already in the KV cache (at
        most ``reuse_at_most`` tokens). Returns the last logits and how many tokens were
        actually evaluated."""
        have = self.tokens
        k = 0
        for a, b in zip(have, ids, strict=False):
            if a != b:
                break
            k += 1
        k = min(k, len(ids) - 1)  # at least one token, to get logits
        if reuse_at_most is not None:
            k = min(k, reuse_at_most)
        self.truncate(k)
        logits = self.feed(ids[k:])
        return logits[-1], len(ids) - k
