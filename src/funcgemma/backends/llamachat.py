"""LlamaCppChat: the embedded chat model (SmolLM2-135M-Instruct by default), with the
chat prompt formats it is rendered in.

llama-cpp-python's own chat handler renders the GGUF's Jinja template to one string and
tokenises it with special tokens parsed, so a user typing `<|im_end|>` could close their
own turn. We render the two families we ship or expect (ChatML: SmolLM2, Qwen; Gemma
turns) ourselves, as trusted/untrusted segments, keeping user text as data.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import regex

from ..errors import BackendError, TextTooLong
from ..formats.functiongemma import Segment
from ..types import CompletionOptions, Message
from .fairlock import FairLock


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


class LlamaCppChat:
    """The chat model (SmolLM2-135M-Instruct by default), prompt rendered as token lists so
    control tokens in user text stay text."""

    name = "llamacpp"
    # SmolLM2-135M invents ("Miyazaki, creator of Frozen, born 1890") and cannot translate
    answers_from_sources = False
    translates = False

    def __init__(self, llm: Any, *, model: str, lock: FairLock) -> None:
        self.llm = llm
        self.model = model
        self.lock = lock
        template = (llm.metadata or {}).get("tokenizer.chat_template", "")
        self.format = detect_format(template)
        self.stop_ids = {llm.token_eos()}
        for tok in self.format.stops:
            ids = llm.tokenize(tok.encode(), add_bos=False, special=True)
            if len(ids) == 1:
                self.stop_ids.add(ids[0])

    def _encode(self, messages: Sequence[Message]) -> list[int]:
        def token_id(text: str) -> int | None:
            ids = self.llm.tokenize(text.encode(), add_bos=False, special=True)
            return ids[0] if len(ids) == 1 else None

        def plain(text: str) -> list[int]:
            return list(self.llm.tokenize(text.encode(), add_bos=False, special=False))

        ids: list[int] = []
        for seg in chat_segments(self.format, messages):
            if not seg.trusted:
                ids.extend(plain(seg.text))
                continue
            for piece in self.format.split(seg.text):
                tid = token_id(piece) if piece in self.format.specials else None
                ids.extend([tid] if tid is not None else plain(piece))
        return ids

    def _fit(self, messages: list[Message], budget: int) -> list[int]:
        """The prompt within `budget` tokens: the oldest history goes first, whole turns
        (a user message and the reply to it), while the system turn (which carries the
        function's result) and the new message stay whole. Only when those two alone do
        not fit is the new message cut in its middle (its start and end are kept)."""
        ids = self._encode(messages)
        head = next((i for i, m in enumerate(messages) if m.role != "system"), len(messages))
        while len(ids) > budget and len(messages) - head > 1:
            del messages[head]
            if len(messages) - head > 1 and messages[head].role == "assistant":
                del messages[head]  # the reply goes with the message it answered
            ids = self._encode(messages)
        if len(ids) > budget:
            last = messages[-1]
            over = len(ids) - budget + 8  # 8: the marker and retokenising at the cut
            text = self.llm.tokenize(last.content.encode(), add_bos=False, special=False)
            keep = max(0, len(text) - over)
            cut = (self.llm.detokenize(text[: keep // 2]).decode(errors="ignore") + " […] "
                   + self.llm.detokenize(text[len(text) - (keep - keep // 2):]).decode(
                       errors="ignore") if keep else "")
            messages[-1] = last.model_copy(update={"content": cut})
            ids = self._encode(messages)
            if len(ids) > budget:  # the system turn alone is too long for this model
                raise TextTooLong(
                    f"The chat prompt needs {len(ids)} tokens; the chat model's context "
                    f"holds {budget} besides the reply. Raise FUNCGEMMA_EMBEDDED_CHAT_N_CTX.")
        return ids

    def stream(self, messages: Sequence[Message], *, options: CompletionOptions | None = None
               ) -> Iterator[str]:
        """The reply, piece by piece. The model is generated from on a thread of its own
        that holds the model's turn only while it generates: a client that reads slowly,
        stops reading or goes away (a dropped HTTP stream whose generator is never
        closed) cannot keep the chat model from everyone else. Closing this iterator
        stops the generation at the next token."""
        options = options or CompletionOptions(temperature=0.7, max_tokens=384)
        ids = self._fit(list(messages), self.llm.n_ctx() - options.max_tokens)
        pieces: queue.SimpleQueue[str | BaseException | None] = queue.SimpleQueue()
        stop = threading.Event()

        def produce() -> None:
            try:
                with self.lock.hold():
                    for text in self._generate(ids, options, stop):
                        pieces.put(text)
            except BaseException as exc:  # noqa: BLE001 - handed to the reader, who raises it
                pieces.put(exc)
            else:
                pieces.put(None)

        worker = threading.Thread(target=produce, name="funcgemma-chat", daemon=True)
        worker.start()
        try:
            while (item := pieces.get()) is not None:
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            stop.set()

    def _generate(self, ids: list[int], options: CompletionOptions, stop: threading.Event
                  ) -> Iterator[str]:
        pending = b""
        try:
            for n, tok in enumerate(self.llm.generate(
                ids, temp=options.temperature, top_k=40, top_p=0.9, repeat_penalty=1.15,
                reset=True,
            )):
                if tok in self.stop_ids or n >= options.max_tokens or stop.is_set():
                    break
                pending += bytes(self.llm.detokenize([tok], special=False))
                try:
                    text = pending.decode("utf-8")
                except UnicodeDecodeError:
                    if len(pending) < 8:
                        continue
                    text = pending.decode("utf-8", errors="replace")
                pending = b""
                if text:
                    yield text
        except RuntimeError as exc:
            raise BackendError(f"llama.cpp failed while replying: {exc}") from exc

    def describe(self) -> dict[str, Any]:
        return {"backend": self.name, "role": "chat", "model": self.model,
                "format": self.format.name, "queue_waiting": self.lock.waiting}

    def ready(self) -> tuple[bool, str]:
        # the weights were checked and loaded in-process when this object was built
        return True, f"{self.model} loaded in-process"
