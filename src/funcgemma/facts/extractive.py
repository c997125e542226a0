"""An answer made only of the source's own sentences, for when a reply cannot be trusted.

When ``check_reply`` finds a claim the sources do not hold, the reply is replaced by
whole sentences copied from the fetched text: the sentences of the passage that answer
the attribute asked for (the birth date, what to see), else the first sentences of the
summary. Nothing is reworded, so nothing can be invented; the answer is at most about
400 characters (a first sentence longer than that is cut at a clause and marked "…").
"""

from __future__ import annotations

import regex

from .attributes import BY_NAME

MAX_CHARS = 400
_ENDS = ".!?。！？"
_CJK_ENDS = "。！？"
_CLOSERS = "\"'”’)）」』】"
_OPEN = {"(": ")", "（": "）", "「": "」", "『": "』", "【": "】"}
_ABBREVIATIONS = frozenset(
    """
dr mr mrs ms prof st jr sr vs etc e.g i.e inc ltd corp mt ft approx ca cf vol fig gen gov
sen rep rev capt col lt sgt jan feb mar apr jun jul aug sep sept oct nov dec
""".split()
)
_INITIALS = regex.compile(r"(?:\p{L}\.)+")
_LIST_NUMBER = regex.compile(r"\d{1,2}")
_CLAUSE = regex.compile(r"[,;、，；]\s*|\s+")
_KEYWORD = regex.compile(r"\p{Latin}{3,}|[\p{Han}\p{Katakana}ー]{2,}")
_STOP = frozenset("the and was what when where who how did does his her its for are is".split())


def _abbreviation(text: str, dot: int) -> bool:
    """Is the '.' at ``dot`` part of "Dr.", "U.S." or a list number at a line's start?"""
    start = dot
    while start > 0 and not text[start - 1].isspace() and text[start - 1] not in _OPEN:
        start -= 1
    word = text[start:dot].lstrip("\"'“‘")
    if word.lower() in _ABBREVIATIONS or _INITIALS.fullmatch(word + "."):
        return True
    line_start = start == 0 or text[start - 1] == "\n"
    return bool(line_start and _LIST_NUMBER.fullmatch(word))


def split_sentences(text: str, lang: str = "en") -> list[str]:
    """Sentences of ``text``, each a verbatim slice of it (stripped). Ends: 。！？ always,
    . ! ? before a space unless the word is an abbreviation (Dr., U.S., e.g.) or the
    next word starts in lower case; never inside brackets; a line break ends one too.
    ``lang`` is accepted for symmetry with ``extractive_answer``; both rules always apply
    since Japanese text quotes English names and English text quotes Japanese."""
    del lang
    spans: list[tuple[int, int]] = []
    start = 0
    closing: list[str] = []
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if ch in _OPEN:
            closing.append(_OPEN[ch])
        elif closing and ch == closing[-1]:
            closing.pop()
        elif ch == "\n":
            spans.append((start, i))
            start, closing = i + 1, []
        elif ch in _ENDS and not closing:
            end = i + 1
            while end < n and text[end] in _ENDS:
                end += 1
            while end < n and text[end] in _CLOSERS:
                end += 1
            if ch in _CJK_ENDS or _splits(text, i, end):
                spans.append((start, end))
                start = i = end
                continue
        i += 1
    spans.append((start, n))
    out = []
    for a, b in spans:
        piece = text[a:b].strip()
        if piece:
            out.append(piece)
    return out


def _splits(text: str, mark: int, end: int) -> bool:
    if end < len(text) and not text[end].isspace():
        return False
    rest = text[end:].lstrip(" \t")
    if rest[:1].islower():
        return False
    return not (text[mark] == "." and _abbreviation(text, mark))


def _pattern(asked: str) -> regex.Pattern[str] | None:
    attribute = BY_NAME.get(asked.strip().lower())
    if attribute is not None:
        return attribute.text
    words = [w for w in _KEYWORD.findall(asked) if w.lower() not in _STOP]
    if not words:
        return None
    return regex.compile("|".join(regex.escape(w) for w in words), regex.I)


def _glue(before: str, lang: str) -> str:
    """Nothing after a Japanese sentence's 。 in Japanese, a space after any other end
    mark, and a line break after a sentence without one, so that its last word and the
    next sentence's first never read as one name or number."""
    end = before.rstrip(_CLOSERS)[-1:]
    if not end or end not in _ENDS:
        return "\n"
    return "" if lang == "ja" and end in _CJK_ENDS else " "


def _clip(sentence: str, limit: int) -> str:
    """A sentence longer than ``limit`` cut at its last clause or space before it."""
    if len(sentence) <= limit:
        return sentence
    cuts = [m.start() for m in _CLAUSE.finditer(sentence, 0, limit) if m.start() > limit // 3]
    cut = cuts[-1] if cuts else limit
    while 0 < cut < len(sentence) and sentence[cut - 1].isalnum() and sentence[cut].isalnum():
        cut -= 1
    head = sentence[:cut].rstrip(" ,;、，；")
    return (head or sentence[:limit]) + "…"


def _join(sentences: list[str], lang: str, limit: int) -> str:
    out = ""
    for sentence in sentences:
        if not out:
            out = _clip(sentence, limit)
            continue
        glue = _glue(out, lang)
        if len(out) + len(glue) + len(sentence) > limit:
            break
        out += glue + sentence
    return out


def extractive_answer(
    summary: str, passage: str | None, asked: str | None, lang: str, *, max_sentences: int = 3
) -> str:
    """Up to ``max_sentences`` whole sentences of the inputs, at most ~400 characters.

    With ``asked`` (an attribute name from ``attributes``, such as "born", or the words
    asked about) and a ``passage``: the passage's first sentences where the attribute's
    answer is a whole section (what to see), else the passage's sentences that mention it,
    else the summary's that do, else the passage's first. Otherwise the summary's first sentences.
    Sentences are joined with a space, with nothing for Japanese (``lang`` "ja")."""
    count = max(1, max_sentences)
    summary_sentences = split_sentences(summary, lang)
    chosen = summary_sentences
    if asked and passage:
        passage_sentences = split_sentences(passage, lang)
        attribute = BY_NAME.get(asked.strip().lower())
        pattern = _pattern(asked)
        hits: list[str] = []
        if attribute is not None and attribute.whole_section:
            # the passage is the section that answers (what to see): its opening sentence
            # names the main sight, often without any of the attribute's words
            hits = passage_sentences
        elif pattern is not None:
            hits = [s for s in passage_sentences if pattern.search(s)]
            hits = hits or [s for s in summary_sentences if pattern.search(s)]
        chosen = hits or passage_sentences
    elif not chosen and passage:
        chosen = split_sentences(passage, lang)
    return _join(chosen[:count], lang, MAX_CHARS)
