"""OpenAI client exceptions as funcgemma errors, in one place for OpenAIBackend: each
names the setting that fixes it (the server's address, the model's name, the key), and
a busy server's Retry-After goes back to funcgemma's caller."""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import httpx2
import openai

from ..errors import (
    BackendBusy,
    BackendError,
    BackendTimeout,
    BackendUnavailable,
    FuncgemmaError,
)

_MODEL_WORD = re.compile(r"\bmodel\b", re.IGNORECASE)


def _server_message(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, Mapping):
        for key in ("message", "detail", "error"):
            if isinstance(body.get(key), str):
                return str(body[key])[:300]
            if isinstance(body.get(key), Mapping) and isinstance(body[key].get("message"), str):
                return str(body[key]["message"])[:300]
    text = body if isinstance(body, str) else exc.response.text
    return (text or exc.response.reason_phrase or "").strip()[:300]


def _retry_after(exc: openai.APIStatusError) -> int | None:
    """Retry-After in whole seconds (at least 1), when the server sent a number."""
    value = exc.response.headers.get("retry-after", "")
    try:
        seconds = float(value)
    except ValueError:
        return None
    return max(1, math.ceil(seconds)) if math.isfinite(seconds) and seconds >= 0 else None


def model_setting(role: str) -> str:
    """The setting that names the model of ``role``."""
    return "FUNCGEMMA_OPENAI_CHAT_MODEL" if role == "chat" else "FUNCGEMMA_OPENAI_ROUTER_MODEL"


@contextmanager
def translate(url: str, model: str, *, role: str, raw_prompt: bool) -> Iterator[None]:
    """Library exceptions as funcgemma errors, each naming the setting that fixes it:
    ``url`` is the server's address, ``model`` the model asked for in ``role``."""
    url_setting = (
        "FUNCGEMMA_OPENAI_CHAT_BASE_URL (or FUNCGEMMA_OPENAI_BASE_URL)"
        if role == "chat"
        else "FUNCGEMMA_OPENAI_BASE_URL"
    )
    try:
        yield
    except FuncgemmaError:
        raise
    # APITimeoutError is an APIConnectionError: it goes first. The httpx2 errors come
    # through as they are while a streamed reply is being read.
    except (openai.APITimeoutError, httpx2.TimeoutException) as exc:
        raise BackendTimeout(
            f"The OpenAI-compatible server at {url} did not answer in time (model "
            f"{model}). Raise FUNCGEMMA_ROUTE_TIMEOUT_S (routing) or "
            "FUNCGEMMA_TIMEOUT_S (chat), or check the server is not overloaded."
        ) from exc
    except openai.APIConnectionError as exc:
        raise BackendUnavailable(
            f"Cannot reach the OpenAI-compatible server at {url}. Is it running? "
            f"Set {url_setting} if it listens elsewhere."
        ) from exc
    except httpx2.HTTPError as exc:
        raise BackendUnavailable(
            f"Lost the connection to the OpenAI-compatible server "
            f"at {url}: {type(exc).__name__}."
        ) from exc
    except openai.APIStatusError as exc:
        raise _status_error(exc, url, url_setting, model, role=role,
                            raw_prompt=raw_prompt) from exc
    except openai.APIError as exc:  # an error event inside a 200 stream, a bad body
        raise BackendError(
            f"The OpenAI-compatible server at {url} failed while "
            f"answering ({model}): {exc.message[:300]}"
        ) from exc
    except (ValueError, KeyError, TypeError, AttributeError, IndexError) as exc:
        # a body that is not the JSON, or not the shape, an OpenAI server sends
        raise BackendError(
            f"The OpenAI-compatible server at {url} sent a response "
            f"funcgemma cannot read: {type(exc).__name__}: "
            f"{str(exc)[:200]}"
        ) from exc

def _status_error(
    exc: openai.APIStatusError, url: str, url_setting: str, model: str, *, role: str,
    raw_prompt: bool,
) -> FuncgemmaError:
    status, message = exc.status_code, _server_message(exc)
    if status in (429, 503):  # a full queue or a rate limit: come back later
        return BackendBusy(
            f"The OpenAI-compatible server at {url} is busy ({status}: "
            f"{message}); try again shortly.",
            retry_after=_retry_after(exc),
        )
    if status == 404:
        path = exc.request.url.path
        # vLLM: "The model `x` does not exist."; a 404 for GET /models is a wrong address
        if not path.endswith("/models") and (
            model in message or _MODEL_WORD.search(message)
        ):
            return BackendUnavailable(
                f"The server at {url} has no model {model!r} ({message}): set "
                f"{model_setting(role)} to a model it serves (GET {url}/models)."
            )
        need = (
            " (FUNCGEMMA_OPENAI_ROUTER_PROMPT=raw needs /v1/completions; "
            "`tools` uses /v1/chat/completions)"
            if raw_prompt
            else ""
        )
        return BackendUnavailable(
            f"{url} answered 404 for {path}{need}: set {url_setting} to the server's "
            "OpenAI address, ending in /v1, such as http://127.0.0.1:8080/v1."
        )
    if status in (401, 403):
        error = BackendError(
            f"The server at {url} refused funcgemma ({status}: "
            f"{message}): set FUNCGEMMA_OPENAI_API_KEY to its key."
        )
        error.retryable = False
        return error
    error = BackendError(
        f"The OpenAI-compatible server at {url} answered {status} for {model}: {message}"
    )
    # the server refused the request itself: the same request gets the same answer
    error.retryable = not (400 <= status < 500 and status != 408)
    return error
