"""FunctionSpec and FunctionRegistry: the functions the router may call.

A function is one declarative module (or package) under ``funcgemma.functions`` exposing
``SPEC``. The pydantic params model is the prompt surface: its docstring and field
descriptions are what the router model reads, and each field's role (funcgemma.roles,
``Annotated`` metadata) is what argument repair reads.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import pkgutil
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

from .errors import ConfigurationError
from .repair import repair
from .roles import Role, roles_of
from .types import Call, Declarations

if TYPE_CHECKING:
    from .functions.context import FunctionContext
    from .plugins import FunctionHooks
    from .results import Result

# a handler returns results.Done (data, a notice, what the chat model should say) or Failed
Handler = Callable[[Any, "FunctionContext"], "Result"]

_JSON_TYPES = {"string", "integer", "number", "boolean", "array", "object"}


@dataclass(frozen=True)
class FunctionSpec:
    name: str
    params: type[BaseModel]
    handler: Handler
    examples: tuple[str, ...] = ()
    description: str = ""
    # True for arguments that name nothing to act on (a reminder whose task is only its
    # own time or a question word, "what about tomorrow?"): the router makes no call.
    names_nothing: Callable[[dict[str, Any]], bool] | None = None
    # The answer is the chat model's own translation, not data the function fetched: a
    # chat model that cannot translate (Backend.translates) is not asked, and the user is
    # told what would (an invented translation is never shown).
    needs_translation: bool = False
    # CLI subcommands, chat commands, HTTP routes and notices the function adds
    # (funcgemma.plugins); the core names no function
    hooks: FunctionHooks | None = None
    # It changes what is stored (saves a reminder): MCP clients are told it is not
    # read-only; the others only compute or look something up.
    changes_state: bool = False
    # More example requests for the router's encoder, one a line (funcgemma.encoder):
    # discover() finds NAME.examples.txt beside a one-file function, examples.txt in a
    # function package.
    example_file: Path | None = None
    # Arguments the function cannot do without and will not guess (a reminder's time), each
    # with the question that asks for it (a messages.Said keeps its Japanese): a call
    # that lacks one is RouteResult.outcome "ask".
    asks_for: Mapping[str, str] = field(default_factory=dict)
    # The fields of ``asks_for`` whose value, as the model wrote it, the function cannot
    # use (a reminder's time it cannot read, "remind"): asked for, as a missing one is
    # (funcgemma.asking).
    unusable: Callable[[dict[str, Any]], Iterable[str]] | None = None
    # Fields a default the user set fills when the message gives no value, before asking:
    # field -> the default's name ({"location": "home_place"}; Router.route's ``defaults``)
    defaults: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # read once, here: a field with two roles, or a role its type cannot hold, fails
        # at start-up
        _ = self.roles

    @cached_property
    def roles(self) -> Mapping[str, Role]:
        """Field -> its role (funcgemma.roles), declared on the params model's fields."""
        return roles_of(self.params)

    @property
    def copied(self) -> tuple[str, ...]:
        """The fields whose value is always text of the user's message (an exact role):
        the embedded decoder keeps them to the message's text."""
        return tuple(k for k, r in self.roles.items() if r.exact)

    def ground(self, arguments: dict[str, Any], user_text: str) -> dict[str, Any]:
        """``arguments`` repaired against the user's words by the roles of their fields
        (funcgemma.repair); the router and the data tests both go through here."""
        return repair(arguments, self.roles, user_text)

    @property
    def summary(self) -> str:
        return self.description or " ".join((self.params.__doc__ or "").split())

    def tool_schema(self) -> dict[str, Any]:
        """Ollama/OpenAI tool declaration. Properties are sorted so the rendered
        prompt is identical between runs, which keeps the KV prefix cache valid."""
        schema = self.params.model_json_schema()
        props: dict[str, Any] = {}
        for key in sorted(schema.get("properties", {})):
            props[key] = _flatten_property(schema["properties"][key], schema.get("$defs", {}))
        required = sorted(schema.get("required", []))
        params: dict[str, Any] = {"type": "object", "properties": props}
        if required:
            params["required"] = required
        return {
            "type": "function",
            "function": {"name": self.name, "description": self.summary, "parameters": params},
        }


def _flatten_property(prop: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """Reduce pydantic's JSON schema to the flat subset FunctionGemma renders:
    Optional[X] becomes X, Literal/Enum values become ``enum`` *and* are written
    into the description (Ollama drops ``enum`` when it renders the prompt)."""
    if "$ref" in prop:
        target = defs[prop["$ref"].split("/")[-1]]
        prop = {**target, **{k: v for k, v in prop.items() if k != "$ref"}}
    options = prop.get("anyOf") or prop.get("oneOf")
    if options:
        non_null = [o for o in options if o.get("type") != "null"]
        base = dict(non_null[0]) if non_null else {"type": "string"}
        if "$ref" in base:
            base = dict(defs[base["$ref"].split("/")[-1]])
        merged = {k: v for k, v in prop.items() if k not in ("anyOf", "oneOf", "default")}
        prop = {**base, **merged}
    out: dict[str, Any] = {}
    enum = prop.get("enum")
    if enum is None and "const" in prop:
        enum = [prop["const"]]
    typ = prop.get("type")
    if typ not in _JSON_TYPES:
        typ = "string"
    description = " ".join(str(prop.get("description", "")).split())
    if enum:
        allowed = ", ".join(str(v) for v in enum)
        if "one of" not in description.lower():
            description = f"{description} One of: {allowed}.".strip()
        out["enum"] = [str(v) for v in enum]
    out["description"] = description
    if typ == "array":
        items = prop.get("items", {})
        item_type = items.get("type")
        out["items"] = {"type": item_type if item_type in _JSON_TYPES else "string"}
    out["type"] = typ
    return dict(sorted(out.items()))


class FunctionRegistry:
    def __init__(self, specs: Iterable[FunctionSpec] = ()) -> None:
        self._specs: dict[str, FunctionSpec] = {}
        # Declarations are built once: pydantic's schema generation costs ~1.5 ms for
        # the seven functions, which would otherwise be paid on every routed request.
        self._tools: list[dict[str, Any]] | None = None
        self._copied: dict[str, list[str]] = {}
        self._fingerprint: str | None = None
        for spec in specs:
            self.register(spec)

    def register(self, spec: FunctionSpec) -> None:
        if not spec.name.isidentifier():
            raise ConfigurationError(f"Function name {spec.name!r} must be a Python identifier.")
        if spec.name in self._specs:
            raise ConfigurationError(
                f"Function {spec.name!r} is registered twice; names must be unique."
            )
        self._specs[spec.name] = spec
        self._tools = self._fingerprint = None

    def __contains__(self, name: object) -> bool:
        return name in self._specs

    def __iter__(self) -> Iterator[FunctionSpec]:
        return iter(self._specs[n] for n in self.names)

    def __len__(self) -> int:
        return len(self._specs)

    def get(self, name: str) -> FunctionSpec:
        try:
            return self._specs[name]
        except KeyError:
            raise KeyError(f"No function named {name!r}") from None

    @property
    def names(self) -> list[str]:
        return sorted(self._specs)

    def tools(self) -> Declarations:
        """Tool declarations in name order (a fresh list; treat the dicts as read-only),
        with the copied arguments the embedded decoder reads from the field roles."""
        if self._tools is None:
            self._tools = [spec.tool_schema() for spec in self]
            self._copied = self.copied()
        return Declarations(self._tools, copied=self._copied)

    def copied(self) -> dict[str, list[str]]:
        """Function -> its arguments whose value is always text of the user's message
        (FunctionSpec.copied)."""
        return {s.name: list(s.copied) for s in self if s.copied}

    @property
    def fingerprint(self) -> str:
        """Changes whenever any declaration changes (invalidates prompt caches)."""
        if self._fingerprint is None:
            blob = json.dumps(self.tools(), sort_keys=True, ensure_ascii=False)
            self._fingerprint = hashlib.sha256(blob.encode()).hexdigest()[:16]
        return self._fingerprint

    def subset(self, names: Iterable[str]) -> FunctionRegistry:
        return FunctionRegistry(self.get(n) for n in names)

    def validate(self, call: Call) -> Call:
        """Validate and coerce a call's arguments against its params model.

        Raises KeyError for unknown names and pydantic.ValidationError for bad arguments.
        An optional argument that is invalid ("days": 0 for a trip, out of range) is left
        out, as if the model had not given it: the call still answers what was asked,
        where failing it would fail the same message every time.
        """
        spec = self.get(call.name)
        args = {k: v for k, v in call.arguments.items() if v is not None and v != ""}
        try:
            model = spec.params.model_validate(args, strict=False)
        except ValidationError as exc:
            fields = spec.params.model_fields
            bad = {str(err["loc"][0]) for err in exc.errors() if err.get("loc")}
            if not bad or any(k not in fields or fields[k].is_required() for k in bad):
                raise
            model = spec.params.model_validate(
                {k: v for k, v in args.items() if k not in bad}, strict=False)
        return Call(name=spec.name, arguments=model.model_dump(exclude_none=True, mode="json"))

    def try_validate(self, call: Call) -> Call | None:
        try:
            return self.validate(call)
        except (KeyError, ValidationError):
            return None


def discover(package: str = "funcgemma.functions") -> list[FunctionSpec]:
    """Import every module of ``package`` that defines ``SPEC``."""
    pkg = importlib.import_module(package)
    specs = []
    for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda i: i.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{package}.{info.name}")
        spec = getattr(module, "SPEC", None)
        if isinstance(spec, FunctionSpec):
            specs.append(with_example_file(spec, module))
    return specs


def with_example_file(spec: FunctionSpec, module: ModuleType) -> FunctionSpec:
    """``spec`` with the example file its module has beside it (see
    FunctionSpec.example_file), unless it names one itself."""
    if spec.example_file is not None or not getattr(module, "__file__", None):
        return spec
    source = Path(str(module.__file__))
    found = (source.with_name("examples.txt") if source.name == "__init__.py"
             else source.with_name(f"{source.stem}.examples.txt"))
    return replace(spec, example_file=found) if found.is_file() else spec


def default_registry() -> FunctionRegistry:
    return FunctionRegistry(discover())
