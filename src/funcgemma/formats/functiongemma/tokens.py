"""FunctionGemma's control tokens: their spellings, and keeping them apart from text.

A control token is trusted structure (``<start_of_turn>``, ``<escape>``...); the same
characters typed by a user are data. Each reader of the format gets the vocabulary from
here: the renderer, the parser, the embedded decoder, the raw-prompt servers and the
router's check for call syntax a user typed.
"""

from __future__ import annotations

from collections.abc import Callable

BOS = "<bos>"
START_TURN = "<start_of_turn>"
END_TURN = "<end_of_turn>"
START_DECL = "<start_function_declaration>"
END_DECL = "<end_function_declaration>"
START_CALL = "<start_function_call>"
END_CALL = "<end_function_call>"
START_RESP = "<start_function_response>"
END_RESP = "<end_function_response>"
ESCAPE = "<escape>"

FUNCTION_MARKERS = (START_DECL, END_DECL, START_CALL, END_CALL, START_RESP, END_RESP, ESCAPE)
CONTROL_TOKENS = (BOS, START_TURN, END_TURN, *FUNCTION_MARKERS)

# In a vocabulary without FunctionGemma's markers (Gemma 3 base), each marker is
# spelt with one reserved single token instead of 3-7 text tokens: a call then
# decodes in far fewer steps, and a user can never type the token (user text is
# tokenised with special parsing off). FunctionGemma's own vocabulary has the
# markers and uses them directly.
RESERVED_ALIASES = {marker: f"<unused{i}>" for i, marker in enumerate(FUNCTION_MARKERS)}
STOP_MARKERS = (END_CALL, START_RESP, END_TURN)
# Every spelling of a control token a tokenizer could parse out of text.
CONTROL_SPELLINGS = (*CONTROL_TOKENS, *RESERVED_ALIASES.values())
PREAMBLE = "You are a model that can do function calling with the following functions"
NO_CALL_REPLY = "No function applies."


def control_token_id(token: str, token_id: Callable[[str], int | None]) -> int:
    tid = token_id(token)
    if tid is None and token in RESERVED_ALIASES:
        tid = token_id(RESERVED_ALIASES[token])
    if tid is None:
        raise ValueError(f"The tokenizer has no token for {token!r} nor a reserved alias")
    return tid


def split_control(text: str) -> list[str]:
    """Split trusted text into control tokens and plain runs (longest match first)."""
    out: list[str] = []
    i = plain = 0
    while i < len(text):
        if text[i] == "<":
            hit = next((t for t in CONTROL_TOKENS if text.startswith(t, i)), None)
            if hit:
                if plain < i:
                    out.append(text[plain:i])
                out.append(hit)
                i += len(hit)
                plain = i
                continue
        i += 1
    if plain < len(text):
        out.append(text[plain:])
    return out


def restore_markers(text: str) -> str:
    """Turn reserved aliases in decoded model output back into FunctionGemma markers."""
    for marker, alias in RESERVED_ALIASES.items():
        text = text.replace(alias, marker)
    return text


def neutralise_control_tokens(text: str) -> str:
    """For a server that parses special tokens in the text it is sent (Ollama renders the
    prompt itself): break every control token with a word joiner so it is read as text.
    Text neutralised once is left as it is."""
    for token in CONTROL_SPELLINGS:
        if token in text:
            text = text.replace(token, token[0] + "\u2060" + token[1:])
    return text


def unmarked(text: str) -> str:
    """``text`` with every spelling of a control token as a space (to compare the words
    of call syntax, markers set aside)."""
    for token in CONTROL_SPELLINGS:
        text = text.replace(token, " ")
    return text
