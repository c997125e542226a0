"""Chat prompt formats for the embedded chat model, rendered as trusted/untrusted segments.

llama-cpp-python's own chat handler renders the GGUF's Jinja template to one string and
tokenises it with special tokens parsed, so a user typing `<|im_end|>` could close their
own turn. We render the two families we ship or expect (ChatML: SmolLM2, Qwen; Gemma
turns) ourselves, keeping user text as data.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import regex

from ..render import Segment
from ..types import Message


@dataclass(frozen=True)
class ChatFormat:
    name: str
    start: str  # format string with {role}
    end: str
    specials: tuple[str, ...]
    stops: tuple[str, ...]
    system_role: str | None  # None: fold the system prompt into the first user turn
    assistant_role: str

    def split(self, text: str) -> list[str]:
        pattern = "(" + "|".join(regex.escape(s) for s in self.specials) + ")"
        return [p for p in regex.split(pattern, text) if p]


CHATML = ChatFormat("chatml", "<|im_start|>{role}\n", "<|im_end|>\n",
                    ("<|im_start|>", "<|im_end|>"), ("<|im_end|>", "<|endoftext|>"),
                    "system", "assistant")
GEMMA = ChatFormat("gemma", "<start_of_turn>{role}\n", "<end_of_turn>\n",
                   ("<bos>", "<start_of_turn>", "<end_of_turn>"), ("<end_of_turn>", "<eos>"),
                   None, "model")


def detect_format(template: str) -> ChatFormat:
    return GEMMA if "<start_of_turn>" in template else CHATML


def chat_segments(fmt: ChatFormat, messages: Sequence[Message]) -> list[Segment]:
    segments: list[Segment] = [Segment("<bos>")] if fmt is GEMMA else []
    system = "\n".join(m.content for m in messages if m.role in ("system", "developer"))
    turns = [m for m in messages if m.role in ("user", "assistant")]
    if system and fmt.system_role:
        segments += [Segment(fmt.start.format(role=fmt.system_role)),
                     Segment(system, trusted=False), Segment(fmt.end)]
    for i, msg in enumerate(turns):
        role = fmt.assistant_role if msg.role == "assistant" else "user"
        segments.append(Segment(fmt.start.format(role=role)))
        if i == 0 and system and not fmt.system_role:
            segments.append(Segment(system + "\n\n", trusted=False))
        segments += [Segment(msg.content, trusted=False), Segment(fmt.end)]
    segments.append(Segment(fmt.start.format(role=fmt.assistant_role)))
    return segments
