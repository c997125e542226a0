"""All configuration, read once at the edge with get_settings() and passed in."""

from __future__ import annotations

import threading
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import platformdirs
import regex
from pydantic import (
    AfterValidator,
    AliasChoices,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from .errors import ConfigurationError

# the name prior's range (FUNCGEMMA_ROUTER_NAME_PRIOR, tools/finetune.py --name-prior)
NAME_PRIOR_MAX = 2.0
# The longest any time-out may be. A larger one (inf, 1e300) passed validation and then
# failed every request that waited: threading refuses a timeout over threading.TIMEOUT_MAX
# with OverflowError, raised only when the first request queues.
MAX_TIMEOUT_S = 3600.0
assert MAX_TIMEOUT_S <= threading.TIMEOUT_MAX
# Context sizes in tokens. The router's prompt holds every function's declaration before
# the message: ROUTER_PROMPT_TOKENS, measured over the shipped functions (formats/
# functiongemma, Gemma 3 tokenizer; tests/test_settings.py measures it again). With the 128
# tokens the router may write a call in, a smaller context than MIN_ROUTER_CTX failed every
# request, telling the user to send a shorter message.
ROUTER_PROMPT_TOKENS = 888
MIN_ROUTER_CTX = 1024
# the chat model's context holds its reply (512 tokens), the system prompt and the message
MIN_CHAT_CTX = 1024
MAX_CTX = 131_072  # Gemma 3's longest; a larger one only allocates memory no model uses
# counts with no natural limit, bounded where a mistake would exhaust memory or overflow
MAX_QUEUE_SIZE = 10_000
MAX_TEXT_CHARS = 1_000_000  # the request body is limited to 1 MB anyway
MAX_HISTORY_TURNS = 1_000
MAX_SESSIONS = 1_000_000
MAX_THREADS = 1_024
MAX_CALL_BIAS = 100.0  # a log-probability margin: far beyond any calibrated value


def _default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir("funcgemma", appauthor=False))


def _default_cache_dir() -> Path:
    return Path(platformdirs.user_cache_dir("funcgemma", appauthor=False)) / "encoder"


# one entry of FUNCGEMMA_ORIGINS: scheme://host[:port], `*` wildcards in the host and port
_ORIGIN = regex.compile(
    r"[a-z][a-z0-9+.-]*://(?:[a-z0-9*_.-]+|\[[0-9a-f:.*]+\])(?::(?:\d{1,5}|\*))?", regex.I)
# loopback pages may call the API from a browser, on any port (as Ollama allows them)
LOOPBACK_ORIGINS = tuple(f"{scheme}://{host}{port}" for scheme in ("http", "https")
                         for host in ("localhost", "127.0.0.1", "[::1]") for port in ("", ":*"))
_SECONDS = regex.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)")
_GO_DURATION = regex.compile(r"[-+]?(?:0|(?:(?:\d+\.?\d*|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))+)")


MAX_HOME_PLACE_CHARS = 100
_PLACE_CONTROL = regex.compile(r"[\p{Cc}\p{Cs}]")


def home_place(value: str | None) -> str | None:
    """A home place as given (spaces around it taken off; empty is none), or ValueError:
    a place is one line of printable text."""
    if value is None or not value.strip():
        return None
    if _PLACE_CONTROL.search(value):
        raise ValueError("a home place is one line of text, with no control characters")
    return " ".join(value.split())


# a home place wherever one is taken (the setting, /route, /chat)
HomePlace = Annotated[str | None, Field(max_length=MAX_HOME_PLACE_CHARS),
                      AfterValidator(home_place)]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FUNCGEMMA_", extra="ignore",
                                      populate_by_name=True)

    # `openai` is never chosen by `auto`: it is used where it is named
    backend: Literal["auto", "ollama", "llamacpp", "openai"] = "auto"
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
    # context sizes: bounds checked by _context_fits, which says why
    router_num_ctx: int = 2048
    chat_num_ctx: int = 4096
    timeout_s: float = Field(default=60.0, gt=0, le=MAX_TIMEOUT_S, allow_inf_nan=False)
    route_timeout_s: float = Field(default=30.0, gt=0, le=MAX_TIMEOUT_S, allow_inf_nan=False)
    # An OpenAI-compatible server (vLLM, llama-server, LM Studio, a hosted endpoint).
    # The key is sent as the bearer token ("none" when unset); OPENAI_API_KEY is not read.
    openai_base_url: str = "http://127.0.0.1:8080/v1"
    openai_api_key: str | None = None
    openai_router_model: str = "google/functiongemma-270m-it"
    openai_chat_model: str = "google/gemma-3-4b-it"
    openai_chat_base_url: str | None = None  # None: the router's server
    # "tools": /v1/chat/completions with tools (the server parses the calls, e.g. vLLM's
    # FunctionGemma parser). "raw": funcgemma renders the prompt and calls /v1/completions,
    # for a server that serves funcgemma's fine-tuned router without a tool parser.
    openai_router_prompt: Literal["tools", "raw"] = "tools"
    # Embedded llama.cpp
    router_gguf: Path | None = None
    chat_gguf: Path | None = None
    router_lora: Path | None = None
    use_default_adapter: bool = True
    router_call_bias: float | None = Field(default=None, ge=-MAX_CALL_BIAS, le=MAX_CALL_BIAS,
                                           allow_inf_nan=False)
    router_name_prior: float | None = Field(default=None, ge=0.0, le=NAME_PRIOR_MAX,
                                            allow_inf_nan=False)
    n_threads: int | None = Field(default=None, gt=0, le=MAX_THREADS)
    # The router's sentence encoder (funcgemma.encoder): "auto" is the one calibrated for
    # the adapter when its package is installed (the `embedded` extra), else none; "off"
    # routes with the model alone.
    encoder: Literal["auto", "off", "use", "e5", "use+e5"] = "auto"
    encoder_cache_dir: Path = Field(default_factory=_default_cache_dir)
    embedded_router_n_ctx: int = 4096
    embedded_chat_n_ctx: int = 2048
    queue_size: int = Field(default=64, gt=0, le=MAX_QUEUE_SIZE)
    queue_timeout_s: float = Field(default=30.0, gt=0, le=MAX_TIMEOUT_S, allow_inf_nan=False)
    # Service
    max_text_chars: int = Field(default=8000, gt=0, le=MAX_TEXT_CHARS)
    history_turns: int = Field(default=8, ge=0, le=MAX_HISTORY_TURNS)
    max_sessions: int = Field(default=1000, gt=0, le=MAX_SESSIONS)
    api_key: str | None = None
    # more browser origins allowed to send state-changing requests and read the answers,
    # beside LOOPBACK_ORIGINS: comma-separated, `*` wildcards in the host
    # ("https://*.example.com"), or `*` for any (as OLLAMA_ORIGINS)
    origins: str = ""
    data_dir: Path = Field(default_factory=_default_data_dir)
    weather_timeout_s: float = Field(default=8.0, gt=0, le=MAX_TIMEOUT_S, allow_inf_nan=False)
    weather_base_url: str = "https://api.open-meteo.com"
    geocoding_base_url: str = "https://geocoding-api.open-meteo.com"
    # facts for celebrity_info and travel_guide (funcgemma.facts); false: not looked up,
    # and the functions say so instead of answering from the model's memory
    facts_sources: bool = True
    # the user's home place: a weather request that names no place is for it, rather than
    # asked "Where?" (/chat and /route take `home_place` per request too)
    home_place: HomePlace = None
    wikipedia_url: str = "https://{lang}.wikipedia.org"  # {lang}: en or ja
    wikivoyage_url: str = "https://{lang}.wikivoyage.org"
    facts_timeout_s: float = Field(default=8.0, gt=0, le=MAX_TIMEOUT_S, allow_inf_nan=False)
    facts_cache_max_age_s: int = Field(default=7 * 24 * 3600, ge=0, le=10 * 365 * 24 * 3600)
    # Wikimedia asks for restraint (their REST API allows at most 200 requests/s); at the
    # slowest, one request in 100 s
    facts_max_requests_per_s: float = Field(default=5.0, ge=0.01, le=200, allow_inf_nan=False)

    @field_validator("wikipedia_url", "wikivoyage_url")
    @classmethod
    def _wiki_url_is_a_template(cls, value: str, info: ValidationInfo) -> str:
        value = value.strip().rstrip("/")
        name = str(info.field_name)
        fix = (f"set FUNCGEMMA_{name.upper()} to an http:// or https:// address with {{lang}} "
               f"where the language edition goes, e.g. {cls.model_fields[name].default}")
        try:
            parts = urlsplit(value.replace("{lang}", "en"))
            _ = parts.port  # reading the port is what checks it
        except ValueError:
            raise ValueError(f"{value[:80]!r} is not a URL; {fix}") from None
        if (parts.scheme not in ("http", "https") or not parts.hostname
                or "{lang}" not in value or regex.search(r"[{}\s]", value.replace("{lang}", ""))):
            raise ValueError(f"{value[:80]!r} is not such a template; {fix}")
        return value
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

    @field_validator("openai_base_url", "openai_chat_base_url")
    @classmethod
    def _openai_url_is_a_url(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return value
        value = value.strip().rstrip("/")
        fix = (f"set FUNCGEMMA_{str(info.field_name).upper()} to the server's OpenAI "
               "address, e.g. http://127.0.0.1:8080/v1")
        try:
            parts = urlsplit(value)
            _ = parts.port  # reading the port is what checks it
        except ValueError:
            raise ValueError(f"{value[:80]!r} is not a URL; {fix}") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{value[:80]!r} is not an http:// or https:// URL; {fix}")
        return value

    @field_validator("router_num_ctx", "embedded_router_n_ctx", "chat_num_ctx",
                     "embedded_chat_n_ctx")
    @classmethod
    def _context_fits(cls, value: int, info: ValidationInfo) -> int:
        # Too small fails every request ("send a shorter message", whatever was sent);
        # too large allocates a KV cache no model uses, or fails to load at all
        router = info.field_name in ("router_num_ctx", "embedded_router_n_ctx")
        floor = MIN_ROUTER_CTX if router else MIN_CHAT_CTX
        if value < floor:
            need = (f"the router's prompt with every function's declaration is about "
                    f"{ROUTER_PROMPT_TOKENS} tokens before the message" if router else
                    "the chat model's context holds its 512-token reply, the system "
                    "prompt, the message and the history")
            raise ValueError(f"{value} tokens is too small: {need}; use {floor} or more "
                             f"(default {cls.model_fields[str(info.field_name)].default})")
        if value > MAX_CTX:
            raise ValueError(f"{value} tokens is more than any supported model reads; "
                             f"use at most {MAX_CTX}")
        return value

    @field_validator("origins")
    @classmethod
    def _origins_are_origins(cls, value: str) -> str:
        for entry in _split_origins(value):
            if entry != "*" and not _ORIGIN.fullmatch(entry):
                raise ValueError(f"{entry[:80]!r} is not an origin: use scheme://host[:port] "
                                 "without a path, e.g. http://localhost:3000 or "
                                 "https://*.example.com, comma-separated")
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

    @property
    def origin_patterns(self) -> tuple[str, ...]:
        """Browser origins the API answers (FUNCGEMMA_ORIGINS and the loopback ones)."""
        return (*LOOPBACK_ORIGINS, *_split_origins(self.origins))


def _split_origins(value: str) -> list[str]:
    return [entry.strip().rstrip("/").lower() for entry in value.split(",") if entry.strip()]


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
