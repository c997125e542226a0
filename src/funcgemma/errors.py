"""The whole funcgemma exception tree, in one place.

    FuncgemmaError                    500 internal            (never raised for client/model causes)
    ├── InvalidRequest                422 invalid_request
    │   └── TextTooLong               413 text_too_long
    ├── NotFound                      404 not_found
    ├── Unauthorized                  401 unauthorized
    ├── ConfigurationError            500 configuration_error  (bad registry, missing weights, ...)
    ├── BackendUnavailable            503 backend_unavailable  retryable, Retry-After
    │   └── BackendBusy               503 backend_busy         retryable, Retry-After (queue full)
    ├── BackendTimeout                504 backend_timeout      retryable
    ├── BackendError                  502 backend_error        (the backend answered with an error)
    └── ModelOutputError              502 bad_model_output     (raw text attached)

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
