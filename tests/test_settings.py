"""Settings: every numeric value the model accepts can be used by the code that reads it,
and every value it refuses is one "invalid setting: FUNCGEMMA_X: ..." line (property
tests over the environment, as `get_settings()` reads it)."""

from __future__ import annotations

import ctypes
import math
import os
import threading
import time
import types
import typing
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from unittest import mock

import httpx
import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from funcgemma.backends.fairlock import FairLock
from funcgemma.errors import ConfigurationError
from funcgemma.facts.etiquette import Pacer
from funcgemma.formats import functiongemma as fg
from funcgemma.registry import default_registry
from funcgemma.router import Router, check_text
from funcgemma.settings import (
    MAX_CTX,
    MIN_CHAT_CTX,
    MIN_ROUTER_CTX,
    NAME_PRIOR_MAX,
    ROUTER_PROMPT_TOKENS,
    Settings,
    get_settings,
)
from funcgemma.types import Message


@contextmanager
def environment(**env: str) -> Iterator[None]:
    get_settings.cache_clear()
    try:
        with mock.patch.dict(os.environ, env):
            yield
    finally:
        get_settings.cache_clear()


def load(variable: str, value: str) -> Settings:
    with environment(**{variable: value}):
        return get_settings()


def _timeout(value: float) -> None:
    # what FairLock's Condition.wait_for, Event.wait and queue.get end in: a lock acquired
    # with this timeout (threading refused inf and 1e300 with OverflowError, per request)
    assert 0 < value <= threading.TIMEOUT_MAX
    lock = threading.Lock()
    assert lock.acquire(timeout=value)
    lock.release()
    httpx.Timeout(value)  # the Ollama and weather clients


def _router_ctx(value: int) -> None:
    assert MIN_ROUTER_CTX <= value <= MAX_CTX
    assert value >= ROUTER_PROMPT_TOKENS + 128  # the declarations and a call's budget


def _chat_ctx(value: int) -> None:
    assert MIN_CHAT_CTX <= value <= MAX_CTX
    assert value - 512 >= 512  # the reply's budget leaves room for the prompt


def _queue_size(value: int) -> None:
    with FairLock(max_waiting=value, timeout_s=1.0).hold():  # a first request gets a turn
        pass


def _max_text_chars(value: int) -> None:
    assert check_text("a" * min(value, 100), max_chars=value)  # a message that long passes


def _history_turns(value: int) -> None:
    deque(maxlen=2 * value)  # a huge value overflowed here (OverflowError)


def _max_sessions(value: int) -> None:
    assert 1 <= value < 2**31


def _n_threads(value: int | None) -> None:
    if value is not None:
        assert value >= 1 and ctypes.c_int32(value).value == value  # llama.cpp's int32


def _call_bias(value: float | None) -> None:
    if value is not None:
        assert math.isfinite(value) and math.isfinite(value + 1e3)  # compared with margins


def _name_prior(value: float | None) -> None:
    if value is not None:
        assert math.isfinite(value) and 0 <= value <= NAME_PRIOR_MAX


def _facts_cache_age(value: int) -> None:
    assert 0 <= value and math.isfinite(time.time() - value)  # compared with fetched_at


def _facts_rate(value: float) -> None:
    pacer = Pacer()  # the first request goes at once, the next within 100 s
    assert pacer.wait(value, 0.0) and 0 < 1.0 / value <= 100


# every numeric setting and what checks that the code reading it can use it
USES: dict[str, Callable[[Any], None]] = {
    "router_num_ctx": _router_ctx,
    "embedded_router_n_ctx": _router_ctx,
    "chat_num_ctx": _chat_ctx,
    "embedded_chat_n_ctx": _chat_ctx,
    "timeout_s": _timeout,
    "route_timeout_s": _timeout,
    "queue_timeout_s": _timeout,
    "weather_timeout_s": _timeout,
    "facts_timeout_s": _timeout,
    "facts_cache_max_age_s": _facts_cache_age,
    "facts_max_requests_per_s": _facts_rate,
    "queue_size": _queue_size,
    "max_text_chars": _max_text_chars,
    "history_turns": _history_turns,
    "max_sessions": _max_sessions,
    "n_threads": _n_threads,
    "router_call_bias": _call_bias,
    "router_name_prior": _name_prior,
}


def _is_numeric(annotation: Any) -> bool:
    args = typing.get_args(annotation) if isinstance(annotation, types.UnionType) else (annotation,)
    return any(a in (int, float) for a in args)


def test_settings_every_numeric_field_has_a_use_check() -> None:
    numeric = {
        name for name, field in Settings.model_fields.items() if _is_numeric(field.annotation)
    }
    assert numeric == set(USES), "a numeric setting needs a check of its real range here"


def test_settings_defaults_are_usable() -> None:
    settings = Settings()
    for name, use in USES.items():
        use(getattr(settings, name))


# what a user may type: numbers of every size and sign, in every spelling Python and
# pydantic read (and some they do not)
NUMBERS = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.floats(min_value=-1e6, max_value=1e6).map(lambda f: f"{f:.6f}"),
    st.sampled_from(
        [
            "inf",
            "-inf",
            "Infinity",
            "nan",
            "NaN",
            "1e309",
            "-1e309",
            "1e300",
            "5e-324",
            "0",
            "-0",
            "0.0",
            "1",
            "64",
            "512",
            "1023",
            "1024",
            "1025",
            "3600",
            "3600.0000001",
            "9223372036854775807",
            "9223372036854775808",
            "4611686018427387904",
            "131072",
            "131073",
            "1_000",
            "0x10",
            " 8 ",
            "",
            "  ",
            "ten",
            "1,5",
            "2.",
            ".5",
            "+7",
            "1e3",
            "4294967297",
            "2147483648",
            str(threading.TIMEOUT_MAX),
            str(threading.TIMEOUT_MAX * 2),
        ]
    ),
)


@hypothesis_settings(max_examples=400, database=None, derandomize=True, deadline=None)
@given(field=st.sampled_from(sorted(USES)), value=NUMBERS)
@pytest.mark.slow
def test_settings_accepted_values_are_usable_and_refused_ones_are_one_line(
    field: str, value: str
) -> None:
    variable = f"FUNCGEMMA_{field.upper()}"
    try:
        settings = load(variable, value)
    except ConfigurationError as exc:
        assert exc.message.startswith(f"invalid setting: {variable}: "), exc.message
        assert "\n" not in exc.message
        return
    USES[field](getattr(settings, field))


@pytest.mark.parametrize(
    ("variable", "value", "says"),
    [
        # every request that waited was a 500 (OverflowError) with these
        ("FUNCGEMMA_QUEUE_TIMEOUT_S", "inf", "finite"),
        ("FUNCGEMMA_QUEUE_TIMEOUT_S", "1e300", "less than or equal to 3600"),
        ("FUNCGEMMA_TIMEOUT_S", "nan", "finite"),
        ("FUNCGEMMA_WEATHER_TIMEOUT_S", "-inf", "finite"),
        # every request was "send a shorter message", with another size named
        ("FUNCGEMMA_EMBEDDED_ROUTER_N_CTX", "64", "use 1024 or more"),
        ("FUNCGEMMA_ROUTER_NUM_CTX", "512", "use 1024 or more"),
        ("FUNCGEMMA_EMBEDDED_CHAT_N_CTX", "100", "use 1024 or more"),
        ("FUNCGEMMA_CHAT_NUM_CTX", "99999999", "at most 131072"),
        ("FUNCGEMMA_HISTORY_TURNS", "4611686018427387904", "less than or equal to 1000"),
        ("FUNCGEMMA_N_THREADS", "4294967297", "less than or equal to 1024"),
        ("FUNCGEMMA_ROUTER_CALL_BIAS", "1e308", "less than or equal to 100"),
        ("FUNCGEMMA_ORIGINS", "http://app.example.com/path", "not an origin"),
        ("FUNCGEMMA_ORIGINS", "app.example.com", "not an origin"),
    ],
)
def test_settings_a_value_that_breaks_requests_is_refused_naming_it(
    variable: str, value: str, says: str
) -> None:
    with pytest.raises(ConfigurationError) as caught:
        load(variable, value)
    message = caught.value.message
    assert message.startswith(f"invalid setting: {variable}: ") and says in message
    assert "your message" not in message and "\n" not in message


def test_settings_router_context_floor_names_the_prompt_size() -> None:
    with pytest.raises(ConfigurationError) as caught:
        load("FUNCGEMMA_EMBEDDED_ROUTER_N_CTX", "64")
    assert f"about {ROUTER_PROMPT_TOKENS} tokens" in caught.value.message
    assert load("FUNCGEMMA_EMBEDDED_ROUTER_N_CTX", "1024").embedded_router_n_ctx == 1024


@pytest.mark.parametrize(
    ("value", "extra"),
    [
        ("", ()),
        ("https://app.example.com", ("https://app.example.com",)),
        (
            " http://*.example.com , HTTPS://x.org:8080/ ",
            ("http://*.example.com", "https://x.org:8080"),
        ),
        ("*", ("*",)),
    ],
)
def test_settings_origins_add_to_the_loopback_ones(value: str, extra: tuple[str, ...]) -> None:
    patterns = load("FUNCGEMMA_ORIGINS", value).origin_patterns
    assert "http://localhost:*" in patterns and "http://[::1]" in patterns
    assert patterns[len(patterns) - len(extra) :] == extra


@pytest.mark.llamacpp
def test_settings_router_floor_holds_the_shipped_declarations() -> None:
    """Measured with the router's own tokenizer: the declarations of every shipped
    function, a short message and the router's call budget fit in MIN_ROUTER_CTX, and
    ROUTER_PROMPT_TOKENS (named in the error) is still about right. A function added to
    the registry that breaks this needs the floor raised."""
    import llama_cpp

    from funcgemma import weights

    llm = llama_cpp.Llama(
        model_path=str(weights.router_gguf(Settings())), vocab_only=True, verbose=False
    )
    segments = fg.render_prompt(
        default_registry().tools(), [Message(role="user", content="weather in Kyoto?")]
    )
    try:
        tokens = len(
            llm.tokenize(fg.prompt_text(segments).encode(), add_bos=False, special=True)
        )
    finally:
        llm.close()
    budget = Router.__init__.__kwdefaults__["max_tokens"]  # type: ignore[index]
    assert tokens + budget <= MIN_ROUTER_CTX, (tokens, budget)
    assert abs(tokens - ROUTER_PROMPT_TOKENS) <= 0.1 * ROUTER_PROMPT_TOKENS, tokens
