"""What the user asked about a person or a place ("When was X born?", "京都の見どころは？"),
and the part of a fetched text that holds it.

Deliberately simple: a table of English and Japanese patterns per attribute, read in
order (the specific ones first: "where was X born" is the birthplace, not the birth
date). The passage is a section whose title names the attribute (a Wikivoyage "See"
section) or the sentences that mention it, never words of our own.
"""

from __future__ import annotations

from dataclasses import dataclass

import regex

SUMMARY_CHARS = 600
PASSAGE_CHARS = 900
MAX_SENTENCES = 5
# Japanese text costs about one token a character, English about one per four: a
# Japanese passage is kept to half the characters so both fit the chat model's context
CJK_SHARE = 0.5
_HEADING = regex.compile(r"^(={2,6})\s*(.+?)\s*\1\s*$", regex.M)
_SENTENCE_END = regex.compile(r"(?<=[.!?])\s+(?=\S)|(?<=[。！？])")


def _p(pattern: str) -> regex.Pattern[str]:
    return regex.compile(pattern, regex.I | regex.V1)


@dataclass(frozen=True)
class Attribute:
    name: str
    asked: regex.Pattern[str]  # how a question asks for it
    titles: regex.Pattern[str]  # titles of the sections that hold it
    text: regex.Pattern[str]  # what a sentence that holds it says
    # a section is the answer (what to see), not a few sentences (a birth date)
    whole_section: bool = False


_BORN_TEXT = _p(
    r"\bborn\b|\bbirth\b|生まれ|誕生|生年|出生"
    r"|\d{4}年\s*(?:[〈(（][^〉)）]{0,12}[〉)）])?\s*\d{1,2}月\s*\d{1,2}日"
)
_EARLY_LIFE = _p(r"early life|childhood|biography|生い立ち|来歴|経歴|生涯|略歴")
_TRANSPORT = _p(
    r"\bairports?\b|\btrains?\b|\bstations?\b|\bbus(?:es)?\b|\bshinkansen\b"
    r"|\bsubway\b|\bmetro\b|\btram\b|空港|駅|新幹線|バス|電車|地下鉄"
)

PERSON = (
    Attribute(
        "birthplace",
        _p(
            r"\bwhere\b.{0,40}\bborn\b|\bbirth ?place\b|\bhome ?town\b"
            r"|\bwhere\b.{0,30}\bfrom\b|出身|出生地|どこで生まれ|どこの生まれ"
        ),
        _EARLY_LIFE,
        _p(r"\bborn\b|\bnative of\b|\bgrew up\b|出身|生まれ"),
    ),
    Attribute("age", _p(r"\bhow old\b|\bage\b|何歳|年齢|いくつ"), _EARLY_LIFE, _BORN_TEXT),
    Attribute(
        "born",
        _p(
            r"\bborn\b|\bbirth ?days?\b|\bbirth ?date\b|\bdate of birth\b"
            r"|誕生日|生年月日|生まれ"
        ),
        _EARLY_LIFE,
        _BORN_TEXT,
    ),
    Attribute(
        "died",
        _p(r"\bdied\b|\bdeath\b|\bdead\b|\bpassed away\b|亡くな|死去|死因|没年"),
        _p(r"death|later life|晩年|死去"),
        _p(r"\bdied\b|\bdeath\b|亡くな|死去|没"),
    ),
    Attribute(
        "height",
        _p(r"\bheight\b|\bhow tall\b|\btall\b|身長|背の高さ|背が"),
        _p(r"personal life|physical|人物|プロフィール"),
        _p(r"\bheight\b|\btall\b|\d\s?cm\b|\d\s?m\b|\bfeet\b|\bft\b|身長|センチ"),
    ),
    Attribute(
        "awards",
        _p(
            r"\bawards?\b|\bprizes?\b|\bwon\b|\bwin\b|\boscars?\b|\bhonou?rs?\b"
            r"|受賞|賞|栄誉|勲章"
        ),
        _p(r"awards|accolades|honou?rs|recognition|受賞|栄誉|表彰"),
        _p(r"\bawards?\b|\bprizes?\b|\bwon\b|\boscars?\b|\bhonou?r|受賞|賞"),
        whole_section=True,
    ),
    Attribute(
        "films",
        _p(r"\bfilms?\b|\bmovies?\b|\bfilmography\b|\bdirected\b|映画|監督作品|出演作"),
        _p(r"filmography|^films?$|career|作品|フィルモグラフィ|監督作品|出演"),
        _p(r"\bfilms?\b|\bmovies?\b|\bdirected\b|映画|監督"),
        whole_section=True,
    ),
    Attribute(
        "works",
        _p(
            r"\bworks?\b|\bknown for\b|\bfamous for\b|\bbest[- ]known\b|\balbums?\b"
            r"|\bbooks?\b|\bsongs?\b|\bnovels?\b|代表作|作品|著書|アルバム|何で有名"
        ),
        _p(r"works|bibliography|discography|career|作品|著作|ディスコグラフィ|代表作"),
        _p(
            r"\bknown for\b|\bworks?\b|\bwrote\b|\breleased\b|\bpublished\b"
            r"|代表作|作品|発表"
        ),
        whole_section=True,
    ),
)

PLACE = (
    Attribute(
        "opening hours",
        _p(
            r"opening (?:hours|times)|\bopen\b|\bhours\b|\bclosed?\b|\bclosing\b"
            r"|営業時間|開館|閉館|開いて|何時から|何時まで|定休日"
        ),
        _p(r"^(?:see|do)$|観る|見る|する"),
        _p(
            r"\bopen\b|\bhours\b|\bclosed\b|\d{1,2}(?::\d{2})?\s*(?:am|pm)\b"
            r"|\d{1,2}:\d{2}|開館|営業|閉館|\d{1,2}時|定休"
        ),
    ),
    Attribute(
        "get around",
        _p(
            r"\bget(?:ting)? around\b|\bpublic transport\b|\bsubway\b|\bmetro\b"
            r"|市内の移動|移動手段|市内交通"
        ),
        _p(r"^(?:get around|getting around|動く|移動)"),
        _TRANSPORT,
        whole_section=True,
    ),
    Attribute(
        "get in",
        _p(
            r"\bget(?:ting)? (?:there|to|in)\b|\bhow (?:do|can|to) (?:i |we )?(?:reach|get)\b"
            r"|\bfly\b|\bflights?\b|\bairport\b|行き方|アクセス|どうやって行|交通|空港"
        ),
        _p(r"^(?:get in|getting there|arrive|着く|アクセス|交通)"),
        _TRANSPORT,
        whole_section=True,
    ),
    Attribute(
        "when to go",
        _p(
            r"\bwhen to (?:go|visit)\b|\bbest (?:time|season|month)s?\b|\bseasons?\b"
            r"|\bclimate\b|\bin (?:spring|summer|autumn|fall|winter)\b"
            r"|いつ行|ベストシーズン|季節|時期|気候"
        ),
        _p(r"climate|when to go|seasons?|気候|季節|時期"),
        _p(
            r"\bspring\b|\bsummer\b|\bautumn\b|\bfall\b|\bwinter\b|\bseasons?\b"
            r"|\bclimate\b|\bcherry blossoms?\b|春|夏|秋|冬|季節|気候|桜|紅葉"
        ),
        whole_section=True,
    ),
    Attribute(
        "eat",
        _p(
            r"\beat\b|\bfood\b|\bdish(?:es)?\b|\bcuisine\b|\brestaurants?\b"
            r"|食べ|料理|グルメ|名物|郷土"
        ),
        _p(r"^(?:eat|food|cuisine|食べる|料理|グルメ)"),
        _p(r"\bdish|\bfood\b|\bcuisine\b|\bspecialit|\bspecialt|料理|名物|郷土"),
        whole_section=True,
    ),
    Attribute(
        "see",
        _p(
            r"\bsee\b|\bsights?\b|\bsightseeing\b|\bvisit\b|\battractions?\b"
            r"|\bmust[- ]see\b|\blandmarks?\b|\bthings to do\b"
            r"|観光|見どころ|見所|名所|[観見](?:る|れば|たら|に行)|おすすめ|行くべき|回る"
        ),
        _p(r"^(?:see|sights|sightseeing|attractions|landmarks|tourism|観る|見る|観光|名所)"),
        _p(
            r"\btemples?\b|\bshrines?\b|\bmuseums?\b|\bcastles?\b|\bparks?\b|\bgardens?\b"
            r"|寺|神社|美術館|博物館|城|公園|庭園"
        ),
        whole_section=True,
    ),
)
SEE = PLACE[-1]
BY_NAME = {a.name: a for a in (*PERSON, *PLACE)}


def asked_attribute(
    message: str | None, table: tuple[Attribute, ...], subject: str = ""
) -> Attribute | None:
    """The first attribute of ``table`` the message asks for, or None ("who is X?").
    The subject's own name is taken out first: a band called "Born Ruffians" asks
    nothing about a birth."""
    if not message:
        return None
    if subject:
        message = message.replace(subject, " ")
    for attribute in table:
        if attribute.asked.search(message):
            return attribute
    return None


@dataclass(frozen=True)
class Section:
    title: str
    level: int
    text: str  # its own text and its subsections', headings as plain lines


def split_sections(text: str) -> tuple[str, list[Section]]:
    """(the text before the first heading, the sections), from TextExtracts' plain text
    with ``exsectionformat=wiki`` headings (``== See ==``)."""
    heads = list(_HEADING.finditer(text))
    intro = text[: heads[0].start()] if heads else text
    sections = []
    for i, head in enumerate(heads):
        level = len(head.group(1))
        end = len(text)
        for later in heads[i + 1 :]:
            if len(later.group(1)) <= level:
                end = later.start()
                break
        body = _HEADING.sub(lambda m: m.group(2), text[head.end() : end])
        sections.append(Section(head.group(2), level, _tidy(body)))
    return _tidy(intro), sections


def sentences(text: str) -> list[str]:
    found: list[str] = []
    for line in text.splitlines():
        if _HEADING.match(line):
            continue
        found.extend(s.strip() for s in _SENTENCE_END.split(line) if s.strip())
    return found


def passage_for(text: str, attribute: Attribute, *, lang: str) -> str | None:
    """The source text that holds ``attribute``: the section named for it where a
    section is the answer, else the sentences that mention it; None where the text
    does not say."""
    _, sections = split_sections(text)
    titled = next((s for s in sections if attribute.titles.search(s.title) and s.text), None)
    if attribute.whole_section and titled is not None:
        return clip(titled.text, PASSAGE_CHARS, lang)
    found = [s for s in sentences(text) if attribute.text.search(s)][:MAX_SENTENCES]
    if found:
        return clip(("" if lang == "ja" else " ").join(found), PASSAGE_CHARS, lang)
    if titled is not None:
        return clip(titled.text, PASSAGE_CHARS, lang)
    return None


def clip(text: str, limit: int, lang: str) -> str:
    """``text`` cut to ``limit`` characters (half for Japanese) at a sentence's end where
    there is one, so that no half sentence is handed on as a fact."""
    text = text.strip()
    if lang == "ja":
        limit = int(limit * CJK_SHARE)
    if len(text) <= limit:
        return text
    head = text[:limit]
    ends = [m.end() for m in regex.finditer(r"[.!?。！？](?=\s|$)|[。！？]", head)]
    if ends and ends[-1] > limit // 3:
        return head[: ends[-1]].strip()
    return head.rstrip() + "…"


def _tidy(text: str) -> str:
    return regex.sub(r"\n{3,}", "\n\n", text).strip()


__all__ = [
    "BY_NAME",
    "PERSON",
    "PLACE",
    "SEE",
    "Attribute",
    "Section",
    "asked_attribute",
    "clip",
    "passage_for",
    "sentences",
    "split_sections",
]
