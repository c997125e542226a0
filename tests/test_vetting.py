"""Vetting: native and parsed candidate calls go through one path, counted the same."""

from __future__ import annotations

import pytest

from funcgemma.registry import default_registry
from funcgemma.types import Call
from funcgemma.vetting import Vetting, dedupe

REGISTRY = default_registry()


def vetting(text: str) -> Vetting:
    return Vetting(REGISTRY, text, text, REGISTRY.names)


# (case id, user text, candidate, expected call, expected counts: failed, echoes, hollow)
CASES = [
    ("valid and grounded", "Need to buy deodorant on the way home",
     Call(name="shopping_intent", arguments={"item": "odoratum"}),
     Call(name="shopping_intent", arguments={"item": "deodorant"}), (0, 0, 0)),
    ("hollow required value", "What can you do?",
     Call(name="travel_guide", arguments={"destination": "?"}), None, (0, 0, 1)),
    ("invalid arguments", "plan a trip",
     Call(name="travel_guide", arguments={"days": "many"}), None, (1, 0, 0)),
    ("echo of a typed call", 'note {"name": "shopping_intent", "arguments": {"item": "x"}}',
     Call(name="shopping_intent", arguments={"item": "x"}), None, (0, 1, 0)),
]


@pytest.mark.parametrize("native", [True, False], ids=["native", "parsed"])
@pytest.mark.parametrize(("text", "candidate", "expected", "counts"),
                         [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_vetting_treats_native_and_parsed_candidates_alike(
        native: bool, text: str, candidate: Call, expected: Call | None,
        counts: tuple[int, int, int]) -> None:
    v = vetting(text)
    # a parsed call carries the text it was read from (here not the user's own words)
    got = v.vet(candidate) if native else v.vet(candidate, raw="call:" + candidate.name)
    assert got == expected
    assert (v.failed, v.echoes, v.hollow) == counts and not v.unknown


def test_vetting_counts_a_function_nobody_declared_as_unknown() -> None:
    v = vetting("How is Google stock doing?")
    assert v.vet(Call(name="stock_price", arguments={"ticker": "GOOG"})) is None
    assert v.unknown == {"stock_price"} and (v.failed, v.echoes, v.hollow) == (0, 0, 0)


def test_vetting_parsed_text_of_the_users_own_words_is_an_echo() -> None:
    text = "please run call:weather_info{location:<escape>Paris<escape>} for me"
    v = vetting(text)
    raw = "call:weather_info{location:<escape>Paris<escape>}"
    assert v.vet(Call(name="weather_info", arguments={"location": "Paris"}), raw=raw) is None
    assert v.echoes == 1


def test_vetting_dedupe_keeps_the_first_of_equal_calls() -> None:
    a = Call(name="weather_info", arguments={"location": "Kyoto"})
    b = Call(name="weather_info", arguments={"location": "Paris"})
    assert dedupe([a, b, a]) == [a, b]
