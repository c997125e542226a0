"""funcgemma on Ray Serve: the whole HTTP API (/route, /chat, /v1, ...) in replicas that
Ray starts, spreads requests over and scales (the `ray` extra).

    python -m funcgemma.rayserve --replicas 2 --port 8000      # a local Ray cluster
    python -m funcgemma.rayserve --min-replicas 1 --max-replicas 4 --address auto
    serve run funcgemma.rayserve:app_builder replicas=2          # Ray's own CLI (port 8000)

or from Python: ``serve.run(funcgemma.rayserve.application(Options(replicas=2)))``.
Every response carries ``x-funcgemma-replica`` (the replica's process id), so a client
or a test can tell the replicas apart.

Each replica builds its own conversation from the ``FUNCGEMMA_*`` settings of the process
that deploys it (they are passed to the replicas; the backend is chosen in each replica,
as `serve --workers N` does): with the embedded backend every replica holds its own
model; with ``--backend openai`` or Ollama the replicas share one model server
(docs/scaling.md). ``/route`` given ``history`` holds no state, so any replica answers it;
``session_id`` reads the session from the SQLite store under FUNCGEMMA_DATA_DIR, which
every replica on one host shares.

Only Ray's public API is used: the ingress is an ASGI callable that builds funcgemma's
app inside the replica on its first event (Ray runs the app's lifespan at replica start,
so a replica is ready once its models are loaded).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import FuncgemmaError

SETTINGS_PREFIX = "FUNCGEMMA_"


class DeployError(FuncgemmaError):
    """The Ray deployment's options are wrong (`serve run ... KEY=VALUE`)."""

    code = "invalid_request"


@dataclass(frozen=True)
class Options:
    """How funcgemma is deployed. ``min_replicas``/``max_replicas`` set: autoscaling
    between them (``replicas`` is then the starting number), else ``replicas`` fixed."""

    replicas: int = 2
    min_replicas: int | None = None
    max_replicas: int | None = None
    # autoscaling: requests in flight per replica that Ray aims for (one model per
    # replica decodes one request at a time: 1-2 keeps queues short)
    target_ongoing_requests: float = 2.0
    # CPUs Ray reserves for each replica (llama.cpp uses FUNCGEMMA_THREADS of them)
    num_cpus: float = 1.0
    # a request past this many in flight on one replica waits in Ray's proxy
    max_ongoing_requests: int = 8
    host: str = "127.0.0.1"  # where Ray's proxy listens (the API's host check reads it)
    env: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.replicas < 1:
            raise DeployError(f"replicas must be at least 1 (got {self.replicas})")
        if (self.min_replicas is None) != (self.max_replicas is None):
            raise DeployError("give min_replicas and max_replicas together")
        if self.min_replicas is not None and self.max_replicas is not None and not (
                0 <= self.min_replicas <= self.max_replicas and self.max_replicas >= 1):
            raise DeployError("need 0 <= min_replicas <= max_replicas, max_replicas >= 1 (got "
                              f"{self.min_replicas}, {self.max_replicas})")
        if self.num_cpus <= 0 or self.target_ongoing_requests <= 0 or \
                self.max_ongoing_requests < 1:
            raise DeployError("num_cpus and target_ongoing_requests must be positive, "
                              "max_ongoing_requests at least 1")

    @classmethod
    def from_args(cls, args: Mapping[str, str], environ: Mapping[str, str] | None = None
                  ) -> Options:
        """From `serve run funcgemma.rayserve:app_builder KEY=VALUE ...`; the FUNCGEMMA_*
        settings come from ``environ`` (the deploying process's environment)."""
        kinds: dict[str, Callable[[str], Any]] = {
            "replicas": int, "min_replicas": int, "max_replicas": int,
            "target_ongoing_requests": float, "num_cpus": float,
            "max_ongoing_requests": int, "host": str}
        unknown = sorted(set(args) - set(kinds))
        if unknown:
            raise DeployError(f"unknown option {', '.join(unknown)}; known: "
                              f"{', '.join(sorted(kinds))}")
        values: dict[str, Any] = {}
        for key, raw in args.items():
            try:
                values[key] = kinds[key](raw)
            except ValueError:
                raise DeployError(f"{key}={raw!r} is not a {kinds[key].__name__}") from None
        return cls(**values, env=settings_env(environ))

    def deployment(self) -> dict[str, Any]:
        """Keyword arguments for ``serve.deployment``."""
        out: dict[str, Any] = {
            "name": "funcgemma",
            "max_ongoing_requests": self.max_ongoing_requests,
            "ray_actor_options": {"num_cpus": self.num_cpus,
                                  "runtime_env": {"env_vars": dict(self.env)}},
        }
        if self.min_replicas is None:
            out["num_replicas"] = self.replicas
        else:
            out["autoscaling_config"] = {
                "min_replicas": self.min_replicas, "max_replicas": self.max_replicas,
                "initial_replicas": max(self.min_replicas,
                                        min(self.replicas, self.max_replicas or 1)),
                "target_ongoing_requests": self.target_ongoing_requests}
        return out


def settings_env(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The FUNCGEMMA_* settings of ``environ`` (default: this process's environment): what
    the replicas get."""
    env = os.environ if environ is None else environ
    return {k: v for k, v in env.items() if k.startswith(SETTINGS_PREFIX)}


class ReplicaApp:
    """The ASGI app a replica serves: funcgemma's FastAPI app, built from the replica's
    settings on the first event it sees (pickled to the replica without any model)."""

    def __init__(self, host: str) -> None:
        self.host = host
        self._app: ASGIApp | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {"host": self.host, "_app": None}

    def build(self) -> ASGIApp:
        if self._app is None:
            from .api import Service, create_app
            from .conversation import build_conversation
            from .settings import get_settings

            settings = get_settings()
            conversation, kind, reason = build_conversation(settings)
            app = create_app(Service(conversation, settings, kind,
                                     f"{reason}; Ray Serve replica {os.getpid()}",
                                     bind_host=self.host))
            self._app = app
            return app
        return self._app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        app = self.build()
        if scope.get("type") != "http":
            await app(scope, receive, send)
            return
        me = str(os.getpid()).encode()

        async def marked(message: Message) -> None:
            if message.get("type") == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []),
                                                  (b"x-funcgemma-replica", me)]}
            await send(message)

        await app(scope, receive, marked)


def application(options: Options | None = None) -> Any:
    """The Ray Serve application (``serve.run`` it)."""
    from ray import serve

    options = options or Options(env=settings_env())

    class FuncgemmaReplica:
        pass

    replica = serve.deployment(**options.deployment())(
        serve.ingress(ReplicaApp(options.host))(FuncgemmaReplica))
    return replica.bind()


def app_builder(args: dict[str, str]) -> Any:
    """`serve run funcgemma.rayserve:app_builder replicas=2` (Ray's application builder)."""
    return application(Options.from_args(args))


def main(argv: list[str] | None = None) -> int:
    """`python -m funcgemma.rayserve`: deploy on Ray (a local cluster, or ``--address``)
    and serve until Ctrl-C, then take the deployment down."""
    import argparse
    import sys
    import time

    ap = argparse.ArgumentParser(prog="python -m funcgemma.rayserve",
                                 description="serve funcgemma's HTTP API on Ray Serve")
    ap.add_argument("--replicas", type=int, default=2,
                    help="replicas (fixed, or autoscaling's start)")
    ap.add_argument("--min-replicas", type=int, default=None, help="autoscale from this many")
    ap.add_argument("--max-replicas", type=int, default=None, help="autoscale up to this many")
    ap.add_argument("--num-cpus", type=float, default=1.0, help="CPUs Ray reserves per replica")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8000)
    ap.add_argument("--address", default=None,
                    help="a running Ray cluster (auto, or ray://HOST:PORT); default: start one")
    args = ap.parse_args(argv)
    try:
        options = Options(replicas=args.replicas, min_replicas=args.min_replicas,
                          max_replicas=args.max_replicas, num_cpus=args.num_cpus,
                          host=args.host, env=settings_env())
    except DeployError as exc:
        ap.error(exc.message)
    import ray
    from ray import serve

    try:
        ray.init(address=args.address, include_dashboard=False, log_to_driver=False)
    except (OSError, RuntimeError, ConnectionError, ValueError) as exc:
        print(f"funcgemma: Ray could not start: {exc}", file=sys.stderr)
        return 1
    try:
        serve.start(http_options={"host": args.host, "port": args.port})
        try:
            serve.run(application(options), name="funcgemma", route_prefix="/")
        except RuntimeError as exc:  # a replica that cannot start fails the deployment
            print(f"funcgemma: the deployment failed: {exc}", file=sys.stderr)
            return 1
        print(f"funcgemma: Ray Serve on http://{args.host}:{args.port} "
              f"({options.deployment().get('num_replicas', 'autoscaling')} replicas)",
              flush=True)
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        return 0
    finally:
        serve.shutdown()
        ray.shutdown()


if __name__ == "__main__":
    raise SystemExit(main())
