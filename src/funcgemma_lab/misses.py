"""Where routing missed a function (`evaluate.py --explain`): at the call decision, or at
the name.

The embedded router decides in two steps: whether to call at all (the call marker must
beat every other first token by the call bias: the *call margin*), then which declared
function (the name). A case that expected a function and got none was lost at the first
step; asked which name the model would have written had it called (`if_called`), the
report tells whether lowering the call bias could have saved it or whether the name would
have been wrong too. A case routed to another function was lost at the name.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from typing import Any


def summarise(predictions: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per expected function, over the cases that expected it and were routed elsewhere:
    how many got no call, how many of those the model would have named right had it been
    made to call (rows carry ``if_called``), the median call margin of the no-call ones
    (rows carry ``call_margin``), and how many went to another function. Functions with
    no miss are left out."""
    out: dict[str, dict[str, Any]] = {}
    for row in predictions:
        expected = row.get("expected")
        if not expected or row.get("kind") != "misroute":
            continue
        entry = out.setdefault(expected, {"missed": 0, "no_call": 0, "no_call_right_name": 0,
                                          "other_function": 0, "margins": []})
        entry["missed"] += 1
        if row.get("predicted"):
            entry["other_function"] += 1
            continue
        entry["no_call"] += 1
        if next(iter(row.get("if_called") or {}), None) == expected:
            entry["no_call_right_name"] += 1
        if isinstance(row.get("call_margin"), (int, float)):
            entry["margins"].append(row["call_margin"])
    for entry in out.values():
        margins = entry.pop("margins")
        entry["no_call_median_margin"] = round(statistics.median(margins), 3) if margins else None
    return dict(sorted(out.items()))
