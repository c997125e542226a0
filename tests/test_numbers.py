"""Numbers the user stated: what numeric arguments are checked against."""

from __future__ import annotations

import pytest

from funcgemma.repair.number import ground_number, stated_days, stated_numbers


@pytest.mark.parametrize(("text", "expected"), [
    ("予算は12万円です", [120000]),
    ("1万5000円くらい", [15000]),
    ("三万円まで", [30000]),
    ("$1.2k budget, 5km away, about 40k", [1200, 5, 40000]),
    ("i have 1,500 dollars", [1500]),
    ("ＴＶを２台", [2]),  # full-width digits
    ("no numbers here", []),
    # spelt in English words (scaled when a multiplier is spelt)
    ("a bike under five hundred dollars", [500]),
    ("one hundred and fifty pounds, or twenty-five euros", [150, 25]),
    ("two thousand five hundred yen", [2500]),
    ("a hundred bucks", [100]),
])
def test_stated_numbers(text: str, expected: list[float]) -> None:
    assert [m.value for m in stated_numbers(text)] == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("Are the Cinque Terre worth it if we only have a day?", [1]),
    ("We only have a single day in Venice", [1]),
    ("a 2 day plan for Edinburgh", [2]),
    ("a 3-day trip", [3]),
    ("Three days in Hiroshima", [3]),
    ("2 weeks in Japan", [14]),
    ("a fortnight in Peru", [14]),
    ("金沢 2泊3日 おすすめ", [3]),  # the days of "2 nights 3 days"
    ("九州を1週間で一周", [7]),
    ("湯布院で一日過ごす", [1]),
    ("osaka de ichinichi dake", [1]),
    ("12月13日に京都へ", []),  # a date, not a length
    ("What day trips can you do from Palermo?", []),
    ("a long weekend in Krakow", []),  # our labels give a weekend no length
])
def test_stated_days(text: str, expected: list[float]) -> None:
    assert stated_days(text) == expected


@pytest.mark.parametrize(("value", "text", "duration", "taken", "expected"), [
    # stated values are kept
    (40, "a webcam under 40", False, (), 40),
    (120000, "予算は12万円", False, (), 120000),
    (7, "a week in Rome", True, (), 7),
    # an amount off by a power of ten from a scaled amount is that amount
    (12000, "予算は12万円", False, (), 120000),
    (15, "15万円以内", False, (), 150000),
    (5000, "a bike under five hundred dollars", False, (), 500),
    # a zero dropped or doubled in copying a long number
    (20000, "buy 200000 apples", False, (), 200000),
    (15000, "a laptop under 1500 dollars", False, (), 1500),
    # an unstated length becomes the one stated length
    (7, "a 2 day plan for Edinburgh", True, (), 2),
    # ...but not one another argument holds, and not when two are stated
    (7, "2 days or 3 days in Oslo?", True, (), 7),
    # nothing to go by: left as the model wrote it (grounding never invents)
    (400, "a tent for 4 people", False, (), 400),
    (7, "plan a trip to Oslo", True, (), 7),
    (3, "3 people, a trip to Oslo", True, (), 3),
])
def test_ground_number(value: float, text: str, duration: bool, taken: tuple[float, ...],
                       expected: float) -> None:
    assert ground_number(value, text, duration=duration, taken=taken) == expected


def test_a_duration_is_not_moved_onto_a_value_another_argument_holds() -> None:
    assert ground_number(7, "5 days", duration=True, taken=(5,)) == 7
