"""Greedy decoding of one FunctionGemma call, with the structure filled in for the model.

A call is mostly predictable text: once the model has emitted `<start_function_call>`,
`call:` must follow; once a name prefix is unique among the declared functions, the rest
of the name and `{` must follow; a key of type string is followed by `:<escape>`; and a
string value is usually copied from the user's message. Decoding every one of those
tokens one at a time costs ~25 ms each on a 2-core CPU, so this decoder

- *forces* tokens the structure leaves no choice about (they are fed in one batch with
  the model's own token, which costs about as much as one step): the rest of a name once
  it is unique, `{`, `:<escape>`, a key when it is the only one left (after a comma, or
  the only required one of a function), and `}` after the last declared argument;
- never lets the call end while a *required* argument is missing: where the model would
  close it (or end it some other way) the decoder writes `,` and the missing key instead,
  and the model writes the value (the schema would reject the call otherwise, and a call
  the caller cannot run is worth less than one whose value the caller can check);
- never runs the model past the end of the call (the logits would go unused), and
- keeps a *copied* value (a place, a name, a quoted text: the arguments the registry
  says are taken from the user's words) to text the message contains: where the model's
  next token would make the value something the message does not say ("Hollingsfield"
  for "Honolulu", "やっと終わった〜！！！！…" looping to the token limit), the model
  chooses, by its own logits, between closing the value and the message's next token;
  and
- *drafts* the rest of a string value from the user's text and keeps the longest run
  the model agrees with (prompt-lookup speculation, verified by the model's own argmax,
  so the output is exactly what plain greedy decoding would give whenever the model
  agrees with the structure).

When the caller requires a call of given names (OpenAI's ``tool_choice``), the name, and
each key, is chosen among the declared ones by the model's logits, token by token (a model
trained on other functions writes their keys); a string argument declared with
an ``enum`` is kept to one of its values the same way (numeric bounds are checked after,
by validation).

Forced text is tokenised piece by piece exactly as the trainer tokenises the target (the
Gemma tokenizer splits at punctuation, so `call:` + `weather` + `_info{` tokenises as
`call:weather_info{`). If the model strays from the declared structure, decoding
continues unforced and the parser downstream judges the text.

What keeps a value to the text it may be (the message, an enum, a declared name) is in
steering.py; this module is the decoding loop, one state machine over the call's
structure, which is why it runs a little past 400 lines.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from ..formats import functiongemma as fg
from .steering import Source, keep_copied, keep_enum, spelling

MAX_DRAFT = 8


class Engine(Protocol):
    """The model, seen as a token sequence with logits (implemented over llama.cpp)."""

    def feed(self, tokens: Sequence[int], *, all_logits: bool = False) -> np.ndarray:
        """Append tokens; return logits rows (one per token if all_logits, else the last)."""
        ...

    def truncate(self, n_tokens: int) -> None:
        """Forget everything after the first n_tokens."""
        ...

    @property
    def n_tokens(self) -> int: ...


@dataclass
class Vocab:
    """What the decoder needs from a tokenizer."""

    tokenize: Callable[[str], list[int]]  # plain text, no special parsing, no BOS
    piece: Callable[[int], bytes]  # bytes of one token ('' for control tokens)
    markers: Mapping[str, int]  # FunctionGemma marker (or its alias) -> token id

    def __post_init__(self) -> None:
        self.marker_of = {tid: m for m, tid in self.markers.items()}


@dataclass
class DecodeResult:
    text: str
    done_reason: str  # "stop" | "length"
    generated: int  # tokens the model chose (one forward pass each, or verified drafts)
    forced: int  # tokens the structure supplied
    drafted: int  # draft tokens accepted
    passes: int  # forward passes
    steered: int = 0  # tokens of a copied value taken below the model's first choice


@dataclass
class _State:
    tokens: list[int] = field(default_factory=list)
    text: list[str] = field(default_factory=list)
    pending: bytes = b""
    generated: int = 0
    forced: int = 0
    drafted: int = 0
    passes: int = 0
    steered: int = 0
    logits: np.ndarray | None = None  # the last row the model produced


def _argmax(row: np.ndarray) -> int:
    return int(np.argmax(row))


def _type_of(prop: Mapping[str, Any]) -> str:
    """A declared argument's JSON type (the first that is not null of a list of them)."""
    kind = prop.get("type", "string")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "string")
    return str(kind)


class CallDecoder:
    def __init__(self, vocab: Vocab, tools: Sequence[Mapping[str, Any]]) -> None:
        self.vocab = vocab
        self.params: dict[str, dict[str, str]] = {}
        self.required: dict[str, set[str]] = {}
        # function -> string argument -> its allowed values (the declaration's `enum`)
        self.enums: dict[str, dict[str, list[bytes]]] = {}
        for tool in tools:
            fn = tool.get("function", tool)
            schema = fn.get("parameters") or {}
            props = schema.get("properties") or {}
            self.params[fn["name"]] = {k: _type_of(v) for k, v in props.items()}
            self.required[fn["name"]] = set(schema.get("required") or ()) & set(props)
            self.enums[fn["name"]] = {
                k: [str(e).encode("utf-8") for e in v["enum"]] for k, v in props.items()
                if self.params[fn["name"]][k] == "string" and isinstance(v.get("enum"), list)
                and v["enum"] and all(isinstance(e, str) for e in v["enum"])}
        self.m = {name: vocab.markers[name] for name in fg.FUNCTION_MARKERS}
        # the token each declared name starts with, as the trainer tokenises the target
        self.heads = sorted({toks[0] for n in self.params if (toks := vocab.tokenize(n))})
        self.stop_ids = {vocab.markers[s] for s in fg.STOP_MARKERS if s in vocab.markers}

    # -- one forward pass with the model's token plus forced tokens ---------------------
    def _push(self, engine: Engine, st: _State, chosen: int, forced: Sequence[int]) -> int:
        seq = [chosen, *forced]
        logits = engine.feed(seq)
        st.logits = logits[-1]
        st.passes += 1
        st.generated += 1
        st.forced += len(forced)
        for tok in seq:
            self._record(st, tok)
        return _argmax(logits[-1])

    def _close(self, st: _State, tokens: Sequence[int], *, chosen: bool) -> DecodeResult:
        """End the call without running the model again: nothing after it is needed."""
        for tok in tokens:
            self._record(st, tok)
        st.generated += chosen
        st.forced += len(tokens) - chosen
        return self._result(st, "stop")

    def _after_key(self, name: str, key: str) -> list[int]:
        """What follows `key:` for certain: `<escape>` opens a string value."""
        return [self.m[fg.ESCAPE]] if self.params[name][key] == "string" else []

    def _sole_key(self, name: str, left: Sequence[str], *, must: bool) -> str | None:
        """The next key when the structure leaves only one (``must``: a key has to
        follow, as after a comma; otherwise only if the one left is required)."""
        if len(left) != 1 or not (must or left[0] in self.required[name]):
            return None
        return left[0]

    def _missing(self, name: str, used: set[str], st: _State) -> str | None:
        """A required key not written yet; if several, the one whose first token the model
        ranked highest where it would have ended the call."""
        missing = [k for k in self.params[name] if k in self.required[name] and k not in used]
        if len(missing) > 1 and st.logits is not None:
            row = st.logits
            return max(missing, key=lambda k: float(row[self.vocab.tokenize(k)[0]]))
        return missing[0] if missing else None

    def _key_tokens(self, name: str, key: str | None) -> list[int]:
        return [] if key is None else (self.vocab.tokenize(key + ":")
                                       + self._after_key(name, key))

    def _record(self, st: _State, tok: int) -> None:
        st.tokens.append(tok)
        marker = self.vocab.marker_of.get(tok)
        if marker is not None:
            self._flush(st)
            st.text.append(marker)
        else:
            st.pending += self.vocab.piece(tok)

    def _flush(self, st: _State) -> None:
        if st.pending:
            st.text.append(st.pending.decode("utf-8", errors="replace"))
            st.pending = b""

    def _draft(self, engine: Engine, st: _State, value: str, user: str, nxt: int
               ) -> tuple[int, str]:
        """Speculate the rest of a string value from the user's text. Returns the next
        token the model wants (after any accepted draft) and the value text so far."""
        at = user.find(value) if value else -1
        if at < 0:
            return nxt, value
        tail = user[at + len(value):][:48]
        if not tail:
            return nxt, value
        base = self.vocab.tokenize(value)
        full = self.vocab.tokenize(value + tail)
        draft = full[len(base):] if full[: len(base)] == base else self.vocab.tokenize(tail)
        draft = draft[:MAX_DRAFT]
        if not draft or draft[0] != nxt:
            return nxt, value
        start = engine.n_tokens
        logits = engine.feed(draft, all_logits=True)
        st.passes += 1
        accepted = 1  # draft[0] == nxt was the model's own choice
        while accepted < len(draft) and _argmax(logits[accepted - 1]) == draft[accepted]:
            accepted += 1
        engine.truncate(start + accepted)
        st.logits = logits[accepted - 1]
        st.generated += 1
        st.drafted += accepted - 1
        for tok in draft[:accepted]:
            self._record(st, tok)
            value += self.vocab.piece(tok).decode("utf-8", errors="ignore")
        return _argmax(logits[accepted - 1]), value

    def decode(self, engine: Engine, first: int, *, user_text: str, max_tokens: int,
               copied: Mapping[str, Collection[str]] | None = None,
               name_bias: Mapping[int, float] | None = None,
               names: Collection[str] | None = None) -> DecodeResult:
        """Decode from the open model turn. ``first`` is the model's first token (argmax of
        the prompt's last logits); ``copied``: function -> arguments whose value is a
        piece of ``user_text``; ``name_bias``: first token of a declared name -> what to
        add to its logit where the name is chosen (the router's correction for the
        model's prior over names, see LlamaCppRouter.name_bias); ``names``: a call
        started must be of one of these declared names, with declared keys (None: the
        model may stray, and the parser judges what it writes)."""
        st = _State()
        m = self.m
        nxt = first
        if nxt != m[fg.START_CALL]:
            # Not a call: that is the whole routing decision, so stop here.
            self._record(st, nxt)
            st.generated += 1
            return self._result(st, "stop")
        copied = copied or {}
        # one per message: a call's copied values share its word-start tokens
        source = Source(user_text) if copied else None
        nxt = self._push(engine, st, nxt, self.vocab.tokenize("call:"))
        allowed = list(self.params) if names is None else [n for n in self.params
                                                           if n in names]
        if names is not None and allowed and st.logits is not None:
            # a call of these names only: the best first token among theirs
            row, bias = st.logits, name_bias or {}
            heads = sorted({toks[0] for n in allowed if (toks := self.vocab.tokenize(n))})
            nxt = max(heads, key=lambda t: float(row[t]) + bias.get(t, 0.0))
        elif name_bias and st.logits is not None and nxt in name_bias:
            # only while the model is on the declared path (its choice starts a name)
            row = st.logits
            nxt = max(sorted(name_bias), key=lambda t: float(row[t]) + name_bias[t])
        name = self._match(engine, st, nxt, allowed, max_tokens, suffix="{",
                           then=lambda n: self._key_tokens(
                               n, self._sole_key(n, list(self.params[n]), must=False)),
                           strict=names is not None)
        if name is None:
            return self._free(engine, st, self._last, max_tokens)
        nxt = self._last
        types = self.params[name]
        used: set[str] = set()
        close, comma = self.vocab.tokenize("}")[0], self.vocab.tokenize(",")[0]
        end = m[fg.END_CALL]
        # a key already fed with the token before it
        forced_key: str | None = self._sole_key(name, list(types), must=False)
        while len(st.tokens) < max_tokens:
            left = [k for k in types if k not in used]
            if forced_key is None and nxt == close and (need := self._missing(name, used, st)):
                toks = ([comma] if used else []) + self._key_tokens(name, need)
                nxt, forced_key = self._push(engine, st, toks[0], toks[1:]), need
            if forced_key is not None:
                key, forced_key = forced_key, None
            else:
                if nxt == close:
                    return self._close(st, [close, end], chosen=True)
                if not left:
                    return self._free(engine, st, nxt, max_tokens)
                matched = self._match(engine, st, nxt, left, max_tokens, suffix=":",
                                      then=lambda k: self._after_key(name, k),
                                      strict=names is not None)
                if matched is None:
                    return self._free(engine, st, self._last, max_tokens)
                key, nxt = matched, self._last
            used.add(key)
            left = [k for k in types if k not in used]
            complete = True  # the value is closed, so a `,` may follow it
            if types[key] == "string":
                closed = self._string(engine, st, nxt, user_text, max_tokens,
                                      source=source if key in copied.get(name, ()) else None,
                                      enum=self.enums[name].get(key))
                if closed is None:
                    return self._result(st, "length")
                nxt = closed
                complete = nxt == m[fg.ESCAPE]
                if complete:
                    if not left:  # the last declared argument: only `}` can follow
                        return self._close(st, [nxt, close, end], chosen=True)
                    nxt = self._push(engine, st, nxt, [])
            else:
                after = self._bare(engine, st, nxt, max_tokens)
                if after is None:
                    return self._result(st, "length")
                nxt = after
            if complete and nxt != comma and self._missing(name, used, st):
                nxt = close  # about to end without a required key: written next turn
            if nxt == comma and left:
                sole = self._sole_key(name, left, must=True)
                nxt = self._push(engine, st, nxt, self._key_tokens(name, sole))
                forced_key = sole
            elif nxt != close:
                return self._free(engine, st, nxt, max_tokens)
        return self._result(st, "length")

    _last: int = 0

    def _match(self, engine: Engine, st: _State, nxt: int, options: list[str], max_tokens: int,
               *, suffix: str, then: Callable[[str], list[int]] | None = None,
               strict: bool = False) -> str | None:
        """Let the model spell one of ``options``; force the rest once it is unique.
        ``strict``: where the model's token leaves every option, take its best token
        among those that go on spelling one."""
        typed = ""
        while len(st.tokens) < max_tokens:
            piece = self.vocab.piece(nxt).decode("utf-8", errors="ignore")
            cand = typed + piece
            alive = [o for o in options if o.startswith(cand) or cand == o + suffix]
            if (strict and (not alive or nxt in self.vocab.marker_of) and (
                    on := spelling(self.vocab, st.logits, typed, options, suffix)) is not None):
                nxt, piece = on, self.vocab.piece(on).decode("utf-8", errors="ignore")
                cand = typed + piece
                alive = [o for o in options if o.startswith(cand) or cand == o + suffix]
            if not alive or nxt in self.vocab.marker_of:
                self._last = nxt
                return None
            if cand.endswith(suffix) and cand[: -len(suffix)] in options:
                chosen = cand[: -len(suffix)]
                self._last = self._push(engine, st, nxt, then(chosen) if then else [])
                return chosen
            if len(alive) == 1:
                chosen = alive[0]
                rest = self.vocab.tokenize(chosen[len(cand):] + suffix) if len(chosen) > len(
                    cand) else self.vocab.tokenize(suffix)
                self._last = self._push(engine, st, nxt, rest + (then(chosen) if then else []))
                return chosen
            typed = cand
            nxt = self._push(engine, st, nxt, [])
        self._last = nxt
        return None

    def _string(self, engine: Engine, st: _State, nxt: int, user: str, max_tokens: int,
                *, source: Source | None = None, enum: list[bytes] | None = None
                ) -> int | None:
        """Decode a string value; ``source``: the message, if the value is copied from it;
        ``enum``: the values it may take."""
        esc = self.m[fg.ESCAPE]
        value = ""
        start = len(st.tokens)
        while len(st.tokens) < max_tokens:
            if enum is not None:
                written = b"".join(self.vocab.piece(t) for t in st.tokens[start:])
                nxt = self._steered(st, keep_enum(self.vocab, st.logits, esc, written, nxt,
                                                  enum))
            elif source is not None:
                written = b"".join(self.vocab.piece(t) for t in st.tokens[start:])
                nxt = self._steered(st, keep_copied(self.vocab, st.logits, esc, written, nxt,
                                                    source))
            if nxt == esc:
                return nxt  # the caller decides what follows the closing <escape>
            if nxt in self.stop_ids:
                return nxt
            if value and enum is None:  # drafts from the message are not checked
                before = len(st.tokens)
                nxt, value = self._draft(engine, st, value, user, nxt)
                if len(st.tokens) > before:
                    continue
            value += self.vocab.piece(nxt).decode("utf-8", errors="ignore")
            nxt = self._push(engine, st, nxt, [])
        return None

    @staticmethod
    def _steered(st: _State, kept: tuple[int, bool]) -> int:
        """The token steering kept (steering.py), counted when it overrode the model."""
        st.steered += kept[1]
        return kept[0]

    def _bare(self, engine: Engine, st: _State, nxt: int, max_tokens: int) -> int | None:
        """A value that is not a string (a number, a boolean, an array or object, whose
        own commas and strings belong to it), up to the `,` or `}` after it."""
        ends = {self.vocab.tokenize(",")[0], self.vocab.tokenize("}")[0]}
        esc = self.m[fg.ESCAPE]
        depth, quoted = 0, False
        while len(st.tokens) < max_tokens:
            if nxt in self.stop_ids or depth <= 0 and (nxt in ends or nxt in self.vocab.marker_of):
                return nxt
            if nxt == esc:
                quoted = not quoted
            elif not quoted:
                piece = self.vocab.piece(nxt)
                depth += piece.count(b"[") + piece.count(b"{") - piece.count(b"]") \
                    - piece.count(b"}")
            nxt = self._push(engine, st, nxt, [])
        return None

    def _free(self, engine: Engine, st: _State, nxt: int, max_tokens: int) -> DecodeResult:
        """Plain greedy decoding until a stop marker, for output off the declared path."""
        while len(st.tokens) < max_tokens:
            if nxt in self.stop_ids:
                self._record(st, nxt)
                return self._result(st, "stop")
            nxt = self._push(engine, st, nxt, [])
        return self._result(st, "length")

    def _result(self, st: _State, reason: str) -> DecodeResult:
        self._flush(st)
        return DecodeResult(text="".join(st.text), done_reason=reason, generated=st.generated,
                            forced=st.forced, drafted=st.drafted, passes=st.passes,
                            steered=st.steered)
