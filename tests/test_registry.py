"""The function registry: discovery, uniqueness, the pinned prompt surface, validation."""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Annotated

import pytest
from pydantic import BaseModel, Field, ValidationError

from funcgemma.errors import ConfigurationError
from funcgemma.formats.functiongemma import render_declaration
from funcgemma.registry import FunctionRegistry, FunctionSpec, default_registry, discover
from funcgemma.roles import Copied
from funcgemma.types import Call

GOLDEN = Path(__file__).parent / "data" / "declarations.txt"
SEVEN = [
    "celebrity_info",
    "schedule_reminder",
    "sentiment_label",
    "shopping_intent",
    "translation_assist",
    "travel_guide",
    "weather_info",
]


def rendered_declarations() -> str:
    """One rendered declaration per line, in registry (name) order."""
    return "".join(render_declaration(s.tool_schema()) + "\n" for s in default_registry())


def test_registry_discovers_the_seven_functions() -> None:
    specs = discover()
    assert sorted(s.name for s in specs) == SEVEN
    registry = default_registry()
    assert registry.names == SEVEN
    assert len(registry) == 7
    assert all(s.examples for s in registry), "every function needs examples"
    assert all(s.summary for s in registry), "every function needs a description"


def test_registry_duplicate_name_is_a_configuration_error() -> None:
    spec = default_registry().get("weather_info")
    with pytest.raises(ConfigurationError, match="registered twice"):
        FunctionRegistry([spec, spec])


def test_registry_rejects_a_name_that_is_not_an_identifier() -> None:
    spec = default_registry().get("weather_info")
    bad = FunctionSpec(name="weather-info", params=spec.params, handler=spec.handler)
    with pytest.raises(ConfigurationError, match="identifier"):
        FunctionRegistry([bad])


def test_registry_declarations_match_golden_file() -> None:
    """The rendered declarations are the router's prompt surface (and what the LoRA
    adapter was trained on): any change must be deliberate. To accept a change, run
    `.venv/bin/python tests/test_registry.py` and review the diff of the data file."""
    actual = rendered_declarations()
    expected = GOLDEN.read_text(encoding="utf-8")
    if actual != expected:
        pytest.fail("Function declarations changed:\n" + declaration_diff(expected, actual),
                    pytrace=False)


def declaration_diff(expected: str, actual: str) -> str:
    """A unified diff per function, one schema piece per line, so a changed description
    is easy to spot in a one-line declaration."""

    def by_name(text: str) -> dict[str, list[str]]:
        out = {}
        for line in text.splitlines():
            name = line.split("declaration:", 1)[-1].split("{", 1)[0]
            out[name] = line.replace("<escape>,", "<escape>,\n").splitlines()
        return out

    old, new = by_name(expected), by_name(actual)
    parts = []
    for name in sorted(old.keys() | new.keys()):
        if old.get(name) != new.get(name):
            parts.extend(difflib.unified_diff(old.get(name, []), new.get(name, []),
                                              fromfile=f"{name} (golden)",
                                              tofile=f"{name} (now)", lineterm=""))
    return "\n".join(parts)


def test_registry_declarations_spell_out_allowed_values_in_description() -> None:
    class Params(BaseModel):
        """Pick a unit."""

        unit: str = Field(description="Temperature unit.", json_schema_extra={"enum": ["C", "F"]})

    def handler(params: BaseModel, ctx: object) -> dict[str, object]:
        return {}

    schema = FunctionSpec(name="pick", params=Params, handler=handler).tool_schema()
    prop = schema["function"]["parameters"]["properties"]["unit"]
    assert prop["enum"] == ["C", "F"]
    assert "One of: C, F." in prop["description"]  # Ollama drops `enum` when rendering


def test_registry_fingerprint_changes_with_declarations() -> None:
    registry = default_registry()
    smaller = registry.subset(["weather_info"])
    assert registry.fingerprint != smaller.fingerprint
    assert registry.fingerprint == default_registry().fingerprint


def test_registry_tools_are_cached_but_refreshed_on_register() -> None:
    registry = default_registry().subset(["weather_info"])
    first = registry.tools()
    assert [t["function"]["name"] for t in first] == ["weather_info"]
    registry.register(default_registry().get("travel_guide"))
    assert [t["function"]["name"] for t in registry.tools()] == ["travel_guide", "weather_info"]


def test_registry_validate_coerces_numbers_given_as_strings() -> None:
    registry = default_registry()
    call = registry.validate(
        Call(name="shopping_intent", arguments={"item": "HDMI cable", "quantity": "2",
                                                "budget": "19.99", "currency": "$"})
    )
    assert call.arguments == {"item": "HDMI cable", "quantity": 2, "budget": 19.99,
                              "currency": "USD"}
    days = registry.validate(Call(name="travel_guide", arguments={"destination": "Kyoto",
                                                                  "days": "3"}))
    assert days.arguments == {"destination": "Kyoto", "days": 3}


def test_registry_validate_rejects_unknown_names() -> None:
    registry = default_registry()
    with pytest.raises(KeyError, match="get_stock_price"):
        registry.validate(Call(name="get_stock_price", arguments={"ticker": "GOOG"}))
    assert registry.try_validate(Call(name="get_stock_price")) is None
    assert registry.try_validate(Call(name="")) is None


def test_registry_validate_drops_empty_and_none_arguments() -> None:
    registry = default_registry()
    call = registry.validate(
        Call(name="weather_info", arguments={"location": "Kyoto", "date": "", "extra": None})
    )
    assert call.arguments == {"location": "Kyoto"}
    none_date = registry.validate(Call(name="weather_info", arguments={"location": "Kyoto",
                                                                       "date": None}))
    assert none_date.arguments == {"location": "Kyoto"}


def test_registry_validate_rejects_bad_arguments() -> None:
    registry = default_registry()
    with pytest.raises(ValidationError):
        registry.validate(Call(name="weather_info", arguments={"date": "tomorrow"}))
    with pytest.raises(ValidationError):  # a required argument that is wrong
        registry.validate(Call(name="travel_guide", arguments={"destination": ["Oslo"],
                                                               "days": 3}))
    assert registry.try_validate(Call(name="weather_info", arguments={"location": ""})) is None


@pytest.mark.parametrize("days", ["three", 0, 99999999999, -5])
def test_registry_validate_leaves_out_a_bad_optional_argument(days: object) -> None:
    """'Plan a trip to Paris for 0 days' made the model call with days 0, outside 1-365:
    the whole call failed, a 502 on every retry. The trip advice is still what was asked."""
    call = default_registry().validate(
        Call(name="travel_guide", arguments={"destination": "Paris", "days": days}))
    assert call.arguments == {"destination": "Paris"}


if __name__ == "__main__":  # regenerate the golden file after a deliberate change
    GOLDEN.write_text(rendered_declarations(), encoding="utf-8")
    print(f"wrote {GOLDEN}")


def test_registry_copied_fields_are_the_exact_roles() -> None:
    """A field the decoder keeps to the message's text is one whose role is exact; a
    copied value the model may rightly write otherwise (a ticker) is repaired, not kept."""
    class P(BaseModel):
        ticker: Annotated[str, Copied(exact=False)]

    spec = FunctionSpec(name="stock", params=P, handler=lambda p, c: {})
    assert FunctionRegistry([spec]).copied() == {}  # grounded, not copied: 'AAPL' for Apple
    assert default_registry().copied()["weather_info"] == ["location", "date"]


def test_registry_declarations_carry_the_copied_roles_and_send_as_a_plain_list() -> None:
    """The embedded decoder learns which values are copied from the declarations the
    router hands every backend; on the wire they are the same JSON as a plain list."""
    import json

    from funcgemma.types import copied_of

    tools = default_registry().tools()
    assert copied_of(tools)["schedule_reminder"] == ["task", "time"]
    assert "translation_assist" in copied_of(tools)
    assert copied_of(tools)["translation_assist"] == ["text"]  # the language is not forced
    assert copied_of(list(tools)) == {}
    assert json.dumps(tools) == json.dumps(list(tools))
