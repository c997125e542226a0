"""Function specs from the JSON-schema tools a client declares (OpenAI's ``tools``).

funcgemma routes to such a tool as it routes to its own, but never runs it, and never
repairs what the model writes for it: no grounding in the message, no argument dropped or
rewritten. A call whose arguments do not validate against the client's schema is not a
call. Validation is a pydantic model built from the schema (``params_model``): the types
string, number, integer, boolean, null, array and object (nested properties, required),
``enum`` and ``const``, numeric bounds (``minimum``,
``maximum``, ``exclusiveMinimum``, ``exclusiveMaximum``, ``multipleOf``), string length and
``pattern``, array length, ``anyOf``/``oneOf`` (read as "any of"), type lists and local
``$ref``s. An argument the schema does not declare makes the call invalid unless the
object says ``additionalProperties`` (true, or a schema, whose values are then not
checked). Other keywords (``format``, ``default``, ``uniqueItems``...) are not enforced;
a default is not filled in. Numbers written as strings ("3") are read as numbers, as
pydantic's lax mode reads them; nothing else is coerced.

The model reads the declaration as the client sent it, with local ``$ref``s written out
and an optional value's ``anyOf`` (``X`` or null) read as ``X``: FunctionGemma's prompt
has no references.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, NoReturn, Union

import regex
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    create_model,
)
from pydantic.errors import PydanticUserError
from pydantic_core import InitErrorDetails, PydanticCustomError

from .errors import ConfigurationError, InvalidRequest
from .registry import FunctionRegistry, FunctionSpec
from .types import Call, Declarations

__all__ = ["ForeignRegistry", "declaration", "params_model"]

# Names the fallback parser and the decoder read back (OpenAI allows a leading digit too)
NAME = regex.compile(r"[A-Za-z_][A-Za-z0-9_\-]{0,63}")
MAX_TOOLS = 128
MAX_DEPTH = 8  # nested objects, arrays and references
_SURROGATE = regex.compile(r"[\ud800-\udfff]")
_NUMBER_KEYS = {
    "minimum": "ge",
    "maximum": "le",
    "exclusiveMinimum": "gt",
    "exclusiveMaximum": "lt",
    "multipleOf": "multiple_of",
}


def _run_by_client(params: Any, ctx: Any) -> NoReturn:
    raise ConfigurationError("A client's tool is run by the client, never by funcgemma.")


def _same(a: Any, b: Any) -> bool:
    """JSON equality: 1 == 1.0, but true is not 1."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    return type(a) is type(b) and bool(a == b)


def _one_of(values: Sequence[Any]) -> AfterValidator:
    def check(value: Any) -> Any:
        plain = value.model_dump(by_alias=True) if isinstance(value, BaseModel) else value
        if any(_same(plain, v) for v in values):
            return value
        raise ValueError("must be one of " + ", ".join(repr(v) for v in values)[:300])

    return AfterValidator(check)


def _lone_surrogate(value: Any) -> bool:
    if isinstance(value, str):
        return _SURROGATE.search(value) is not None
    if isinstance(value, Mapping):
        return any(_lone_surrogate(k) or _lone_surrogate(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_lone_surrogate(v) for v in value)
    return False


def _any_of(types: list[Any]) -> Any:
    return Union[tuple(types)]  # noqa: UP007 - built at run time


def _not_bool(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("must be a number, not a boolean")
    return value


class _Schema:
    """Builds annotations from one tool's parameters schema (its ``$defs`` in scope)."""

    def __init__(self, root: Mapping[str, Any], where: str) -> None:
        self.defs = root.get("$defs") or root.get("definitions") or {}
        self.where = where

    def bad(self, where: str, why: str) -> InvalidRequest:
        return InvalidRequest(f"`{self.where}{where}`: {why}")

    def resolve(self, schema: Any, where: str, depth: int) -> Mapping[str, Any]:
        while isinstance(schema, Mapping) and "$ref" in schema:
            ref = schema["$ref"]
            name = ref.rsplit("/", 1)[-1] if isinstance(ref, str) else None
            if (
                name is None
                or not regex.fullmatch(r"#/(?:\$defs|definitions)/[^/]+", ref)
                or not isinstance(self.defs, Mapping)
                or name not in self.defs
            ):
                raise self.bad(where, f"only local references to $defs are read ({ref!r})")
            depth += 1
            if depth > MAX_DEPTH:
                raise self.bad(where, f"nested deeper than {MAX_DEPTH} levels")
            schema = {**self.defs[name], **{k: v for k, v in schema.items() if k != "$ref"}}
        if not isinstance(schema, Mapping):
            raise self.bad(where, "a schema must be an object")
        return schema

    def model(
        self, title: str, schema: Mapping[str, Any], where: str, depth: int
    ) -> type[BaseModel]:
        props = schema.get("properties") or {}
        required = schema.get("required") or []
        if not isinstance(props, Mapping) or not isinstance(required, list):
            raise self.bad(where, "`properties` must be an object and `required` a list")
        fields: dict[str, Any] = {}
        for i, (key, sub) in enumerate(props.items()):
            ann = self.annotation(sub, f"{where}.properties.{key}", depth + 1)
            described = sub.get("description") if isinstance(sub, Mapping) else None
            info = Field(
                ... if key in required else None,
                alias=key,
                description=described if isinstance(described, str) else None,
            )
            fields[f"f{i}"] = (ann, info)
        # an argument nobody declared is refused unless the schema says more may come:
        # a model that writes another function's keys has not called this one
        closed = schema.get("additionalProperties") in (None, False)
        try:
            return create_model(  # type: ignore[call-overload, no-any-return]
                regex.sub(r"\W", "_", title) or "Params",
                __config__=ConfigDict(
                    extra="forbid" if closed else "allow", populate_by_name=False
                ),
                **fields,
            )
        except (PydanticUserError, TypeError, ValueError) as exc:
            raise self.bad(where, f"cannot be read as a schema ({exc})") from None

    def annotation(self, schema: Any, where: str, depth: int) -> Any:
        if depth > MAX_DEPTH:
            raise self.bad(where, f"nested deeper than {MAX_DEPTH} levels")
        schema = self.resolve(schema, where, depth)
        extra: list[Any] = []
        if "const" in schema or "enum" in schema:
            values = [schema["const"]] if "const" in schema else schema["enum"]
            if not isinstance(values, list) or not values:
                raise self.bad(where, "`enum` must be a non-empty list")
            extra.append(_one_of(values))
        options = schema.get("anyOf") or schema.get("oneOf")
        kind = schema.get("type")
        base: Any
        if options is not None:
            if not isinstance(options, list) or not options:
                raise self.bad(where, "`anyOf`/`oneOf` must be a non-empty list")
            base = _any_of([self.annotation(o, where, depth + 1) for o in options])
        elif isinstance(kind, list):
            if not kind:
                raise self.bad(where, "`type` must not be an empty list")
            base = _any_of([self.typed(schema, k, where, depth) for k in kind])
        elif kind is None:
            base = Any
        else:
            base = self.typed(schema, kind, where, depth)
        return Annotated[(base, *extra)] if extra else base

    def typed(self, schema: Mapping[str, Any], kind: Any, where: str, depth: int) -> Any:
        if kind == "string":
            return Annotated[
                str,
                self.limits(
                    schema,
                    where,
                    {"minLength": "min_length", "maxLength": "max_length", "pattern": "pattern"},
                ),
            ]
        if kind in ("integer", "number"):
            limits = self.limits(schema, where, _NUMBER_KEYS)
            whole = Annotated[int, BeforeValidator(_not_bool), limits]
            if kind == "integer":
                return whole
            fraction = Annotated[
                float, BeforeValidator(_not_bool), Field(allow_inf_nan=False), limits
            ]
            return _any_of([whole, fraction])  # 3 stays 3, 2.5 is a float
        if kind == "boolean":
            return bool
        if kind == "null":
            return None
        if kind == "array":
            items = schema.get("items")
            item = Any if items is None else self.annotation(items, f"{where}.items", depth + 1)
            sizes = self.limits(schema, where, {"minItems": "min_length", "maxItems": "max_length"})
            return Annotated[list[item], sizes]  # type: ignore[valid-type]
        if kind == "object":
            if schema.get("properties") or schema.get("additionalProperties") is False:
                return self.model(where, schema, where, depth)
            more = schema.get("additionalProperties")
            value = (
                self.annotation(more, f"{where}.additionalProperties", depth + 1)
                if isinstance(more, Mapping)
                else Any
            )
            return dict[str, value]  # type: ignore[valid-type]
        raise self.bad(where, f"type {kind!r} is not a JSON type")

    def limits(self, schema: Mapping[str, Any], where: str, keys: Mapping[str, str]) -> Any:
        found: dict[str, Any] = {}
        for key, name in keys.items():
            if key not in schema:
                continue
            value = schema[key]
            if key == "pattern":
                if not isinstance(value, str):
                    raise self.bad(where, "`pattern` must be a string")
            elif isinstance(value, bool) and key.startswith("exclusive"):
                continue  # draft 4's flag form; its bound is `minimum`/`maximum`
            elif isinstance(value, bool) or not isinstance(value, (int, float)):
                raise self.bad(where, f"`{key}` must be a number")
            found[name] = value
        return Field(**found)


def params_model(name: str, parameters: Any, where: str = "parameters") -> type[BaseModel]:
    """A pydantic model that validates ``name``'s arguments against ``parameters`` (an
    object schema; None: no arguments). Raises InvalidRequest naming what it cannot read."""
    if parameters is None:
        parameters = {"type": "object", "properties": {}}
    if not isinstance(parameters, Mapping) or parameters.get("type", "object") != "object":
        raise InvalidRequest(f"`{where}` must be a JSON schema of type object.")
    return _Schema(parameters, where).model(name, parameters, "", 0)


def _inline(schema: Any, defs: Mapping[str, Any], depth: int = 0) -> Any:
    """``schema`` with local references written out (to MAX_DEPTH) and an optional
    value's ``anyOf`` read as its one other type: what the prompt can show."""
    if isinstance(schema, list):
        return [_inline(s, defs, depth) for s in schema]
    if not isinstance(schema, Mapping) or depth > MAX_DEPTH:
        return schema
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.rsplit("/", 1)[-1] in defs:
        target = defs[ref.rsplit("/", 1)[-1]]
        schema = {**target, **{k: v for k, v in schema.items() if k != "$ref"}}
        depth += 1
    options = schema.get("anyOf")
    if isinstance(options, list):
        real = [o for o in options if not (isinstance(o, Mapping) and o.get("type") == "null")]
        if len(real) == 1 and isinstance(real[0], Mapping):
            schema = {
                **_inline(real[0], defs, depth + 1),
                **{k: v for k, v in schema.items() if k != "anyOf"},
            }
    return {
        k: _inline(v, defs, depth + 1)
        for k, v in schema.items()
        if k not in ("$defs", "definitions")
    }


def declaration(tool: Mapping[str, Any]) -> dict[str, Any]:
    """The tool as the model reads it: ``{"type": "function", "function": {name,
    description, parameters}}``, parameters as sent with local references written out."""
    fn = tool.get("function", tool)
    params = fn.get("parameters") or {"type": "object", "properties": {}}
    defs = params.get("$defs") or params.get("definitions") or {}
    return {
        "type": "function",
        "function": {
            "name": fn["name"],
            "description": fn.get("description") or "",
            "parameters": _inline(params, defs if isinstance(defs, Mapping) else {}),
        },
    }


class ForeignRegistry(FunctionRegistry):
    """The functions of one request's ``tools``: declared as the client sent them (in its
    order, so that its next request reuses the prompt's prefix), validated strictly."""

    def __init__(self, tools: Sequence[Mapping[str, Any]], where: str = "tools") -> None:
        super().__init__()
        if len(tools) > MAX_TOOLS:
            raise InvalidRequest(f"`{where}` has {len(tools)} tools; the limit is {MAX_TOOLS}.")
        self._declared: list[dict[str, Any]] = []
        for i, tool in enumerate(tools):
            fn = tool.get("function", tool)
            name = fn.get("name")
            at = f"{where}[{i}].function"
            if not isinstance(name, str) or not NAME.fullmatch(name):
                raise InvalidRequest(
                    f"`{at}.name` must be 1-64 letters, digits, _ or -, "
                    "starting with a letter or _."
                )
            if name in self:
                raise InvalidRequest(f"`{at}.name`: {name!r} is declared twice.")
            description = fn.get("description") or ""
            if not isinstance(description, str):
                raise InvalidRequest(f"`{at}.description` must be a string.")
            params = params_model(name, fn.get("parameters"), f"{at}.parameters")
            self.register(
                FunctionSpec(
                    name=name, params=params, handler=_run_by_client, description=description
                )
            )
            self._declared.append(declaration(tool))

    def register(self, spec: FunctionSpec) -> None:
        # a client's names follow OpenAI's rule (hyphens allowed), checked above
        self._specs[spec.name] = spec
        self._tools = self._fingerprint = None

    def tools(self) -> Declarations:
        """The client's declarations as sent (nothing is copied: a client's function has
        no field roles)."""
        return Declarations(copy.deepcopy(self._declared))

    def validate(self, call: Call) -> Call:
        """The call with its arguments as validated (numbers read from strings), or
        KeyError / ValidationError: nothing is left out or filled in."""
        spec = self.get(call.name)
        model = spec.params.model_validate(call.arguments)
        if _lone_surrogate(call.arguments):  # no client can be sent it as UTF-8
            raise ValidationError.from_exception_data(
                spec.name,
                [
                    InitErrorDetails(
                        type=PydanticCustomError("unicode", "a lone surrogate is not text"),
                        loc=(),
                        input=call.arguments,
                    )
                ],
            )
        return Call(
            name=spec.name,
            arguments=model.model_dump(mode="json", by_alias=True, exclude_unset=True),
        )

    def try_validate(self, call: Call) -> Call | None:
        try:
            return self.validate(call)
        except (KeyError, ValidationError):
            return None
