"""Training examples: a case rendered under a declaration set, as token ids with labels.

Rendering and tokenisation go through funcgemma.formats.functiongemma, the code the
embedded backend serves with, so training text is byte-for-byte the served prompt. The
developer turn is the *prefix* (shared by a batch); the user turn plus the model's target
is the *suffix*, and only target tokens carry a label. Nothing is truncated: a case that
does not fit raises, naming it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from funcgemma.formats import functiongemma as fg
from funcgemma.types import Call, Message

from ..datasets import Case
from .declarations import DeclarationSet

IGNORE = -100


@dataclass
class Tokenizer:
    """Plain-text tokenisation (special parsing off, no BOS) and control-token ids."""

    plain: Callable[[str], list[int]]
    token_id: Callable[[str], int | None]

    def encode(self, segments: Sequence[fg.Segment]) -> list[int]:
        return fg.encode(segments, self.plain, self.token_id)


@dataclass
class Example:
    suffix: list[int]
    labels: list[int]  # same length as suffix; IGNORE where no loss
    label: str  # the class trained towards: a real function name or "none"
    text: str


def target_calls(case: Case, decls: DeclarationSet) -> list[Call]:
    fn = case.expected_function
    if fn is None or fn not in decls.names:
        return []
    return [Call(name=decls.names[fn], arguments=dict(case.expected_arguments))]


def prefix_ids(tok: Tokenizer, tools: Sequence[dict[str, Any]]) -> list[int]:
    return tok.encode(fg.render_prompt(tools, [])[:1])


def build_example(tok: Tokenizer, case: Case, decls: DeclarationSet, *, max_len: int,
                  prefix_len: int) -> Example:
    prompt = fg.render_prompt(decls.tools, [Message(role="user", content=case.text)])
    user = tok.encode(prompt[1:])
    calls = target_calls(case, decls)
    target = tok.encode(fg.target_segments(calls))
    if prefix_len + len(user) + len(target) > max_len:
        raise ValueError(
            f"case does not fit in {max_len} tokens ({prefix_len} + {len(user)} + "
            f"{len(target)}): {case.text[:60]!r}. Raise --max-len; nothing is truncated.")
    label = case.expected_function if calls else "none"
    return Example(suffix=user + target, labels=[IGNORE] * len(user) + target,
                   label=label or "none", text=case.text)
