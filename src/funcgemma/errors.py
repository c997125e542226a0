"""The whole funcgemma exception tree, in one place.

    FuncgemmaError                    500 internal            (never raised for client/model causes)
    ├── InvalidRequest                422 invalid_request
    │   ├── TextTooLong               413 text_too_long
    │   └── IdempotencyKeyReused      422 idempotency_key_reused  (same key, another request)
    ├── IdempotencyKeyInProgress      409 idempotency_key_in_progress  retryable
    ├── NotFound                      404 not_found
    ├── Unauthorized                  401 unauthorized
    ├── ConfigurationError            500 configuration_error  (bad registry, missing weights, ...)
    ├── BackendUnavailable            503 backend_unavailable  retryable, Retry-After
    │   └── BackendBusy               503 backend_busy         retryable, Retry-After (queue full)
    ├── StorageUnavailable            503 storage_unavailable  retryable, Retry-After
    │   └── DatabaseUnusable          503 storage_unavailable  (also a ConfigurationError)
    ├── Forbidden                     403 forbidden
    │   ├── ForbiddenHost             403 forbidden_host    (not loopback, on a loopback server)
    │   └── ForbiddenOrigin           403 forbidden_origin  (a web page not in FUNCGEMMA_ORIGINS)
    ├── UnsupportedMediaType          415 unsupported_media_type  (a body that is not JSON)
    ├── BackendTimeout                504 backend_timeout      retryable
    ├── BackendError                  502 backend_error        (the backend answered with an error)
    └── ModelOutputError              502 bad_model_output     (raw text attached)
        └── ToolChoiceUnmet           502 tool_choice_unmet    (a call was required; none made)

Each class carries ``status_code``, ``code`` and ``retryable`` so the API layer
maps every error with one handler and the CLI prints ``message`` without a traceback.
"""

from __future__ import annotations


class FuncgemmaError(Exception):
    status_code: int = 500
    code: str = "internal"
    retryable: bool = False
    retry_after: int | None = None

    def __init__(self, message: str, *, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if retry_after is not None:
            self.retry_after = retry_after

    def to_dict(self) -> dict[str, object]:
        return {"error": {"code": self.code, "message": self.message, "retryable": self.retryable}}


class InvalidRequest(FuncgemmaError):
    status_code = 422
    code = "invalid_request"


class TextTooLong(InvalidRequest):
    status_code = 413
    code = "text_too_long"


class IdempotencyKeyReused(InvalidRequest):
    """An Idempotency-Key sent again with another method, path or body."""

    code = "idempotency_key_reused"


class IdempotencyKeyInProgress(FuncgemmaError):
    """The first request with this Idempotency-Key has not answered yet."""

    status_code = 409
    code = "idempotency_key_in_progress"
    retryable = True


class NotFound(FuncgemmaError):
    status_code = 404
    code = "not_found"


class Unauthorized(FuncgemmaError):
    status_code = 401
    code = "unauthorized"


class ConfigurationError(FuncgemmaError):
    status_code = 500
    code = "configuration_error"


class BackendUnavailable(FuncgemmaError):
    status_code = 503
    code = "backend_unavailable"
    retryable = True
    retry_after = 5


class BackendBusy(BackendUnavailable):
    code = "backend_busy"
    retry_after = 1


class StorageUnavailable(FuncgemmaError):
    """The service's SQLite database cannot be opened or written (an unwritable data
    directory, a file that is not funcgemma's, a lock held too long)."""

    status_code = 503
    code = "storage_unavailable"
    retryable = True
    retry_after = 5


class DatabaseUnusable(StorageUnavailable, ConfigurationError):
    """The SQLite file in the data directory cannot be used: the directory is not
    writable, the file is damaged or another program's, a lock was held too long, a row
    was edited by hand. ``message`` names no path, because it reaches HTTP clients and
    chat replies; ``detail`` (also ``str(exc)``, so the log shows it) names the file, for
    the server's log and `funcgemma doctor`."""

    retryable = False  # a damaged file stays damaged; a lock held too long is retryable

    def __init__(self, message: str, *, detail: str | None = None,
                 retryable: bool | None = None) -> None:
        super().__init__(message)
        self.detail = detail or message
        if retryable is not None:
            self.retryable = retryable

    def __str__(self) -> str:
        return self.detail


class Forbidden(FuncgemmaError):
    """A request from a web page that the server does not take (api/browser.py)."""

    status_code = 403
    code = "forbidden"


class ForbiddenHost(Forbidden):
    """A Host header that is not loopback, sent to a loopback server (DNS rebinding)."""

    code = "forbidden_host"


class ForbiddenOrigin(Forbidden):
    """A state-changing request (or a preflight) from an origin not in FUNCGEMMA_ORIGINS."""

    code = "forbidden_origin"


class UnsupportedMediaType(FuncgemmaError):
    """A request body sent as something other than JSON (a form post from a web page)."""

    status_code = 415
    code = "unsupported_media_type"


class BackendTimeout(FuncgemmaError):
    status_code = 504
    code = "backend_timeout"
    retryable = True


class BackendError(FuncgemmaError):
    status_code = 502
    code = "backend_error"
    retryable = True


class ModelOutputError(FuncgemmaError):
    """The model answered, but neither native tool calls nor the fallback parser
    could turn its output into a valid call. The raw text is kept for debugging."""

    status_code = 502
    code = "bad_model_output"
    # the router decodes greedily: the same text gets the same output again (rephrasing
    # may help, retrying does not)
    retryable = False

    def __init__(self, message: str, *, raw: str = "") -> None:
        super().__init__(message)
        self.raw = raw


class ToolChoiceUnmet(ModelOutputError):
    """A call was required (OpenAI's ``tool_choice`` "required" or a named function) and
    the model made none that could be used. The router decodes greedily, so asking again
    gives the same answer."""

    code = "tool_choice_unmet"
