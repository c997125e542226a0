"""Clock repair: a clock time the model stopped copying at its colon ("at 3" from "at
3:15") gets its minutes back. Role: When."""

from __future__ import annotations

import regex

# The minutes of a clock time the model stopped copying at the colon ("at 3" from "at
# 3:15": a reminder at the wrong time), with an am/pm written right after them.
_CLOCK_TAIL = regex.compile(r"[:：][0-5]\d(?!\d)(?:\s?(?:[ap]\.?m\.?)(?![\p{L}]))?",
                            regex.IGNORECASE)


def complete_clock(value: str, text: str) -> str:
    """A time that ends in the hour of a clock time the message writes in full ("at 3"
    in "pick up the kids at 3:15") gets its minutes back; any other value is unchanged,
    and so is an hour that the message also writes alone."""
    if not value[-1:].isdigit():
        return value
    tails = set()
    for m in regex.finditer(regex.escape(value), text, regex.IGNORECASE, overlapped=True):
        if text[m.end():m.end() + 1].isdigit():  # "at 3" inside "at 30"
            return value
        clock = _CLOCK_TAIL.match(text, m.end())
        tails.add(clock.group() if clock else "")
    if len(tails) != 1 or "" in tails:
        return value
    return value + tails.pop()

