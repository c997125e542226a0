"""Extra functions: labelled messages for functions funcgemma does not serve.

The router has to read its declarations, not recognise seven topics. Training only on the
seven served functions teaches "call one of these seven ideas, else no function", and a
function added later (or held out, see `finetune.py --holdout-function`) is never called.
`data/extra/` holds declarations of other everyday functions (`functions.json`, a list of
tools in Ollama's format) and hand-written messages for them (`cases.jsonl`, the usual
case format); `finetune.py --extra-functions data/extra` mixes them into training, each
declared in some batches (its messages are calls) and not in others (no function).

Extra functions must stay out of every domain our no-function data covers, and out of
the training distractors' domains, or the same message would be taught both ways: our
no-function rows mean "none of the *served* functions applies", and some of them are
plain requests for other things ("play some jazz", "what's 17 times 23", "send an email
to my boss", "what time is it in London", "book me a taxi"). So there is no play_music,
solve_math, send_email, local_time or book_taxi here. Some extra functions take the same
kinds of argument as served ones (a place, a person's name, a date) for a different job
(find_ev_charger, book_hotel_room, get_contact_phone...), so a message that names a place
or a person has to be routed by what it asks, as the declarations describe it.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

from ..datasets import Case, DataError, read_cases
from .declarations import DISTRACTORS

_JSON_TYPES = {"string": (str,), "integer": (int,), "number": (int, float)}


def load_extra(folder: Path, served: Collection[str]) -> tuple[list[dict[str, Any]], list[Case]]:
    """(tools, cases) from ``folder``; raises DataError naming the first problem."""
    folder = Path(folder)
    try:
        tools = json.loads((folder / "functions.json").read_text("utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise DataError(f"{folder / 'functions.json'}: {exc}") from exc
    taken = set(served) | {t["function"]["name"] for t in DISTRACTORS}
    by_name: dict[str, dict[str, Any]] = {}
    for tool in tools:
        fn = tool.get("function") if isinstance(tool, dict) else None
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
            raise DataError(f"{folder / 'functions.json'}: not a tool: {tool!r:.80}")
        if fn["name"] in taken or fn["name"] in by_name:
            raise DataError(f"{folder / 'functions.json'}: {fn['name']!r} is already a served, "
                            "distractor or earlier extra function")
        by_name[fn["name"]] = tool
    cases = read_cases(folder / "cases.jsonl")
    for case in cases:
        where = f"{folder / 'cases.jsonl'}: {case.text[:50]!r}"
        if case.expected_function not in by_name:
            raise DataError(f"{where}: {case.expected_function!r} is not in functions.json")
        schema = by_name[case.expected_function]["function"].get("parameters") or {}
        props = schema.get("properties") or {}
        missing = set(schema.get("required") or ()) - set(case.expected_arguments)
        if missing:
            raise DataError(f"{where}: required argument(s) missing: {sorted(missing)}")
        for key, value in case.expected_arguments.items():
            kind = props.get(key, {}).get("type")
            if kind not in _JSON_TYPES:
                raise DataError(f"{where}: {key!r} is not a declared parameter")
            if isinstance(value, bool) or not isinstance(value, _JSON_TYPES[kind]):
                raise DataError(f"{where}: {key}={value!r} is not of type {kind}")
            if isinstance(value, str) and value not in case.text:
                raise DataError(f"{where}: {key}={value!r} is not verbatim in the text")
    return tools, cases


def load_extras(folders: Sequence[Path], served: Collection[str]
                ) -> tuple[list[dict[str, Any]], list[Case]]:
    """``load_extra`` over several folders, as one set: a function declared in two of them
    is an error (DataError), since its messages would be taught under one declaration."""
    tools: list[dict[str, Any]] = []
    cases: list[Case] = []
    for folder in folders:
        more_tools, more_cases = load_extra(
            folder, [*served, *(t["function"]["name"] for t in tools)])
        tools += more_tools
        cases += more_cases
    return tools, cases


def weight_class(case: Case, served: Collection[str] | None = None) -> str:
    """The class a case is weighted (and counted) as: a served function, "none", or
    "extra" (all the data/extra functions together, so forty small classes do not
    outweigh seven). ``served=None``: every function counts as served."""
    fn = case.expected_function
    if fn is None:
        return "none"
    return fn if served is None or fn in served else "extra"
