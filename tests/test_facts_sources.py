"""celebrity_info and travel_guide answer from Wikipedia and Wikivoyage (funcgemma.facts).

The sources are faked by a real local HTTP server speaking the APIs' JSON
(tests/fake_wiki.py, shapes in tests/data/wiki/); the client, the cache in SQLite, the
rate limit and the handlers are real.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fake_wiki import FakeWiki, Page, free_port
from pydantic import ValidationError

from funcgemma.facts import WikiClient, notice, user_agent
from funcgemma.facts.attributes import PERSON, PLACE, asked_attribute, split_sections
from funcgemma.facts.cache import FactsCache
from funcgemma.facts.etiquette import forget_unreachable
from funcgemma.facts.wiki import names_match
from funcgemma.functions.celebrity_info import CelebrityInfoParams, celebrity_info
from funcgemma.functions.context import FunctionContext
from funcgemma.functions.travel_guide import TravelGuideParams, travel_guide
from funcgemma.messages import in_language
from funcgemma.results import Done, Failed
from funcgemma.settings import Settings

FAST = 200.0  # requests a second: the rate limit out of the way where it is not tested


@pytest.fixture(autouse=True)
def _fresh_hosts() -> None:
    forget_unreachable()  # a port an earlier test found down may be reused by this one


@pytest.fixture
def fake() -> Iterator[FakeWiki]:
    with FakeWiki() as server:
        yield server
    assert server.errors == [], "the fake itself failed"


def context(fake: FakeWiki | None = None, **overrides: Any) -> FunctionContext:
    values: dict[str, Any] = {"facts_max_requests_per_s": FAST}
    if fake is not None:
        values.update(wikipedia_url=fake.wikipedia_url, wikivoyage_url=fake.wikivoyage_url)
    return FunctionContext(settings=Settings(**{**values, **overrides}))


@pytest.fixture
def ctx(fake: FakeWiki) -> Iterator[FunctionContext]:
    ctx = context(fake)
    yield ctx
    ctx.close()


def person(ctx: FunctionContext, name: str, message: str | None = None) -> dict[str, Any]:
    with ctx.for_message(message if message is not None else f"Who is {name}?"):
        result = celebrity_info(CelebrityInfoParams(name=name), ctx)
    return _checked(result)


def _checked(result: Done | Failed) -> dict[str, Any]:
    """The result as the chat model reads it; a lookup done states its page as its notice."""
    payload = result.payload()
    json.dumps(payload)  # the chat model gets it as JSON
    if isinstance(result, Done):
        assert result.notice == notice(payload)
    return payload


def place(
    ctx: FunctionContext, destination: str, message: str | None = None, days: int | None = None
) -> dict[str, Any]:
    with ctx.for_message(message if message is not None else f"What to see in {destination}?"):
        result = travel_guide(TravelGuideParams(destination=destination, days=days), ctx)
    return _checked(result)


# --- found ----------------------------------------------------------------------------


def test_celebrity_info_answers_from_the_english_summary(
    ctx: FunctionContext, fake: FakeWiki
) -> None:
    result = person(ctx, "Hayao Miyazaki")
    assert result["found"] is True and result["source"] == "wikipedia"
    assert result["title"] == "Hayao Miyazaki" and result["lang"] == "en"
    assert result["url"] == f"{fake.url}/wikipedia/en/wiki/Hayao_Miyazaki"
    assert "co-founded Studio Ghibli" in result["summary"]
    assert result["asked"] is None and result["passage"] is None
    assert result["answer_with"].startswith("Answer only from summary and passage.")
    assert "error" not in result
    said = notice(result)
    assert said == f"source: Wikipedia, Hayao Miyazaki {result['url']}"
    assert in_language(said, "ja") == f"出典: ウィキペディア「Hayao Miyazaki」 {result['url']}"
    # a name as written: one summary request, nothing else
    assert [e.path for e in fake.requests()] == [
        "/wikipedia/en/api/rest_v1/page/summary/Hayao_Miyazaki"
    ]


def test_celebrity_info_answers_from_the_japanese_edition(ctx: FunctionContext) -> None:
    result = person(ctx, "宮崎駿", "宮崎駿について教えてください")
    assert result["found"] is True and result["lang"] == "ja" and result["title"] == "宮崎駿"
    assert "/wikipedia/ja/wiki/" in result["url"]
    assert "スタジオジブリ" in result["summary"]


def test_celebrity_info_falls_back_to_english_when_japanese_has_no_page(
    ctx: FunctionContext, fake: FakeWiki
) -> None:
    result = person(ctx, "Studio Ghibli", "Studio Ghibliってどんな会社？")
    assert result["found"] is True and result["lang"] == "en"
    assert result["title"] == "Studio Ghibli"
    paths = [e.path for e in fake.requests()]
    assert paths[0] == "/wikipedia/ja/api/rest_v1/page/summary/Studio_Ghibli"
    assert paths[-1] == "/wikipedia/en/api/rest_v1/page/summary/Studio_Ghibli"


def test_celebrity_info_follows_a_redirect(ctx: FunctionContext) -> None:
    result = person(ctx, "Miyazaki Hayao")
    assert result["found"] is True and result["title"] == "Hayao Miyazaki"


def test_celebrity_info_finds_a_page_by_search_when_the_title_differs(
    ctx: FunctionContext, fake: FakeWiki
) -> None:
    result = person(ctx, "hayao miyazaki")  # no page titled so: found by search
    assert result["found"] is True and result["title"] == "Hayao Miyazaki"
    assert any(e.query.get("list") == "search" for e in fake.requests())


# --- not found, ambiguous ---------------------------------------------------------------


def test_celebrity_info_says_plainly_when_no_page_matches(ctx: FunctionContext) -> None:
    result = person(ctx, "Zorblax Quintaro")
    assert result["found"] is False and result["candidates"] == []
    assert result["error"] == (
        "No page for Zorblax Quintaro was found on Wikipedia, so I will not answer from memory."
    )
    assert "「Zorblax Quintaro」のページはウィキペディアに見つかりませんでした" in in_language(
        result["error"], "ja"
    )


def test_celebrity_info_offers_search_hits_that_are_not_the_name(ctx: FunctionContext) -> None:
    result = person(ctx, "Isao Takahata")  # no page of his own; a search finds one
    assert result["found"] is False
    assert result["candidates"] == ["Studio Ghibli"]
    assert "Did you mean: Studio Ghibli?" in result["error"]


def test_celebrity_info_lists_the_candidates_of_a_disambiguation_page(ctx: FunctionContext) -> None:
    result = person(ctx, "Mercury")
    assert result["found"] is False and result["title"] == "Mercury"
    assert result["candidates"] == ["Mercury (planet)", "Mercury (element)", "Freddie Mercury"]
    assert result["error"] == (
        "On Wikipedia, Mercury could mean several things: "
        "Mercury (planet), Mercury (element), Freddie Mercury. "
        "Which one do you mean?"
    )


def test_celebrity_info_lists_at_most_five_candidates(ctx: FunctionContext, fake: FakeWiki) -> None:
    for i in range(8):
        fake.add(
            Page(
                "wikipedia",
                "en",
                f"Mercury {i}",
                f"Mercury {i} is a thing.",
                summary=f"Mercury {i} is a thing.",
                pageid=900 + i,
            )
        )
    result = person(ctx, "Mercury")
    assert 1 <= len(result["candidates"]) <= 5 and "Mercury" not in result["candidates"]


# --- what was asked -----------------------------------------------------------------------


def test_celebrity_info_returns_the_passage_that_holds_the_birth_date(ctx: FunctionContext) -> None:
    result = person(ctx, "Hayao Miyazaki", "When was Hayao Miyazaki born?")
    assert result["found"] is True and result["asked"] == "born"
    assert "born on 5 January 1941 in Tokyo" in result["passage"]
    assert "Spirited Away" not in result["passage"]
    assert "about their birth date" in result["answer_with"]


def test_celebrity_info_returns_the_japanese_passage_for_the_birth_date(
    ctx: FunctionContext,
) -> None:
    result = person(ctx, "宮崎駿", "宮崎駿はいつ生まれたの？")
    assert result["asked"] == "born" and "1941年1月5日" in result["passage"]


def test_celebrity_info_returns_the_section_for_films_and_awards(ctx: FunctionContext) -> None:
    films = person(ctx, "Hayao Miyazaki", "What films did Hayao Miyazaki make?")
    assert films["asked"] == "films" and "My Neighbor Totoro" in films["passage"]
    awards = person(ctx, "Hayao Miyazaki", "Has Hayao Miyazaki won an Oscar?")
    assert awards["asked"] == "awards" and "Academy Award" in awards["passage"]


def test_celebrity_info_says_when_the_source_does_not_hold_what_was_asked(
    ctx: FunctionContext,
) -> None:
    result = person(ctx, "Hayao Miyazaki", "How tall is Hayao Miyazaki?")
    assert result["asked"] == "height" and result["passage"] is None
    assert "does not state their height" in result["answer_with"]


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("When was Hayao Miyazaki born?", "born"),
        ("Where was Hayao Miyazaki born?", "birthplace"),
        ("How old is Serena Williams?", "age"),
        ("大谷翔平の身長は？", "height"),
        ("宇多田ヒカルの代表作は？", "works"),
        ("Who is Hayao Miyazaki?", None),
        ("Tell me about Born Ruffians", None),  # the name's own words ask nothing
    ],
)
def test_asked_attribute_reads_the_question(message: str, expected: str | None) -> None:
    found = asked_attribute(message, PERSON, subject="Born Ruffians")
    assert (found.name if found else None) == expected


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("What should I see in Lisbon on a 3-day trip?", "see"),
        ("How do I get to Kyoto from Tokyo?", "get in"),
        ("When is the best time to visit Kyoto?", "when to go"),
        ("Is the castle open on Mondays?", "opening hours"),
        ("金沢の名物料理は？", "eat"),
        ("京都でおすすめの観光地を教えて", "see"),
    ],
)
def test_asked_attribute_reads_a_travel_question(message: str, expected: str) -> None:
    found = asked_attribute(message, PLACE)
    assert found is not None and found.name == expected


def test_split_sections_keeps_subsections_inside_their_section() -> None:
    intro, sections = split_sections(
        "Lead.\n\n== See ==\nA.\n\n=== Shrines ===\nB.\n\n== Eat ==\nC."
    )
    assert intro == "Lead."
    assert [(s.title, s.level) for s in sections] == [("See", 2), ("Shrines", 3), ("Eat", 2)]
    assert "B." in sections[0].text and "Shrines" in sections[0].text
    assert "C." not in sections[0].text


def test_names_match_needs_every_word_of_the_name() -> None:
    assert names_match("miyazaki", "Hayao Miyazaki")
    assert names_match("宮崎 駿", "宮崎駿")
    assert not names_match("Ghibli founder", "Studio Ghibli")


# --- travel -----------------------------------------------------------------------------


def test_travel_guide_gives_the_wikivoyage_see_section(
    ctx: FunctionContext, fake: FakeWiki
) -> None:
    result = place(ctx, "Kyoto", "What should I see in Kyoto?", days=2)
    assert result["found"] is True and result["source"] == "wikivoyage"
    assert result["destination"] == "Kyoto" and result["days"] == 2 and result["asked"] == "see"
    assert result["url"] == f"{fake.url}/wikivoyage/en/wiki/Kyoto"
    assert result["summary"].startswith("Kyoto was the capital of Japan")
    assert "Kinkaku-ji" in result["passage"] and "Fushimi Inari" in result["passage"]
    assert "Shinkansen" not in result["passage"] and "tofu" not in result["passage"]
    assert "Plan 2 days only from the places they name" in result["answer_with"]
    assert notice(result) == f"source: Wikivoyage, Kyoto {result['url']}"


def test_travel_guide_reads_the_district_the_message_names(
    ctx: FunctionContext, fake: FakeWiki
) -> None:
    """The router writes destination "Tokyo" for "Tokyo trip next month: what should I see
    in Asakusa?": the district's own guide answers, not the whole city's."""
    fake.add(Page("wikivoyage", "en", "Tokyo", "Tokyo is a huge city.\n\n== See ==\n"
                  "The Imperial Palace gardens are open most days."))
    fake.add(Page("wikivoyage", "en", "Tokyo/Asakusa", "Asakusa is an old district.\n\n"
                  "== See ==\nSenso-ji is the oldest temple in the city."))
    result = place(ctx, "Tokyo", "Tokyo trip next month: what should I see in Asakusa?")
    assert result["found"] is True and result["title"] == "Tokyo/Asakusa"
    assert "Senso-ji" in result["passage"] and "Imperial" not in result["passage"]
    plain = place(ctx, "Tokyo", "What should I see in Tokyo?")
    assert plain["title"] == "Tokyo" and "Imperial Palace" in plain["passage"]


def test_travel_guide_gives_the_japanese_see_section(ctx: FunctionContext) -> None:
    result = place(ctx, "京都", "京都でおすすめの観光地を教えて")
    assert result["found"] is True and result["lang"] == "ja"
    assert "金閣寺" in result["passage"] and "新幹線" not in result["passage"]
    assert in_language(notice(result), "ja").startswith(
        "出典: ウィキボヤージュ「京都」"
    )


def test_travel_guide_returns_what_was_asked(ctx: FunctionContext) -> None:
    get_in = place(ctx, "Kyoto", "How do I get to Kyoto from Tokyo?")
    assert get_in["asked"] == "get in" and "Tokaido Shinkansen" in get_in["passage"]
    hours = place(ctx, "Kyoto", "Is Kinkaku-ji in Kyoto open on Sundays?")
    assert hours["asked"] == "opening hours" and "9:00 to 17:00" in hours["passage"]
    assert "Fushimi" not in hours["passage"]
    season = place(ctx, "Kyoto", "When is the best time to visit Kyoto?")
    assert season["asked"] == "when to go" and "Spring and autumn" in season["passage"]


def test_travel_guide_falls_back_to_wikipedia_without_a_wikivoyage_page(
    ctx: FunctionContext,
) -> None:
    result = place(ctx, "Kanazawa", "What should I see in Kanazawa?")
    assert result["found"] is True and result["source"] == "wikipedia"
    assert result["summary"].startswith("Kanazawa is the capital city of Ishikawa")
    assert "Kenroku-en" in result["passage"]
    trip = place(ctx, "Kanazawa", "Kanazawa, 2 days")  # nothing asked: what to see
    assert trip["asked"] is None and trip["passage"] == result["passage"]
    assert notice(result).startswith("source: Wikipedia, Kanazawa ")


def test_travel_guide_lists_the_candidates_of_a_wikivoyage_disambiguation(
    ctx: FunctionContext,
) -> None:
    result = place(ctx, "Springfield")
    assert result["found"] is False and result["candidates"] == ["Springfield (Illinois)"]
    assert "On Wikivoyage, Springfield could mean several things" in result["error"]


def test_travel_guide_says_plainly_when_neither_source_has_a_page(ctx: FunctionContext) -> None:
    result = place(ctx, "Atlantis")
    assert result["found"] is False
    assert result["error"].startswith("No page for Atlantis was found on Wikivoyage or Wikipedia")


# --- failures -----------------------------------------------------------------------------


def test_celebrity_info_gives_up_quickly_on_a_slow_source(fake: FakeWiki) -> None:
    fake.delay_s = 5.0
    ctx = context(fake, facts_timeout_s=0.3)
    start = time.monotonic()
    result = person(ctx, "Hayao Miyazaki")
    assert time.monotonic() - start < 2.0
    assert result["found"] is False
    assert result["error"] == (
        "Could not look up Hayao Miyazaki on Wikipedia right now (it did "
        "not answer in time), so I will not answer from memory."
    )
    assert "記憶に頼って答えることはしません" in in_language(result["error"], "ja")
    # the host is not asked again at once: the next question answers without waiting
    before = len(fake.requests())
    again = person(ctx, "Hayao Miyazaki")
    assert "a moment ago" in again["error"] and len(fake.requests()) == before
    ctx.close()


def test_celebrity_info_says_when_the_source_is_down() -> None:
    port = free_port()
    ctx = context(None, wikipedia_url=f"http://127.0.0.1:{port}/{{lang}}")
    result = person(ctx, "Hayao Miyazaki")
    assert result["found"] is False and "(it could not be reached)" in result["error"]
    ctx.close()


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (b"{not json", "it sent an answer that could not be read"),
        (b"[1, 2]", "it sent an answer that could not be read"),
        (
            b'{"type": "standard", "title": "Hayao Miyazaki"}',
            "it sent an answer that could not be read",
        ),
        (
            json.dumps(
                json.loads((Path(__file__).parent / "data/wiki/api_error.json").read_text())
            ).encode(),
            "it answered with an error (maxlag)",
        ),
    ],
)
def test_celebrity_info_says_when_the_answer_is_not_the_apis(
    fake: FakeWiki, ctx: FunctionContext, body: bytes, why: str
) -> None:
    fake.body = body
    result = person(ctx, "Hayao Miyazaki", "When was Hayao Miyazaki born?")
    assert result["found"] is False and f"({why})" in result["error"]


def test_travel_guide_says_when_the_source_answers_500(
    fake: FakeWiki, ctx: FunctionContext
) -> None:
    fake.status = 500
    result = place(ctx, "Kyoto")
    assert result["found"] is False and result["destination"] == "Kyoto"
    assert result["error"] == (
        "Could not look up Kyoto on Wikivoyage right now (it answered "
        "HTTP 500), so I will not answer from memory."
    )


def test_facts_sources_off_looks_nothing_up(fake: FakeWiki) -> None:
    ctx = context(fake, facts_sources=False)
    result = person(ctx, "Hayao Miyazaki")
    assert result["found"] is False and "turned off" in result["error"]
    assert "FUNCGEMMA_FACTS_SOURCES=false" in result["error"]
    trip = place(ctx, "Kyoto", days=3)
    assert trip["found"] is False and trip["days"] == 3 and "Wikivoyage" in trip["error"]
    assert fake.requests() == []


def test_facts_sources_off_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FUNCGEMMA_FACTS_SOURCES", "false")
    assert Settings().facts_sources is False


# --- etiquette: who is asking, how often ------------------------------------------------


def test_requests_name_funcgemma_in_user_agent(ctx: FunctionContext, fake: FakeWiki) -> None:
    person(ctx, "Hayao Miyazaki", "When was Hayao Miyazaki born?")
    place(ctx, "Kyoto")
    requests = fake.requests()
    assert len(requests) >= 3
    for exchange in requests:
        agent = exchange.headers["user-agent"]
        assert agent == user_agent() == exchange.headers["api-user-agent"]
        assert agent.startswith("funcgemma/0.1.0 (https://") and "github.com/funcgemma" in agent


def test_requests_are_paced_to_the_rate_limit(fake: FakeWiki) -> None:
    rate, n = 20.0, 5
    ctx = context(fake, facts_max_requests_per_s=rate, facts_cache_max_age_s=0)
    client = WikiClient.for_context(ctx)
    start = time.monotonic()
    for i in range(n):
        client.search("wikipedia", "en", f"query {i}")
    elapsed = time.monotonic() - start
    assert len(fake.requests()) == n
    assert elapsed >= (n - 1) / rate - 0.01, elapsed
    ctx.close()


# --- the cache ------------------------------------------------------------------------------


def test_cache_answers_a_second_lookup_without_a_request(
    ctx: FunctionContext, fake: FakeWiki
) -> None:
    first = person(ctx, "Hayao Miyazaki", "When was Hayao Miyazaki born?")
    sent = len(fake.requests())
    assert sent >= 2
    second = person(ctx, "Hayao Miyazaki", "When was Hayao Miyazaki born?")
    assert second == first and len(fake.requests()) == sent
    # a fresh context (another worker) reads the same database
    other = context(fake)
    assert person(other, "Hayao Miyazaki", "When was Hayao Miyazaki born?") == first
    assert len(fake.requests()) == sent
    other.close()


def test_cache_refetches_an_expired_entry(ctx: FunctionContext, fake: FakeWiki) -> None:
    person(ctx, "Hayao Miyazaki")
    assert len(fake.requests()) == 1
    with sqlite3.connect(ctx.settings.reminders_db) as db:
        db.execute(
            "UPDATE facts_cache SET fetched_at = fetched_at - ?",
            (ctx.settings.facts_cache_max_age_s + 60,),
        )
    db.close()
    person(ctx, "Hayao Miyazaki")
    assert len(fake.requests()) == 2


def test_cache_off_fetches_every_time(fake: FakeWiki) -> None:
    ctx = context(fake, facts_cache_max_age_s=0)
    person(ctx, "Hayao Miyazaki")
    person(ctx, "Hayao Miyazaki")
    assert len(fake.requests()) == 2
    assert not ctx.settings.reminders_db.exists(), "no database opened for a cache that is off"
    ctx.close()


def test_cache_in_a_damaged_database_still_answers(
    fake: FakeWiki, caplog: pytest.LogCaptureFixture
) -> None:
    ctx = context(fake)
    db = ctx.settings.reminders_db
    db.parent.mkdir(parents=True, exist_ok=True)
    garbage = b"this is not an SQLite database " * 64
    db.write_bytes(garbage)
    first = person(ctx, "Hayao Miyazaki")
    second = person(ctx, "Hayao Miyazaki")
    assert first["found"] is True and second == first
    assert len(fake.requests()) == 2  # uncached, both times
    assert db.read_bytes() == garbage, "the file is left as it is"
    assert any("facts cache is not used" in r.getMessage() for r in caplog.records)
    ctx.close()


def test_cache_keeps_no_answer_it_could_not_read(ctx: FunctionContext, fake: FakeWiki) -> None:
    fake.body = b'{"type": "standard", "title": "Hayao Miyazaki"}'  # no content_urls
    assert person(ctx, "Hayao Miyazaki")["found"] is False
    fake.body = None  # the source is right again: asked again, not answered from the cache
    assert person(ctx, "Hayao Miyazaki")["found"] is True
    assert len(fake.requests()) == 2


def test_cache_get_and_put_survive_an_unopenable_store() -> None:
    def broken() -> Any:
        raise sqlite3.OperationalError("disk I/O error")

    cache = FactsCache(broken, 3600)
    cache.put("http://x/1", "{}")
    assert cache.get("http://x/1") is None


# --- settings and context -------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "https://wikipedia.org",
        "ftp://{lang}.wikipedia.org",
        "{lang}.wikipedia.org",
        "https://{lang}.wiki{x}.org",
        "https://{lang}.wikipedia.org:99999",
    ],
)
def test_settings_refuse_a_wiki_url_that_is_not_a_template(value: str) -> None:
    with pytest.raises(ValidationError, match="lang"):
        Settings(wikipedia_url=value)


def test_settings_accept_wiki_url_templates(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FUNCGEMMA_WIKIPEDIA_URL")  # conftest points it at a closed port
    settings = Settings(wikivoyage_url="http://127.0.0.1:8080/voy/{lang}/")
    assert settings.wikivoyage_url == "http://127.0.0.1:8080/voy/{lang}"
    assert Settings().wikipedia_url == "https://{lang}.wikipedia.org"
    with pytest.raises(ValidationError):
        Settings(facts_max_requests_per_s=0)
    with pytest.raises(ValidationError):
        Settings(facts_timeout_s=float("inf"))


def test_function_context_for_message_sets_the_message_for_its_block() -> None:
    ctx = FunctionContext(settings=Settings())
    assert ctx.message is None
    with ctx.for_message("When was Hayao Miyazaki born?"):
        assert ctx.message == "When was Hayao Miyazaki born?"
    assert ctx.message is None


def test_celebrity_info_without_a_message_answers_in_the_names_language(
    ctx: FunctionContext,
) -> None:
    result = _checked(celebrity_info(CelebrityInfoParams(name="宮崎駿"), ctx))  # from /route
    assert result["found"] is True and result["lang"] == "ja" and result["asked"] is None


def test_handlers_never_raise_for_a_transport_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(request: httpx.Request) -> httpx.Response:
        raise httpx.RemoteProtocolError("peer closed connection", request=request)

    with httpx.Client(transport=httpx.MockTransport(fail)) as client:
        ctx = FunctionContext(settings=Settings(facts_max_requests_per_s=FAST), http=client)
        assert "could not be reached" in person(ctx, "Hayao Miyazaki")["error"]
        forget_unreachable()
        assert "could not be reached" in place(ctx, "Kyoto")["error"]
