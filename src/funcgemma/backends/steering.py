"""Keeping a string value the embedded decoder writes to the text it may be: a *copied*
value (a place, a name, a quoted text) to pieces of the user's message, a value with an
``enum`` to one of its values, a name or key to one of the declared ones. Where the
model's own next token would leave that text, the model chooses, by its own logits,
among the tokens that stay on it (``steer``); calldecoder calls these at each step.

Each function returns the token to write and whether it was steered away from the
model's first choice.
"""

from __future__ import annotations

import itertools
from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING

import numpy as np
import regex

if TYPE_CHECKING:
    from .calldecoder import Vocab

# Where a copied value may start: a word of a spaced script, or any other character
# (Japanese has no spaces: a place name starts anywhere). At most MAX_STARTS are tried.
_SPACED = r"[\p{Latin}\p{Cyrillic}\p{Greek}\p{Hangul}\p{N}]"
_WORD_START = regex.compile(rf"(?<!{_SPACED}){_SPACED}|[^\s\p{{Latin}}\p{{Cyrillic}}"
                            r"\p{Greek}\p{Hangul}\p{N}]")
MAX_STARTS = 512


class Source:
    """The user's message as bytes, for checking that a copied value is a piece of it
    (token pieces can split a UTF-8 character, so the check is on bytes; ASCII letters
    match in either case)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.raw = text.encode("utf-8")
        self.low = text.lower().encode("utf-8")
        self.starts: set[int] | None = None  # first tokens at word starts, once needed

    def has(self, value: bytes) -> bool:
        return value in self.raw or value.lower() in self.low


def steer(row: np.ndarray, options: Collection[int]) -> int | None:
    """The model's best token among ``options`` it does not rule out (-inf); None if none."""
    kept = {t for t in options if 0 <= t < row.shape[0] and np.isfinite(row[t])}
    return max(sorted(kept), key=lambda t: float(row[t])) if kept else None


def spelling(vocab: Vocab, row: np.ndarray | None, typed: str, options: Sequence[str],
             suffix: str) -> int | None:
    """The model's best token among those that go on spelling an option after
    ``typed`` (or end it with ``suffix``); None if there is none."""
    if row is None:
        return None
    heads = {toks[0] for o in options if o.startswith(typed)
             if (toks := vocab.tokenize(o[len(typed):] + suffix))}
    heads = {t for t in heads if 0 <= t < row.shape[0]}
    return max(sorted(heads), key=lambda t: float(row[t])) if heads else None


def keep_enum(vocab: Vocab, row: np.ndarray | None, esc: int, written: bytes, nxt: int,
              enum: list[bytes]) -> tuple[int, bool]:
    """``nxt`` if the value stays (a prefix of) one of ``enum`` with it, or closes a
    value that is one of them; otherwise the model's best token among those that do."""
    if nxt == esc and written in enum:
        return nxt, False
    if nxt != esc and nxt not in vocab.marker_of:
        grown = written + vocab.piece(nxt)
        if len(grown) > len(written) and any(v.startswith(grown) for v in enum):
            return nxt, False
    options = {esc} if written in enum else set()
    for value in enum:
        rest = value[len(written):]
        # a rest that starts inside a character cannot be tokenised as text
        if value.startswith(written) and rest and (rest[0] & 0xC0) != 0x80:
            options.update(vocab.tokenize(rest.decode("utf-8", errors="ignore"))[:1])
    if row is None:
        return nxt, False
    best = steer(row, options)
    return (nxt, False) if best is None else (best, True)


def keep_copied(vocab: Vocab, row: np.ndarray | None, esc: int, written: bytes, nxt: int,
                source: Source) -> tuple[int, bool]:
    """``nxt`` if the value stays a piece of the message with it (or ``nxt`` ends the
    value, or is a marker: the parser judges those). Otherwise the model chooses, by
    its own logits, between closing the value (once something is written) and going
    on along the message: the message's next token after each place it contains the
    value so far (its first tokens at word starts for an empty value). Steering one
    token at a time through the model's top candidates walked into dead ends
    ('H', 'ono', then nothing in the message: "Honoapihiu Bay" for "Honolulu")."""
    if nxt == esc or nxt in vocab.marker_of or row is None:
        return nxt, False
    if source.has(written + vocab.piece(nxt)):
        return nxt, False
    options = continuations(vocab, written, source)
    if written:
        options.add(esc)
    best = steer(row, options)
    return (nxt, False) if best is None else (best, True)


def continuations(vocab: Vocab, written: bytes, source: Source) -> set[int]:
    """First tokens of the message's text after each occurrence of ``written``."""
    if not written:
        if source.starts is None:
            text = source.text
            heads = {text[m.start():m.start() + 24] for m in
                     itertools.islice(_WORD_START.finditer(text), MAX_STARTS)}
            source.starts = {t for h in heads for t in vocab.tokenize(h)[:1]}
        return set(source.starts)
    out: set[int] = set()
    for hay, needle in ((source.raw, written), (source.low, written.lower())):
        at, seen = hay.find(needle), 0
        while at >= 0 and seen < 64:  # a short value can occur all over a long text
            seen += 1
            tail = hay[at + len(needle):at + len(needle) + 64]
            # a tail that starts inside a character cannot be tokenised as text
            if tail and (tail[0] & 0xC0) != 0x80:
                out.update(vocab.tokenize(tail.decode("utf-8", errors="ignore"))[:1])
            at = hay.find(needle, at + 1)
    return out
