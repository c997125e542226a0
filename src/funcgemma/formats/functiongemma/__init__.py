"""The FunctionGemma format, in one place: its control tokens, the prompt (declarations,
turns, the open model turn), the fallback parser for calls in model text, and the raw
spelling a server given the prompt as one string reads and writes.

::

    <bos><start_of_turn>developer
    You are a model that can do function calling with the following functions<start_fun...
    <start_of_turn>user
    TEXT<end_of_turn>
    <start_of_turn>model
    <start_function_call>call:NAME{arg:<escape>value<escape>,n:3}<end_function_call>

User text is data, never tokens: it is tokenised with special parsing off (``encode``),
or, for a server that parses special tokens, its control tokens are broken
(``neutralise_control_tokens``). The embedded backend, the raw-prompt Ollama and OpenAI
routers, the router's parser and the trainer all use this package.
"""

from .parse import CALL_NAME, ParsedCall, ParseOutcome, extract_calls, parse_value
from .raw import CALL_TOKENS, HIDDEN, RAW_CALL, RAW_STOPS, MarkerRestorer, forced_opening
from .render import (
    Segment,
    encode,
    prompt_text,
    raw_prompt,
    render_call,
    render_declaration,
    render_developer_turn,
    render_prompt,
    render_target,
    render_value,
    target_segments,
)
from .tokens import (
    BOS,
    CONTROL_SPELLINGS,
    CONTROL_TOKENS,
    END_CALL,
    END_DECL,
    END_RESP,
    END_TURN,
    ESCAPE,
    FUNCTION_MARKERS,
    NO_CALL_REPLY,
    PREAMBLE,
    RESERVED_ALIASES,
    START_CALL,
    START_DECL,
    START_RESP,
    START_TURN,
    STOP_MARKERS,
    control_token_id,
    neutralise_control_tokens,
    restore_markers,
    unmarked,
)

__all__ = [
    "BOS",
    "CALL_NAME",
    "CALL_TOKENS",
    "CONTROL_SPELLINGS",
    "CONTROL_TOKENS",
    "END_CALL",
    "END_DECL",
    "END_RESP",
    "END_TURN",
    "ESCAPE",
    "FUNCTION_MARKERS",
    "HIDDEN",
    "NO_CALL_REPLY",
    "PREAMBLE",
    "RAW_CALL",
    "RAW_STOPS",
    "RESERVED_ALIASES",
    "START_CALL",
    "START_DECL",
    "START_RESP",
    "START_TURN",
    "STOP_MARKERS",
    "MarkerRestorer",
    "ParseOutcome",
    "ParsedCall",
    "Segment",
    "control_token_id",
    "encode",
    "extract_calls",
    "forced_opening",
    "neutralise_control_tokens",
    "parse_value",
    "prompt_text",
    "raw_prompt",
    "render_call",
    "render_declaration",
    "render_developer_turn",
    "render_prompt",
    "render_target",
    "render_value",
    "restore_markers",
    "target_segments",
    "unmarked",
]
