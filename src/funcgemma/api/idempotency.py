"""``Idempotency-Key`` on the routes that change state: the HTTP side of ..idempotency.

A route takes ``key: IdempotencyKey``, None without the header (the route then runs as it
always did). ``key.respond(action)`` serves a JSON route; a streamed /chat takes the steps
itself: ``begin`` (the first answer to replay, or the key is now ours), ``run``, then
``finish`` or ``release``. A 2xx answer, and a client error that a retry cannot change (a
404, a 422 of the route's own), are stored and given again with ``Idempotent-Replayed:
true``; a retryable or server error releases the key, so that a retry runs the request
again, its writes keyed so that nothing is done twice.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Header, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse, Response, StreamingResponse

from ..errors import ConfigurationError, FuncgemmaError, InvalidRequest, StorageUnavailable
from ..functions.context import keyed_request
from ..idempotency import (
    HEADER,
    REPLAYED_HEADER,
    Fingerprint,
    IdempotencyStore,
    Run,
    Stored,
    body_digest,
    parse_key,
    storage_unavailable,
)

T = TypeVar("T")
_OPENING = threading.Lock()


def idempotency_store(request: Request) -> IdempotencyStore:
    """The app's store, opened at the first request with a key: a service that never
    sees one never touches the table. A test may set ``app.state.idempotency`` first."""
    state = request.app.state
    with _OPENING:
        store: IdempotencyStore | None = getattr(state, "idempotency", None)
        if store is None:
            try:
                database = state.service.conversation.ctx.database()
            except StorageUnavailable:  # a 503 already, which says if a retry can help
                raise
            except ConfigurationError as exc:  # the data directory cannot be written
                raise storage_unavailable(exc) from exc
            store = state.idempotency = IdempotencyStore(database)
    return store


def replay(stored: Stored, stream: Callable[[Any], Iterator[str]] | None = None) -> Response:
    """The first request's answer again; ``stream`` turns a stored 200 into NDJSON."""
    headers = {REPLAYED_HEADER: "true"}
    if stream is not None and stored.status == 200:
        return StreamingResponse(
            stream(stored.body), media_type="application/x-ndjson", headers=headers
        )
    return JSONResponse(stored.body, status_code=stored.status, headers=headers)


@dataclass
class Keyed:
    """One request's key, from ``begin`` to its stored answer."""

    key: str
    fingerprint: Fingerprint
    open_store: Callable[[], IdempotencyStore]
    _store: IdempotencyStore | None = None
    _run: Run | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def begin(self) -> Stored | None:
        """The stored answer of this key's first request, or None: this request runs."""
        self._store = self.open_store()
        begun = self._store.begin(self.key, self.fingerprint)
        if isinstance(begun, Stored):
            return begun
        self._run = begun
        return None

    @property
    def action(self) -> str:
        """The key this request's writes are recorded under (FunctionContext.action_key)."""
        assert self._run is not None, "begin() first"
        return self._run.run_id

    def run(self, action: Callable[[], T]) -> T:
        """``action()`` with the request's key set for the handlers it runs. Its error is
        stored (a client error) or releases the key (retryable, or the server's)."""
        try:
            with keyed_request(self.action):
                return action()
        except FuncgemmaError as exc:
            if exc.retryable or exc.status_code >= 500:
                self.release()
            else:
                self.finish(exc.to_dict(), exc.status_code)
            raise
        except BaseException:
            self.release()
            raise

    def finish(self, result: Any, status: int = 200) -> Any:
        """Store the answer (once) and return it as JSON-able data."""
        body = jsonable_encoder(result)
        with self._lock:
            run, self._run = self._run, None
        if run is not None and self._store is not None:
            self._store.finish(run, status, body)
        return body

    def release(self) -> None:
        """Let a retry run the request again; nothing once the answer is stored."""
        with self._lock:
            run, self._run = self._run, None
        if run is not None and self._store is not None:
            self._store.release(run)

    def respond(self, action: Callable[[str], Any]) -> Response:
        """A JSON route: the first answer again, or ``action(self.action)`` run, stored
        and answered."""
        stored = self.begin()
        if stored is not None:
            return replay(stored)
        run_id = self.action
        return JSONResponse(self.finish(self.run(lambda: action(run_id))))


async def _keyed(
    request: Request,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias=HEADER,
            description="1-255 visible ASCII characters (a UUID), new for each request: the "
            "same key within 24 h returns the first answer (`Idempotent-Replayed: true`) and "
            "does nothing again.",
        ),
    ] = None,
) -> Keyed | None:
    if idempotency_key is None:
        return None
    if len(request.headers.getlist(HEADER)) > 1:
        raise InvalidRequest(f"Send one `{HEADER}` header, not several.")
    key = parse_key(idempotency_key)
    query = request.url.query
    path = request.url.path + (f"?{query}" if query else "")
    digest = body_digest(await request.body())  # read already: FastAPI keeps it
    return Keyed(key, Fingerprint(request.method, path, digest), lambda: idempotency_store(request))


IdempotencyKey = Annotated["Keyed | None", Depends(_keyed)]

__all__ = ["IdempotencyKey", "Keyed", "idempotency_store", "replay"]
