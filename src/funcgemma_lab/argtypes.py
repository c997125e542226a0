"""argparse value types shared by the command-line tools."""

from __future__ import annotations

import argparse
from collections.abc import Callable


def positive(kind: type[int] | type[float]) -> Callable[[str], int | float]:
    """An argparse ``type`` accepting only a number of ``kind`` above zero, so a count,
    a duration or a rate of 0 is a usage error at once, not a failure after loading."""
    def parse(value: str) -> int | float:
        try:
            number = kind(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"invalid number: {value!r}") from None
        if not number > 0:
            raise argparse.ArgumentTypeError(f"must be positive, not {value}")
        return number

    return parse


def positive_ints(value: str) -> list[int]:
    """A comma-separated list of positive integers ("1,4,8,32"), each at most 1024."""
    parse = positive(int)
    numbers = [int(parse(part.strip())) for part in value.split(",")]
    if any(n > 1024 for n in numbers):
        raise argparse.ArgumentTypeError(f"at most 1024 each, not {value}")
    return numbers
