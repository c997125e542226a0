"""All configuration, read once at the edge with get_settings() and passed in."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import platformdirs
import regex
from pydantic import AliasChoices, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from .errors import ConfigurationError

# the name prior's range (FUNCGEMMA_ROUTER_NAME_PRIOR, tools/finetune.py --name-prior)
NAME_PRIOR_MAX = 2.0


def _default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir("funcgemma", appauthor=False))


_SECONDS = regex.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)")
_GO_DURATION = regex.compile(r"[-+]?(?:0|(?:(?:\d+\.?\d*|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))+)")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FUNCGEMMA_", extra="ignore",
                                      populate_by_name=True)

    backend: Literal["auto", "ollama", "llamacpp"] = "auto"
    # Ollama
    ollama_host: str = Field(
        default="http://127.0.0.1:11434",
        # Ollama's own OLLAMA_HOST is honoured when FUNCGEMMA_OLLAMA_HOST is not set
        validation_alias=AliasChoices("FUNCGEMMA_OLLAMA_HOST", "OLLAMA_HOST"),
    )
    router_model: str = "functiongemma"
    # "tools": /api/chat with tools (FunctionGemma, Ollama renders and parses the calls).
    # "raw": funcgemma renders the prompt and calls /api/generate raw, for a router built
    # from funcgemma's own fine-tune (Modelfile.finetuned).
    ollama_router_prompt: Literal["tools", "raw"] = "tools"
    chat_model: str = "gemma3:4b"
    # keep_alive=-1 keeps both models resident; the router is ~0.3 GB and gemma3:4b
    # ~3.3 GB with num_ctx 4096, which fits together in 8 GB of unified memory.
    keep_alive: str = "30m"
    router_num_ctx: int = Field(default=2048, gt=0)
    chat_num_ctx: int = Field(default=4096, gt=0)
    timeout_s: float = Field(default=60.0, gt=0)
    route_timeout_s: float = Field(default=30.0, gt=0)
    # Embedded llama.cpp
    router_gguf: Path | None = None
    chat_gguf: Path | None = None
    router_lora: Path | None = None
    use_default_adapter: bool = True
    router_call_bias: float | None = Field(default=None, allow_inf_nan=False)
    router_name_prior: float | None = Field(default=None, ge=0.0, le=NAME_PRIOR_MAX)
    n_threads: int | None = Field(default=None, gt=0)
    embedded_router_n_ctx: int = Field(default=4096, gt=0)
    embedded_chat_n_ctx: int = Field(default=2048, gt=0)
    queue_size: int = Field(default=64, gt=0)
    queue_timeout_s: float = Field(default=30.0, gt=0)
    # Service
    max_text_chars: int = Field(default=8000, gt=0)
    history_turns: int = Field(default=8, ge=0)
    max_sessions: int = Field(default=1000, gt=0)
    api_key: str | None = None
    data_dir: Path = Field(default_factory=_default_data_dir)
    weather_timeout_s: float = Field(default=8.0, gt=0)
    weather_base_url: str = "https://api.open-meteo.com"
    geocoding_base_url: str = "https://geocoding-api.open-meteo.com"
    timezone: str | None = None
    # how a numeric date such as 3/12 is read; None: from the locale (LC_TIME, LANG)
    date_order: Literal["MDY", "DMY", "YMD"] | None = None

    @field_validator("ollama_host")
    @classmethod
    def _ollama_host_is_a_url(cls, value: str) -> str:
        # Parsed here as ollama.Client parses it ("host", "host:port" or a URL), so a typo
        # is one invalid-setting line at every entry point, not a ValueError from inside
        # the client when the first backend is built.
        scheme, sep, rest = value.partition("://")
        if not sep:
            scheme, rest = "http", value
        fix = "set FUNCGEMMA_OLLAMA_HOST (or OLLAMA_HOST) to e.g. http://127.0.0.1:11434"
        if scheme not in ("http", "https"):
            raise ValueError(f"{value!r} is not an http:// or https:// URL; {fix}")
        try:
            parts = urlsplit(f"{scheme}://{rest}")
            _ = parts.port  # reading the port is what checks it
        except ValueError as exc:
            raise ValueError(f"{value!r} is not a host URL ({exc}); {fix}") from None
        # A path is kept (Ollama behind a proxy at https://host/ollama), but one ending in
        # /v1 (the OpenAI-style address) or /api is a mistake that makes every call a 404
        if regex.search(r"/(?:v1|api)(?:/.*)?$", parts.path.rstrip("/"), regex.I):
            raise ValueError(f"{value!r} ends in {parts.path}; funcgemma needs Ollama's own "
                             f"address, without /v1 or /api: {fix}")
        return value

    @field_validator("keep_alive")
    @classmethod
    def _keep_alive_is_a_duration(cls, value: str) -> str:
        # Ollama reads a number as seconds (negative: for ever) and a string as a Go
        # duration; anything else is a 400 on every request, so refuse it here
        value = value.strip()
        if not (_SECONDS.fullmatch(value) or _GO_DURATION.fullmatch(value)):
            raise ValueError(f"{value!r} is neither a number of seconds (-1: for ever) nor a "
                             "duration such as 30m or 1h30m")
        return value

    @field_validator("date_order", mode="before")
    @classmethod
    def _date_order_any_case(cls, value: object) -> object:
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator("timezone")
    @classmethod
    def _timezone_is_a_zone(cls, value: str | None) -> str | None:
        # checked here, not when the first backend is built, whose error would read as
        # "no model backend is available"
        if value is None:
            return value
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not a time zone name; use one like 'Asia/Tokyo' "
                             "or 'Europe/Paris'") from None
        return value

    @property
    def reminders_db(self) -> Path:
        return self.data_dir / "reminders.sqlite3"


def describe_invalid(exc: ValidationError) -> str:
    """One line naming each bad variable and why."""
    problems = []
    for e in exc.errors():
        name = "_".join(map(str, e["loc"])).upper()
        if not name.startswith("FUNCGEMMA_"):  # a field with an alias is named by it
            name = f"FUNCGEMMA_{name}"
        problems.append(f"{name}: {e['msg']}")
    return "; ".join(problems)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The settings from the environment; a bad value raises ConfigurationError naming
    the variable (the tools print it as one line and exit 2)."""
    try:
        return Settings()
    except ValidationError as exc:
        raise ConfigurationError(f"invalid setting: {describe_invalid(exc)}") from None
