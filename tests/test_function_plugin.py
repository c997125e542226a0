"""A function added as a package, without any edit to the core: written into a temporary
directory as docs/functions-as-packages.md says, discovered, and used through the real
CLI (its subcommand, its chat command, its notice, a routed call) and the real HTTP app
(its route, /chat), with the router and chat models scripted."""

from __future__ import annotations

import io
import sys
import textwrap
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from funcgemma.api import Service, create_app
from funcgemma.backends.scripted import ScriptedBackend, tool_call
from funcgemma.cli import main
from funcgemma.conversation import Conversation
from funcgemma.functions.context import FunctionContext
from funcgemma.registry import FunctionRegistry, FunctionSpec, discover
from funcgemma.results import Done, Failed
from funcgemma.router import Router
from funcgemma.settings import Settings
from funcgemma.types import Call, Message, copied_of

PACKAGE = "funcgemma_plugin_test_functions"
# a function package as a newcomer writes it: params, a handler returning Done/Failed, and
# hooks (a CLI subcommand, a chat command, a route, a notice before each chat prompt)
WORD_COUNT = '''
"""word_count: count the words of a text."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from funcgemma.functions.context import FunctionContext
from funcgemma.plugins import ChatCommand, Command, FunctionHooks, Invocation
from funcgemma.registry import FunctionSpec
from funcgemma.results import Done, Failed
from funcgemma.roles import Verbatim


class WordCountParams(BaseModel):
    """Count the words of a text."""

    text: Annotated[str, Verbatim()] = Field(description="The text whose words to count.")
    at_least: int = Field(1, ge=1, le=100, description="The fewest words that are enough.")


def word_count(params: WordCountParams, ctx: FunctionContext) -> Done | Failed:
    words = len(params.text.split())
    if words < params.at_least:
        return Failed(f"Only {words} words; at least {params.at_least} were asked for.",
                      {"text": params.text})
    return Done({"text": params.text, "words": words}, notice=f"{words} words counted",
                answer_with="Say how many words the text has.")


def tally(call: Invocation) -> int:
    print(f"counted so far: {call.args.start}", file=call.out)
    return 0


def chat_tally(ctx: FunctionContext, words: list[str], out) -> None:
    print(f"  tally of {len(words)} words", file=out)


def routes(service) -> APIRouter:
    router = APIRouter()

    @router.get("/word-count/{text}")
    def count(text: str, at_least: int = Query(1, ge=1, le=100)) -> dict:
        result = word_count(WordCountParams(text=text, at_least=at_least),
                            service.conversation.ctx)
        return result.payload()

    return router


def notices(ctx: FunctionContext) -> list[str]:
    shown = ctx.kept("word_count.shown", list)
    if shown:
        return []
    shown.append(True)
    return ["word_count is ready"]


SPEC = FunctionSpec(
    name="word_count",
    params=WordCountParams,
    handler=word_count,
    examples=("How many words are in 'to be or not to be'?",),
    hooks=FunctionHooks(
        commands=(Command(name="tally", help="show the tally",
                          configure=lambda p: p.add_argument("--start", type=int, default=0),
                          run=tally),),
        chat_commands=(ChatCommand(name="tally", usage="/tally  show the tally",
                                   run=chat_tally),),
        routes=routes,
        notices=notices,
    ),
)
'''
SCRIPT = {
    "How many words in: to be or not to be": tool_call(
        "word_count", text="to be or not to be"),
    "Are there ten words in: to be": tool_call("word_count", text="to be", at_least=10),
}


@pytest.fixture
def registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FunctionRegistry]:
    package = tmp_path / PACKAGE
    (package / "word_count").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "word_count" / "__init__.py").write_text(textwrap.dedent(WORD_COUNT))
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        yield FunctionRegistry([*discover(), *discover(PACKAGE)])
    finally:
        for name in [m for m in sys.modules if m.split(".")[0] == PACKAGE]:
            del sys.modules[name]


def conversation_over(registry: FunctionRegistry) -> Conversation:
    settings = Settings()

    def reply(messages: Sequence[Message]) -> str:
        return f"reply to {messages[-1].content}"

    router = Router(ScriptedBackend(SCRIPT, model="router-test"), registry, settings=settings)
    return Conversation(router, ScriptedBackend(reply=reply, model="chat-test"), registry,
                        FunctionContext(settings=settings), settings)


def run_cli(argv: list[str], conversation: Conversation, stdin: str = "") -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(argv, stdin=io.StringIO(stdin), stdout=out, stderr=err,
                conversation=conversation)
    assert err.getvalue() == "" or code != 0, err.getvalue()
    return code, out.getvalue()


def test_function_plugin_is_discovered_with_its_schema(registry: FunctionRegistry) -> None:
    spec = registry.get("word_count")
    assert isinstance(spec, FunctionSpec) and "schedule_reminder" in registry
    assert spec.tool_schema()["function"]["description"] == "Count the words of a text."
    assert registry.validate(Call(name="word_count", arguments={"text": "a b"})).arguments == {
        "text": "a b", "at_least": 1}
    with pytest.raises(ValidationError):  # a required argument missing
        registry.validate(Call(name="word_count", arguments={"at_least": 2}))
    # its field role is read like a built-in function's: the text is repaired from the
    # message (the whole quotation), and the embedded decoder keeps it to the message
    assert spec.ground({"text": "to be"}, "count the words of 'to be or not to be'") == {
        "text": "to be or not to be"}
    assert copied_of(registry.tools())["word_count"] == ["text"]


def test_function_plugin_handler_returns_done_or_failed(registry: FunctionRegistry) -> None:
    spec = registry.get("word_count")
    ctx = FunctionContext(settings=Settings())
    done = spec.handler(spec.params(text="one two three"), ctx)
    assert isinstance(done, Done) and done.data["words"] == 3
    assert done.payload() == {"text": "one two three", "words": 3,
                              "answer_with": "Say how many words the text has."}
    failed = spec.handler(spec.params(text="one", at_least=2), ctx)
    assert isinstance(failed, Failed) and failed.payload() == {
        "text": "one", "error": "Only 1 words; at least 2 were asked for."}


def test_function_plugin_cli_subcommand_runs(registry: FunctionRegistry) -> None:
    conversation = conversation_over(registry)
    code, out = run_cli(["tally", "--start", "7"], conversation)
    assert (code, out) == (0, "counted so far: 7\n")
    code, out = run_cli(["--help"], conversation)
    assert code == 0 and "tally" in out and "show the tally" in out


def test_function_plugin_in_the_terminal_chat(registry: FunctionRegistry) -> None:
    conversation = conversation_over(registry)
    lines = ["/help", "/tally a b c", "How many words in: to be or not to be",
             "Are there ten words in: to be", "/quit"]
    code, out = run_cli(["chat"], conversation, "".join(f"{line}\n" for line in lines))
    assert code == 0
    assert "/tally  show the tally" in out.splitlines()[1], "its usage is in the help line"
    assert out.count("word_count is ready\n") == 1, "the notice is shown once"
    assert "  tally of 3 words\n" in out
    assert '  [word_count {"text": "to be or not to be", "at_least": 1} · tools_api' in out
    assert "  = 6 words counted\n" in out
    assert "bot> reply to How many words in: to be or not to be\n" in out
    # a Failed result is said as it is; the chat model is not asked to make one up
    assert "bot> Only 2 words; at least 10 were asked for.\n" in out


def test_function_plugin_route_and_chat_over_http(registry: FunctionRegistry) -> None:
    conversation = conversation_over(registry)
    app = create_app(Service(conversation, Settings(), "scripted", "built by the test"))
    with TestClient(app) as client:
        assert client.get("/word-count/a b c").json() == {
            "text": "a b c", "words": 3, "answer_with": "Say how many words the text has."}
        assert client.get("/word-count/a", params={"at_least": 3}).json()["error"].startswith(
            "Only 1 words")
        assert client.get("/word-count/a", params={"at_least": 0}).status_code == 422
        assert "/word-count/{text}" in client.get("/openapi.json").json()["paths"]
        body = client.post("/chat", json={
            "message": "How many words in: to be or not to be"}).json()
        assert body["function_result"] == {"text": "to be or not to be", "words": 6,
                                           "answer_with": "Say how many words the text has."}
        assert body["notice"] == "6 words counted" and body["function_error"] is None
        failed = client.post("/chat", json={"message": "Are there ten words in: to be"}).json()
        assert failed["function_result"]["error"] == failed["reply"]
        assert failed["reply"] == "Only 2 words; at least 10 were asked for."
