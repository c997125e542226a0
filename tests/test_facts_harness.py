"""The acceptance harness of "Facts from sources": with the fake sources, the chats answer
from the fetched text.

Every question of tests/data/facts_questions.jsonl (our own writing, English and
Japanese; the routing data's format, with the ``page`` the answer must come from and an
``answer``, a phrase of that page a right reply holds) is routed to its expected call by
a scripted router and run through the real
Conversation, the real handlers and the real Wikipedia/Wikivoyage client against the fake
server (tests/fake_wiki.py serving tests/data/wiki/harness_pages.json). The reply is then
checked by this file's own checker, written here and not imported from funcgemma.facts:
every digit run, every capitalised Latin word not at a sentence start, every katakana run
and every kanji run of two or more characters must be in the page the fake served for the
question or in the question itself (NFKC, case-folded). Simple and strict: it is the
harness, not the product.

For each question:
- a chat model like the embedded one (``capable=False``): the reply is the source's own;
- a capable chat model that invents (a year, a film, a place, a number): the product's
  check must replace its reply;
- a capable chat model that copies the source faithfully: its reply must be kept (the
  check must not throw honest answers away: at least 90% of them, the ones dropped named);
- the fake down, and FUNCGEMMA_FACTS_SOURCES=false: it says it could not look it up and
  states nothing the question does not hold.
"""

from __future__ import annotations

import json
import os
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import regex
from fake_wiki import DATA as WIKI_DATA
from fake_wiki import FakeWiki, Page, free_port, load_pages

from funcgemma.backends.scripted import ScriptedBackend
from funcgemma.conversation import Conversation, build_conversation
from funcgemma.facts.etiquette import forget_unreachable
from funcgemma.functions.context import FunctionContext
from funcgemma.registry import FunctionRegistry, default_registry
from funcgemma.router import Router
from funcgemma.settings import Settings
from funcgemma.types import Call, ChatReply, Completion, Message

QUESTIONS_FILE = Path(__file__).parent / "data" / "facts_questions.jsonl"
PAGES_FILE = "harness_pages.json"
FAST = 200.0  # requests a second: the rate limit out of the way
KEPT_SHARE = 0.9  # faithful replies the product's check must keep
# extractive replies that hold what was asked (116 of 129 when written: see the report)
ANSWERED_SHARE = 0.85


@dataclass(frozen=True)
class Question:
    id: str
    kind: str  # celebrity | travel
    lang: str
    text: str
    call: dict[str, Any]
    page: tuple[str, str, str]  # site, lang, title the answer must come from
    answer: str  # what a right answer holds (a phrase of the page)


def _questions() -> list[Question]:
    out = []
    for line in QUESTIONS_FILE.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            page = row["page"]
            name = row["expected_function"]
            out.append(
                Question(
                    row["id"],
                    "celebrity" if name == "celebrity_info" else "travel",
                    row["lang"],
                    row["text"],
                    {"name": name, "arguments": row["expected_arguments"]},
                    (page["site"], page["lang"], page["title"]),
                    row["answer"],
                )
            )
    return out


QUESTIONS = _questions()
PAGES = {(p.site, p.lang, p.title): p for p in load_pages(PAGES_FILE)}
ALL = pytest.mark.parametrize("q", QUESTIONS, ids=[q.id for q in QUESTIONS])


def page_texts(q: Question) -> list[str]:
    """What the fake serves for the question's page: the REST summary and the full text."""
    page = PAGES[q.page]
    return [page.summary, page.text]


# --- the harness's own checker ---------------------------------------------------------

_DIGITS = regex.compile(r"\d+")
_LATIN = regex.compile(r"(?<![\p{L}\p{M}\p{N}])\p{Latin}[\p{Latin}\p{M}]*")
_KATAKANA = regex.compile(r"[ァ-ヺヽヾー]+")
_KANJI = regex.compile(r"[\p{Han}々]{2,}")
_OPENERS = "\"'“‘([{「『【*-•#>"
_ENDS = ".!?。！？:"


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


def _at_sentence_start(text: str, start: int) -> bool:
    i = start
    while i > 0 and (text[i - 1] in " \t" or text[i - 1] in _OPENERS):
        i -= 1
    return i == 0 or text[i - 1] == "\n" or text[i - 1] in _ENDS


def unsupported(reply: str, texts: Sequence[str], question: str) -> list[str]:
    """The reply's names and numbers that neither ``texts`` nor ``question`` hold: digit
    runs and capitalised Latin words (two letters or more: not "I") as whole tokens,
    katakana runs and kanji runs as substrings."""
    support = "\n".join(_fold(t) for t in [*texts, question])
    digits = set(_DIGITS.findall(support))
    words = set(_LATIN.findall(support))
    text = unicodedata.normalize("NFKC", reply)
    claims = [d for d in _DIGITS.findall(text) if d not in digits]
    claims += [
        m.group(0)
        for m in _LATIN.finditer(text)
        if m.group(0)[0].isupper()
        and len(m.group(0)) > 1  # "I"
        and not _at_sentence_start(text, m.start())
        and m.group(0).casefold() not in words
    ]
    claims += [
        run for run in _KATAKANA.findall(text) if run.strip("ー") and run.casefold() not in support
    ]
    claims += [run for run in _KANJI.findall(text) if run not in support]
    return list(dict.fromkeys(claims))


def sentences(text: str) -> list[str]:
    """Rough sentences: enough to pick one to copy and to find the page's text in a reply."""
    out = []
    for line in text.splitlines():
        if line.startswith("=="):
            continue
        out += [s.strip() for s in regex.split(r"(?<=[.!?])\s+(?=\p{Lu})|(?<=[。！？])", line)]
    return [s for s in out if s]


def from_page(reply: str, texts: Sequence[str]) -> bool:
    """Whether the reply holds a piece of the page's own text (15+ characters, or a
    whole sentence of the page)."""
    page = "\n".join(texts)
    for piece in sentences(reply):
        piece = piece.rstrip("…").strip()
        if piece in page and (len(piece) >= 15 or piece in sentences(page)):
            return True
    return False


def test_harness_checker_finds_what_the_page_does_not_hold() -> None:
    """The checker itself can fail: each kind of invention is caught, and what the page
    or the question holds is not."""
    page = [
        "Hayao Miyazaki (born 5 January 1941) co-founded Studio Ghibli.",
        "宮崎駿は1941年に東京都で生まれ、スタジオジブリを設立した。",
    ]
    question = "Who is Hayao Miyazaki? 渋谷"
    assert (
        unsupported("Miyazaki was born in 1941 and co-founded Studio Ghibli.", page, question) == []
    )
    assert unsupported("He made Frozen in 1890 and 19 films.", page, question) == [
        "1890",
        "19",
        "Frozen",
    ]
    assert unsupported("Frozen is his. Ghibli, not Pixar.", page, question) == ["Pixar"]
    assert unsupported(
        "宮崎駿は東京都で生まれた。ジブリ。渋谷タワーは大阪の。", page, question
    ) == ["タワー", "大阪"]
    assert unsupported("１９４１年、ＧＨＩＢＬＩ", page, question) == []  # NFKC: 1941, GHIBLI
    assert unsupported("In 1941, Tokyo", page, question) == ["Tokyo"]


# --- the conversation -----------------------------------------------------------------


@dataclass
class World:
    """The fake sources and what every conversation of the module shares."""

    fake: FakeWiki
    registry: FunctionRegistry
    http: httpx.Client  # one client: a client's TLS set-up costs more than a lookup

    def at_fake(self) -> dict[str, str]:
        return {
            "wikipedia_url": self.fake.wikipedia_url,
            "wikivoyage_url": self.fake.wikivoyage_url,
        }

    def ask(self, q: Question, chat: ScriptedBackend, **settings: Any) -> ChatReply:
        """The question through the real Conversation, routed to its call. Nothing is
        cached: every answer is fetched from the fake, none comes from an earlier test."""
        values = {
            "facts_max_requests_per_s": FAST,
            "facts_cache_max_age_s": 0,
            **self.at_fake(),
            **settings,
        }
        cfg = Settings(**values)
        routed = Completion(tool_calls=[Call(**q.call)], done_reason="stop")
        router = Router(ScriptedBackend({q.text: routed}), self.registry, settings=cfg)
        ctx = FunctionContext(settings=cfg, http=self.http)
        conversation = Conversation(router, chat, self.registry, ctx, cfg)
        try:
            return conversation.ask(q.text)
        finally:
            conversation.close()


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    with FakeWiki(load_pages(PAGES_FILE)) as fake, httpx.Client() as http:
        yield World(fake, default_registry(), http)
    assert fake.errors == [], "the fake itself failed"


@pytest.fixture(autouse=True)
def _fresh_hosts() -> None:
    forget_unreachable()  # a port found down by one test is asked again by the next


def assert_answered_from_the_page(q: Question, reply: ChatReply) -> None:
    assert [c.name for c in reply.route.calls] == [q.call["name"]]
    result = reply.function_result
    assert result is not None and result.get("found") is True, result
    assert (result["source"], result["lang"], result["title"]) == q.page


def passed_source(messages: Sequence[Message]) -> dict[str, Any]:
    """The function's result as the chat model is given it in the system prompt."""
    system = next(m.content for m in messages if m.role == "system")
    payload = system.split(" was run for this message and returned:\n", 1)[1]
    return json.loads(payload.split("\nBase your answer on it.", 1)[0])


_DAY_MONTH_YEAR = regex.compile(
    r"\b(\d{1,2}) (January|February|March|April|May|June|July|August|September|October"
    r"|November|December) (\d{4})\b"
)


def faithful(messages: Sequence[Message], *, us_dates: bool = False) -> str:
    """An honest chat model: the first sentence of the passage (or of the summary) and,
    if it says something else, the summary's first, copied as they are; ``us_dates``:
    with "5 January 1941" written "January 5, 1941", as a model may."""
    result = passed_source(messages)
    summary = sentences(result["summary"])
    first = sentences(result["passage"])[:1] if result.get("passage") else []
    chosen = [*first, *(s for s in summary[:1] if s not in first)]
    if result["lang"] == "ja":
        return "".join(chosen)
    reply = "Sure! " + " ".join(chosen)
    return _DAY_MONTH_YEAR.sub(r"\2 \1, \3", reply) if us_dates else reply


# what an inventing chat model adds: a year, a film, a place, a number
INVENTIONS = {
    ("celebrity", "en"): [
        "They also won a prize in 1890.",
        "Their best-known film is Frozen.",
        "They began their career at Shibuya Tower.",
        "Over 7777 people attend their shows.",
    ],
    ("celebrity", "ja"): [
        "1890年にも受賞した。",
        "代表作に『フローズン』がある。",
        "渋谷タワーで働いていた。",
        "観客は7777人だった。",
    ],
    ("travel", "en"): [
        "It was founded in 1890.",
        "Do not miss the view from Shibuya Tower.",
        "The local favourite is Frozen Bay oysters.",
        "Entry costs 7777 yen.",
    ],
    ("travel", "ja"): [
        "1890年に建てられた。",
        "渋谷タワーも必見。",
        "名物はフローズンプリン。",
        "入場料は7777円。",
    ],
}


def invention(q: Question) -> str:
    choices = INVENTIONS[(q.kind, "ja" if q.lang == "ja" else "en")]
    return choices[QUESTIONS.index(q) % len(choices)]


# --- a) a chat model like the embedded one ---------------------------------------------


ANSWERED: dict[str, str] = {}  # id -> the reply of a chat model like the embedded one


def run_embedded_like(q: Question, world: World) -> ChatReply:
    chat = ScriptedBackend(reply=lambda messages: "Miyazaki made Frozen in 1890.", capable=False)
    reply = world.ask(q, chat)
    assert_answered_from_the_page(q, reply)
    assert chat.calls == [], "a chat model that does not answer from sources is not asked"
    ANSWERED[q.id] = reply.reply
    return reply


@ALL
def test_harness_embedded_like_chat_answers_from_the_page(q: Question, world: World) -> None:
    reply = run_embedded_like(q, world)
    assert unsupported(reply.reply, page_texts(q), q.text) == [], reply.reply
    assert from_page(reply.reply, page_texts(q)), reply.reply


def test_harness_embedded_like_chat_replies_answer_the_question(world: World) -> None:
    """Grounded is not enough: most replies hold what was asked (the question's
    ``answer``, a phrase of its page). Those that do not are named."""
    for q in QUESTIONS:
        if q.id not in ANSWERED:  # run alone (-k)
            run_embedded_like(q, world)
    missed = {
        q.id: (q.text, q.answer, ANSWERED[q.id])
        for q in QUESTIONS
        if _fold(q.answer) not in _fold(ANSWERED[q.id])
    }
    share = 1 - len(missed) / len(QUESTIONS)
    assert share >= ANSWERED_SHARE, f"{len(missed)} replies miss what was asked: {missed}"


# --- b) a capable chat model that invents ----------------------------------------------


@ALL
def test_harness_inventing_chat_model_is_replaced(q: Question, world: World) -> None:
    written: list[str] = []

    def inventing(messages: Sequence[Message]) -> str:
        honest = faithful(messages)
        glue = "" if q.lang == "ja" and not honest.startswith("Sure") else " "
        written.append(f"{honest}{glue}{invention(q)}")
        return written[-1]

    chat = ScriptedBackend(reply=inventing, capable=True)
    reply = world.ask(q, chat)
    assert_answered_from_the_page(q, reply)
    assert len(written) == 1, "the capable chat model is asked"
    assert unsupported(written[0], page_texts(q), q.text) != [], "the harness sees the invention"
    assert unsupported(reply.reply, page_texts(q), q.text) == [], reply.reply
    assert reply.reply != written[0]
    assert from_page(reply.reply, page_texts(q)), reply.reply


# --- c) a capable chat model that answers faithfully -----------------------------------

KEPT: dict[str, tuple[bool, str, str]] = {}  # id -> (kept, what it wrote, final reply)


def run_faithful(q: Question, world: World) -> tuple[str, str]:
    written: list[str] = []

    def honest(messages: Sequence[Message]) -> str:
        written.append(faithful(messages, us_dates=QUESTIONS.index(q) % 2 == 1))
        return written[-1]

    reply = world.ask(q, ScriptedBackend(reply=honest, capable=True))
    assert_answered_from_the_page(q, reply)
    assert len(written) == 1
    KEPT[q.id] = (reply.reply == written[0], written[0], reply.reply)
    return written[0], reply.reply


@ALL
def test_harness_faithful_chat_model_reply_is_grounded(q: Question, world: World) -> None:
    written, final = run_faithful(q, world)
    assert unsupported(written, page_texts(q), q.text) == [], "the honest model copies"
    assert unsupported(final, page_texts(q), q.text) == [], final


def test_harness_faithful_chat_model_replies_are_kept(world: World) -> None:
    """The product's check keeps honest answers: at least 90% of the faithful replies
    reach the user as the model wrote them (those dropped are named)."""
    for q in QUESTIONS:
        if q.id not in KEPT:  # run alone (-k): the per-question tests did not fill it
            run_faithful(q, world)
    dropped = {i: (w, f) for i, (kept, w, f) in KEPT.items() if not kept}
    share = 1 - len(dropped) / len(QUESTIONS)
    assert share >= KEPT_SHARE, f"{len(dropped)} honest replies replaced: {dropped}"


# --- no sources ------------------------------------------------------------------------

# funcgemma's own words in "could not look it up": the site and the setting it names
OWN_WORDS = (
    "Wikipedia Wikivoyage ウィキペディア ウィキボヤージュ FUNCGEMMA_FACTS_SOURCES "
    "HTTP 記憶 無効 接続 応答"
)


def inventing_chat() -> ScriptedBackend:
    return ScriptedBackend(reply=lambda messages: "Born in 1890, famous for Frozen.", capable=True)


@ALL
def test_harness_sources_down_says_it_could_not_look_it_up(q: Question, world: World) -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    chat = inventing_chat()
    reply = world.ask(
        q,
        chat,
        wikipedia_url=f"{closed}/wikipedia/{{lang}}",
        wikivoyage_url=f"{closed}/wikivoyage/{{lang}}",
    )
    assert reply.function_result is not None and reply.function_result["found"] is False
    assert chat.calls == [], "the chat model is not asked to answer from memory"
    if q.lang == "ja":
        assert "調べられませんでした" in reply.reply and "記憶に頼って" in reply.reply
    else:
        assert "Could not look up" in reply.reply and "not answer from memory" in reply.reply
    assert unsupported(reply.reply, [OWN_WORDS], q.text) == [], reply.reply


@ALL
def test_harness_sources_off_says_it_is_not_looked_up(
    q: Question, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FUNCGEMMA_FACTS_SOURCES", "false")
    before = len(world.fake.requests())
    chat = inventing_chat()
    reply = world.ask(q, chat)
    assert len(world.fake.requests()) == before, "nothing is fetched"
    assert reply.function_result is not None and reply.function_result["found"] is False
    assert chat.calls == []
    if q.lang == "ja":
        assert "無効" in reply.reply and "記憶に頼って" in reply.reply
    else:
        assert "is turned off" in reply.reply and "not answer from memory" in reply.reply
    assert unsupported(reply.reply, [OWN_WORDS], q.text) == [], reply.reply


# --- the real embedded backend --------------------------------------------------------


@pytest.fixture(scope="module")
def embedded(world: World, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Conversation]:
    """build_conversation with the llama.cpp backend (the models load once), its sources
    the fake's."""
    with pytest.MonkeyPatch.context() as env:  # nothing from the developer's shell
        for name in list(os.environ):
            if name.startswith("FUNCGEMMA_") or name == "OLLAMA_HOST":
                env.delenv(name)
        settings = Settings(
            data_dir=tmp_path_factory.mktemp("embedded"),
            n_threads=2,
            facts_max_requests_per_s=FAST,
            **world.at_fake(),
        )
    conversation, kind, _ = build_conversation(settings, "llamacpp")
    assert kind == "llamacpp"
    yield conversation
    conversation.close()


def served_page(reply: ChatReply) -> Page:
    result = reply.function_result
    assert result is not None and result.get("found") is True, result
    return PAGES[result["source"], result["lang"], result["title"]]


@pytest.mark.slow
@pytest.mark.llamacpp
def test_harness_embedded_backend_answers_the_example_chats(embedded: Conversation) -> None:
    """The issue's two example chats and a translation, on the real embedded models."""
    who = embedded.ask("Who is Hayao Miyazaki?")
    assert [c.name for c in who.route.calls] == ["celebrity_info"], who.route
    page = served_page(who)
    assert page.title == "Hayao Miyazaki"
    assert unsupported(who.reply, [page.summary, page.text], "Who is Hayao Miyazaki?") == []
    assert from_page(who.reply, [page.summary, page.text]), who.reply

    trip = "Tokyo trip next month: what should I see in Asakusa?"
    see = embedded.ask(trip)
    assert [c.name for c in see.route.calls] == ["travel_guide"], see.route
    page = served_page(see)
    assert page.title == "Tokyo/Asakusa"
    assert unsupported(see.reply, [page.summary, page.text], trip) == [], see.reply
    see_section = page.text.split("== See ==\n", 1)[1].split("\n\n\n==", 1)[0]
    assert from_page(see.reply, [see_section]), see.reply

    korean = embedded.ask("Translate good night into Korean")
    assert [c.name for c in korean.route.calls] == ["translation_assist"], korean.route
    assert "cannot translate here" in korean.reply, korean.reply
    assert not regex.search(r"\p{Hangul}", korean.reply), "no made-up translation"


# --- the data --------------------------------------------------------------------------


def test_harness_questions_cover_both_functions_and_languages() -> None:
    counts: dict[tuple[str, str], int] = {}
    for q in QUESTIONS:
        counts[q.kind, q.lang] = counts.get((q.kind, q.lang), 0) + 1
        assert q.page in PAGES, f"{q.id}: no page {q.page}"
        argument = next(iter(q.call["arguments"].values()))
        assert argument in q.text, f"{q.id}: the call's argument is the user's own words"
        assert _fold(q.answer) in _fold("\n".join(page_texts(q))), f"{q.id}: answer not in page"
    assert len({q.id for q in QUESTIONS}) == len({q.text for q in QUESTIONS}) == len(QUESTIONS)
    for kind in ("celebrity", "travel"):
        assert counts[kind, "en"] + counts[kind, "ja"] >= 50
        assert counts[kind, "ja"] >= 15
    assert (WIKI_DATA / PAGES_FILE).is_file()
    assert ("wikipedia", "en", "Hayao Miyazaki") in PAGES and ("wikipedia", "ja", "宮崎駿") in PAGES
    assert ("wikivoyage", "en", "Tokyo/Asakusa") in PAGES and ("wikivoyage", "ja", "浅草") in PAGES
