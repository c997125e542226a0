"""A person or a place looked up in the user's language edition (English for a page the
Japanese edition lacks), as the result a function hands the chat model.

Found: ``{"found": True, "title", "url", "lang", "source", "summary", "passage", "asked",
"answer_with"}`` where ``passage`` is the source's own text about what was asked (or a
destination's "See" section). Otherwise ``{"found": False, "error": Said(...)}``, with
``candidates`` for a name that is ambiguous or has no page: the conversation says it
plainly and the chat model is never asked to answer from memory.
"""

from __future__ import annotations

from typing import Any

import regex

from ..messages import Said, language_of
from .attributes import PERSON, PLACE, SEE, SUMMARY_CHARS, asked_attribute, clip, passage_for
from .wiki import SITES, Ambiguous, LookupFailed, Missing, Page, WikiClient

ANSWER_ONLY = "Answer only from summary and passage."
# how the chat model is told what the passage is about, where the name is not plain words
ABOUT = {
    "born": "birth date",
    "age": "birth date (their age follows from it)",
    "died": "death",
    "get in": "how to get there",
    "get around": "getting around",
    "eat": "food",
    "see": "what to see",
}


def lookup_person(client: WikiClient, name: str, message: str | None) -> dict[str, Any]:
    lang = language_of(message or name)
    attribute = asked_attribute(message, PERSON, subject=name)
    found: Page | Ambiguous | Missing | None = None
    candidates: list[str] = []
    try:
        for edition in _editions(lang):
            found = client.wikipedia(edition, name, full_text=attribute is not None)
            if not isinstance(found, Missing):
                break
            candidates = candidates or found.candidates
    except LookupFailed as exc:
        return unavailable(name, exc)
    if isinstance(found, Page):
        if attribute is None:
            asked, passage = None, None
            how = (
                f"Who {found.title} is, in two or three sentences, from the summary; "
                "nothing the summary does not say."
            )
        else:
            asked = attribute.name
            passage = passage_for(found.text or "", attribute, lang=found.lang)
            what = ABOUT.get(asked, asked)
            how = (
                f"The passage is the source's text about their {what}."
                if passage
                else f"The source does not state their {what}: say so plainly and do not guess it."
            )
        return _found(found, name, asked, passage, how)
    if isinstance(found, Ambiguous):
        return ambiguous(name, found)
    return missing(name, "wikipedia", candidates)


def lookup_place(
    client: WikiClient, destination: str, message: str | None, days: int | None = None
) -> dict[str, Any]:
    result = _lookup_place(client, destination, message, days)
    result.pop("name", None)
    return {"destination": destination, "days": days, **result}


def _lookup_place(
    client: WikiClient, destination: str, message: str | None, days: int | None
) -> dict[str, Any]:
    lang = language_of(message or destination)
    asked = asked_attribute(message, PLACE, subject=destination)
    attribute = asked or SEE  # a trip with nothing asked: what to see
    candidates: list[str] = []
    try:
        for edition in _editions(lang):
            # a part of the destination the message names ("Tokyo trip: what should I see
            # in Asakusa?"): its own guide (Wikivoyage's district "Tokyo/Asakusa") first
            for part in _parts_named(message, destination):
                for title in (f"{destination}/{part}", part):
                    found = client.wikivoyage(edition, title)
                    if isinstance(found, Page):
                        passage = passage_for(found.text or "", attribute, lang=found.lang)
                        return _place(found, destination, attribute.name, asked is not None,
                                      passage, days)
            # Wikivoyage first (a travel guide), Wikipedia where it has no page
            found = client.wikivoyage(edition, destination)
            if isinstance(found, Missing):
                candidates = candidates or found.candidates
                found = client.wikipedia(edition, destination, full_text=True)
            if isinstance(found, Page):
                passage = passage_for(found.text or "", attribute, lang=found.lang)
                return _place(found, destination, attribute.name, asked is not None, passage, days)
            if isinstance(found, Ambiguous):
                return ambiguous(destination, found)
            candidates = candidates or found.candidates
    except LookupFailed as exc:
        return unavailable(destination, exc)
    return missing(destination, "wikivoyage", candidates)


# "in Asakusa", "around Shinjuku": a capitalised place after a preposition
_PART = regex.compile(r"\b(?:in|at|around|near|of)\s+((?:[A-Z][\w'-]+)(?:\s+[A-Z][\w'-]+){0,2})")


def _parts_named(message: str | None, destination: str) -> list[str]:
    """Places the message names after a preposition that are not the destination itself."""
    if not message:
        return []
    folded = destination.casefold()
    return [m for m in dict.fromkeys(_PART.findall(message))
            if m.casefold() not in folded and folded not in m.casefold()][:2]


def _place(
    page: Page,
    destination: str,
    attribute: str,
    was_asked: bool,
    passage: str | None,
    days: int | None,
) -> dict[str, Any]:
    plan = f" Plan {days} days only from the places they name." if days else ""
    what = ABOUT.get(attribute, attribute)
    if passage:
        how = f"The passage is the source's text on {what} in {page.title}.{plan}"
    else:
        how = (
            f"The source says nothing on {what} in {page.title}: say so plainly and do "
            f"not guess.{plan}"
        )
    return _found(page, destination, attribute if was_asked else None, passage, how)


def _found(
    page: Page, name: str, asked: str | None, passage: str | None, how: str
) -> dict[str, Any]:
    return {
        "found": True,
        "name": name,
        "title": page.title,
        "url": page.url,
        "lang": page.lang,
        "source": page.site,
        "description": page.description,
        "summary": clip(page.summary, SUMMARY_CHARS, page.lang),
        "passage": passage,
        "asked": asked,
        "answer_with": f"{ANSWER_ONLY} {how}",
    }


def _editions(lang: str) -> tuple[str, ...]:
    return (lang,) if lang == "en" else (lang, "en")


def unavailable(name: str, exc: LookupFailed) -> dict[str, Any]:
    site = SITES[exc.site]
    return {
        "found": False,
        "name": name,
        "source": exc.site,
        "error": Said(
            f"Could not look up {name} on {site} right now ({exc.why}), so I will "
            "not answer from memory.",
            ja=f"今は{site.ja}で「{name}」を調べられませんでした（{exc.why.ja}）。"
            "記憶に頼って答えることはしません。",
        ),
    }


def sources_off(name: str, site: str) -> dict[str, Any]:
    """FUNCGEMMA_FACTS_SOURCES=false: nothing is fetched, and nothing is made up."""
    said = SITES[site]
    return {
        "found": False,
        "name": name,
        "error": Said(
            f"Looking things up on {said} is turned off "
            f"(FUNCGEMMA_FACTS_SOURCES=false), so I cannot tell you about {name}: "
            "I will not answer from memory.",
            ja=f"{said.ja}での調べものが無効になっている"
            f"（FUNCGEMMA_FACTS_SOURCES=false）ため、「{name}」についてはお答え"
            "できません。記憶に頼って答えることはしません。",
        ),
    }


def ambiguous(name: str, found: Ambiguous) -> dict[str, Any]:
    site = SITES[found.site]
    listed = ", ".join(found.candidates)
    listed_ja = "、".join(found.candidates)
    en = f"On {site}, {name} could mean several things"
    ja = f"{site.ja}では「{name}」はいくつかの意味があります"
    return {
        "found": False,
        "name": name,
        "title": found.title,
        "lang": found.lang,
        "source": found.site,
        "candidates": found.candidates,
        "error": Said(
            f"{en}: {listed}. Which one do you mean?"
            if listed
            else f"{en}. Which one do you mean?",
            ja=f"{ja}: {listed_ja}。どれのことですか?" if listed else f"{ja}。どれのことですか?",
        ),
    }


def missing(name: str, site: str, candidates: list[str]) -> dict[str, Any]:
    """No page for ``name``; a travel lookup (``site`` wikivoyage) also tried Wikipedia."""
    where = (
        SITES[site]
        if site == "wikipedia"
        else Said("Wikivoyage or Wikipedia", ja="ウィキボヤージュとウィキペディア")
    )
    en = f"No page for {name} was found on {where}"
    ja = f"「{name}」のページは{where.ja}に見つかりませんでした"
    return {
        "found": False,
        "name": name,
        "source": site,
        "candidates": candidates,
        "error": Said(
            f"{en}. Did you mean: {', '.join(candidates)}?"
            if candidates
            else f"{en}, so I will not answer from memory.",
            ja=f"{ja}。もしかして: {'、'.join(candidates)}?"
            if candidates
            else f"{ja}。記憶に頼って答えることはしません。",
        ),
    }


def notice(result: dict[str, Any]) -> str:
    """The source line shown beside the reply: ``source: Wikipedia, <title> <url>``."""
    site = SITES[result["source"]]
    return Said(
        f"source: {site}, {result['title']} {result['url']}",
        ja=f"出典: {site.ja}「{result['title']}」 {result['url']}",
    )


__all__ = [
    "ANSWER_ONLY",
    "ambiguous",
    "lookup_person",
    "lookup_place",
    "missing",
    "notice",
    "sources_off",
    "unavailable",
]
