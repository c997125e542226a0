"""Grounding: argument values the user stated are copied from the user's own words.

A 270M router sometimes misspells what it copies ("odoratum" for "deodorant",
"atlantica" for "atlnta"). Fields a function declares as ``grounded`` (a place, a
name, a quoted text, a time as the user wrote it) are checked against the user's
message: a value that is not in the message, but is close to a span of it, is
replaced by that span. A value that matches nothing (the model translated it, or
inferred it) is left alone: grounding repairs copying, it never invents.
"""

from __future__ import annotations

import unicodedata

import regex
from rapidfuzz import fuzz

from .languages import ground_language
from .numbers import ground_number

# A span must score at least this (rapidfuzz ratio, 0-100) to replace the model's
# value. At 70, "odoratum" -> "deodorant", "clevin" -> "clevland" and "tonorow" ->
# "tomorow" are repaired; "New York City" (42 against "in NYC") and "Paris" for "the
# capital of France" are left as the model wrote them.
MIN_SCORE = 70.0

# Words are widened to their edges only in scripts that separate words with spaces;
# Japanese and Chinese spans are taken as aligned.
_WORD_CHAR = r"[\p{Latin}\p{Cyrillic}\p{Greek}\p{Hangul}\p{N}\p{M}'’-]"
_WORDY = regex.compile(_WORD_CHAR)
# letters and digits of a spaced script: what a copied value is widened over
# (a run of katakana is a word too: "バッテリー" cuts "モバイルバッテリー"; digits do not
# join it: "トイレットペーパー12ロール")
_LETTER = regex.compile(r"[\p{Latin}\p{Cyrillic}\p{Greek}\p{Hangul}\p{N}\p{M}]")
_KANA = regex.compile(r"[\p{Katakana}ー]")
_TOKEN = regex.compile(_WORD_CHAR + r"+|[^\s\p{P}\p{S}]")
# Values longer than this are aligned by sliding (a quoted review), not by word runs.
_LONG = 32
_EDGE = regex.compile(r"^[\s\p{P}\p{S}]+|[\s\p{P}\p{S}]+$")
_CLUSTER = regex.compile(r"\X")  # a character with its combining marks
# Above this many candidate spans (a short value against a long run of Japanese, where
# every character starts one) the value is aligned by sliding instead: same answer on
# ordinary messages, bounded time on an 8000-character one.
_MAX_SPANS = 4000


def _fold(text: str) -> tuple[str, list[tuple[int, int]]]:
    """NFKC + lower-case, with a map from each folded character to the source span of
    the character it came from (``e`` + combining acute folds to one ``é``)."""
    out: list[str] = []
    where: list[tuple[int, int]] = []
    for m in _CLUSTER.finditer(text):
        for f in unicodedata.normalize("NFKC", m.group()).lower():
            out.append(f)
            where.append(m.span())
    return "".join(out), where


def _candidates(text: str, length: int, limit: float = _MAX_SPANS
                ) -> list[tuple[int, int]] | None:
    """(start, end) of every run of whole tokens in ``text`` about ``length`` long, or
    None when there are more than ``limit``. A token is a word in a spaced script, or
    one character of any other script."""
    tokens = [(m.start(), m.end()) for m in _TOKEN.finditer(text)]
    longest = int(1.5 * length) + 2
    spans = []
    for i, (start, _) in enumerate(tokens):
        for _, end in tokens[i:]:
            if end - start > longest:
                break
            if end - start >= length // 2:
                spans.append((start, end))
        if len(spans) > limit:
            return None
    return spans


def _slide(value: str, text: str) -> tuple[float, int, int]:
    hit = fuzz.partial_ratio_alignment(value, text)
    return (hit.score, hit.dest_start, hit.dest_end) if hit else (0.0, 0, 0)


def _aligned(value: str, text: str) -> tuple[float, int, int]:
    """Best (score, start, end) of a span of ``text`` against ``value``, both folded."""
    if len(value) > _LONG:
        # a long quoted text: slide it along the message (partial ratio), then widen
        return _slide(value, text)
    offset, spans = 0, _candidates(text, len(value))
    if spans is None:  # find the region by sliding, then search it span by span
        _, a, b = _slide(value, text)
        offset = max(0, a - len(value) - 2)
        text = text[offset : b + len(value) + 2]
        spans = _candidates(text, len(value), limit=float("inf")) or []
    best = (0.0, 0, 0)
    for start, end in spans:
        score = fuzz.ratio(value, text[start:end])
        if score > best[0]:
            best = (score, offset + start, offset + end)
    return best


def _joined(a: str, b: str) -> regex.Pattern[str] | None:
    """The character class two neighbours share as one word, or None."""
    for cls in (_LETTER, _KANA):
        if cls.match(a) and cls.match(b):
            return cls
    return None


def _whole_words(value: str, folded_value: str, text: str, folded_text: str,
                 where: list[tuple[int, int]]) -> str:
    """``value``, found in ``text``, widened to whole words when every place it occurs
    cuts a word of a spaced script ("jordan" in "cop jordans" gives "jordans", "fill" in
    "refill" gives "refill"). Only letters and digits widen: "Tokyo" in "Tokyo's" stays."""
    first = None
    for m in regex.finditer(regex.escape(folded_value), folded_text, overlapped=True):
        start, end = where[m.start()][0], where[m.end() - 1][1]
        left = _joined(text[start - 1], text[start]) if start > 0 else None
        right = _joined(text[end - 1], text[end]) if end < len(text) else None
        if not (left or right):
            return value
        first = first or (start, end, left, right)
    if first is None:
        return value
    start, end, left, right = first
    while left and start > 0 and left.match(text[start - 1]):
        start -= 1
    while right and end < len(text) and right.match(text[end]):
        end += 1
    return text[start:end] if end - start <= 2 * len(value) + 2 else value


def ground(value: str, text: str, *, min_score: float = MIN_SCORE) -> str:
    """``value`` as the user wrote it in ``text``, or ``value`` unchanged."""
    folded_value, _ = _fold(value.strip())
    folded_text, where = _fold(text)
    if len(folded_value) < 2 or not folded_text:
        return value
    if folded_value in folded_text:
        return _whole_words(value, folded_value, text, folded_text, where)
    score, a, b = _aligned(folded_value, folded_text)
    if score < min_score or b <= a:
        return value
    start, end = where[a][0], where[b - 1][1]
    while start > 0 and _WORDY.match(text[start - 1]) and _WORDY.match(text[start]):
        start -= 1
    while end < len(text) and _WORDY.match(text[end]) and _WORDY.match(text[end - 1]):
        end += 1
    span = _EDGE.sub("", text[start:end])
    if len(span) < 2 or len(span) > 2 * len(value) + 2:
        return value
    return span


# Hesitations a speaker (or a voice keyboard) puts in front of a value ("remind me to um
# email the landlord"): never part of it. Only whole words ("umbrella" stays), and not in
# capitals: "UM football" and "ER visit" are names.
_FILLER = regex.compile(r"^(?:(?:[Uu](?:h+|m+|hm+)|[Ee]rm+|[Hh]m+)(?![\p{L}\p{N}'’-])"
                        r"[\s,.…-]*)+")
# Emoji after the last word of a place, name, time or task: the user's sign-off ("tmrw
# morning 😩"), not part of the value. Kept in texts to label or translate.
_EMOJI_OR_SPACE = (r"(?:\s|\p{Emoji_Presentation}|\p{Extended_Pictographic}\ufe0f"
                   r"|\p{Emoji_Modifier}|\u200d|\ufe0f)")
_TRAILING_EMOJI = regex.compile(_EMOJI_OR_SPACE + "+$")
# A dictated closing quote ("is this happy or sad quote finally done end quote"): the
# quotation mark, spoken, not the quoted text.
_SPOKEN_CLOSE = regex.compile(r"[\s,.]+(?:end|close|un)[\s-]?quote[\s.!?]*$", regex.IGNORECASE)


# A quoted text in the message: 「...」, 『...』, “...”, "..." or '...' (an apostrophe inside
# a word, as in "what's", opens or closes nothing).
_QUOTED = regex.compile(
    r"「(?P<q>[^「」]+)」|『(?P<q>[^『』]+)』|“(?P<q>[^“”]+)”"
    r"|(?<![\p{L}\p{N}])\"(?P<q>[^\"]+)\"(?![\p{L}\p{N}])"
    r"|(?<![\p{L}\p{N}])'(?P<q>[^'\s](?:(?:[^']|(?<=\p{L})'(?=\p{L}))*[^'\s])?)'"
    r"(?![\p{L}\p{N}])")
_EMOJI_TAIL = regex.compile(_EMOJI_OR_SPACE + "*$")


def _quotes(text: str) -> list[str]:
    return [q.strip() for m in _QUOTED.finditer(text) for q in m.captures("q") if q.strip()]


def whole_text(value: str, text: str) -> str:
    """A text to label or translate, completed from the message: when the user quoted it,
    the whole quotation, without the quotation marks ("ご来店" inside 「ご来店ありがとう
    ございました」, or "she said 'lovely hedge'" for the quote alone); otherwise the value
    with the emoji that end the message right after it ("over AGAIN 😂")."""
    quotes = _quotes(text)
    bare = _fold(value.strip().strip("「」『』“”\"'"))[0]
    if quotes and bare:
        folded = [_fold(q)[0] for q in quotes]
        if bare not in folded:
            inside = [q for q, f in zip(quotes, folded, strict=True) if bare in f]
            around = [q for q, f in zip(quotes, folded, strict=True) if f in bare]
            if len(inside) == 1:
                return inside[0]
            if not inside and len(around) == 1:
                return around[0]
        return value
    at = text.rfind(value)
    if at >= 0 and value.strip():
        tail = text[at + len(value):]
        if tail.strip() and _EMOJI_TAIL.fullmatch(tail):
            return value + tail.rstrip()
    return value


def tidy(value: str, *, verbatim: bool = False) -> str:
    """``value`` without a leading hesitation, a dictated closing quote and, unless it
    is a ``verbatim`` text (to label or translate), trailing emoji. Never empties it."""
    out = _FILLER.sub("", value)
    out = _SPOKEN_CLOSE.sub("", out)
    if not verbatim:
        out = _TRAILING_EMOJI.sub("", out)
    out = out.strip()
    return out if out else value


# A Japanese case or topic particle copied after a time ("金曜日に", "今の", "明日は"):
# our labels never end a time with one, and the reminder parser reads the time without it.
_TIME_PARTICLE = regex.compile(r"(?<=[\p{Han}\p{Katakana}\p{Hiragana}\p{N}ー])(?:には|に|の|は)$")


def trim_particle(value: str) -> str:
    """A time or date without a trailing Japanese particle; never empties it."""
    out = _TIME_PARTICLE.sub("", value.rstrip())
    return out if out else value


# The minutes of a clock time the model stopped copying at the colon ("at 3" from "at
# 3:15": a reminder at the wrong time), with an am/pm written right after them.
_CLOCK_TAIL = regex.compile(r"[:：][0-5]\d(?!\d)(?:\s?(?:[ap]\.?m\.?)(?![\p{L}]))?",
                            regex.IGNORECASE)


def complete_clock(value: str, text: str) -> str:
    """A time that ends in the hour of a clock time the message writes in full ("at 3"
    in "pick up the kids at 3:15") gets its minutes back; any other value is unchanged,
    and so is an hour that the message also writes alone."""
    if not value[-1:].isdigit():
        return value
    tails = set()
    for m in regex.finditer(regex.escape(value), text, regex.IGNORECASE, overlapped=True):
        if text[m.end():m.end() + 1].isdigit():  # "at 3" inside "at 30"
            return value
        clock = _CLOCK_TAIL.match(text, m.end())
        tails.add(clock.group() if clock else "")
    if len(tails) != 1 or "" in tails:
        return value
    return value + tails.pop()


# A day said right before or after the clock time the model copied ("tomorrow" in "call
# mom tomorrow at 6pm" when the model wrote "at 6pm"): without it the reminder is set for
# the wrong day.
_WEEKDAY = r"(?:mon|tues?|wed(?:nes)?|thu(?:rs?)?|fri|sat(?:ur)?|sun)(?:day)?"
_MONTH = (r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
          r"sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)")
_DAY_EN = (r"(?<![\p{L}\p{N}])(?:the\s+day\s+after\s+tomorrow|tomorrow|tmrw|tmr|today|"
           r"tonight|ashita|kyou|(?:(?:this|next|coming)\s+)?" + _WEEKDAY + r"|"
           r"(?:this|next)\s+week(?:end)?|(?:the\s+)?\d{1,2}(?:st|nd|rd|th)?(?:\s+of)?\s+"
           + _MONTH + r"|" + _MONTH + r"\s+\d{1,2}(?:st|nd|rd|th)?)"
           r"(?:\s+(?:morning|afternoon|evening|night))?(?![\p{L}\p{N}])")
_DAY_JA = (r"(?:明後日|あさって|明日|あした|あす|今日|きょう|本日|今夜|今晩|"
           r"(?:来週|今週)の?[月火水木金土日]曜日?|[月火水木金土日]曜日?(?=の|\\s|$|\\d)|\d{1,2}月\d{1,2}日)"
           r"(?:の?(?:朝|夜|午前|午後|夕方|昼))?")
_DAY = regex.compile(f"{_DAY_EN}|{_DAY_JA}", regex.IGNORECASE)
# the day, then what may stand between it and the time: "tomorrow at 6pm", "on Friday @ 5"
_DAY_BEFORE = regex.compile(f"(?:{_DAY_EN}|{_DAY_JA}の?)[ \\t,、]*(?:(?:at|@|by)\\s+)?$",
                            regex.IGNORECASE)
_DAY_AFTER = regex.compile(f"[ \\t,、]*(?:on\\s+)?(?:{_DAY_EN})", regex.IGNORECASE)
# only a time of day is completed with a day; "in 30 minutes" is not
_CLOCKISH = regex.compile(r"\d|noon|midnight|morning|afternoon|evening|night|[時朝夜昼]|夕方",
                          regex.IGNORECASE)
_RELATIVE = regex.compile(r"\bin\s|\blater\b|from\s+now|後", regex.IGNORECASE)


def complete_day(value: str, text: str) -> str:
    """A time of day without a day ("at 6pm") that the message says right next to one
    ("tomorrow at 6pm", "at 6pm tomorrow", "明日の18時") gets that day, as written. A value
    that already names a day, a relative time ("in 30 minutes"), or one the message
    writes in places with different days around it, is unchanged."""
    if (not value.strip() or _DAY.search(value) or not _CLOCKISH.search(value)
            or _RELATIVE.search(value)):
        return value
    spans = set()
    for m in regex.finditer(regex.escape(value), text, regex.IGNORECASE, overlapped=True):
        before = _DAY_BEFORE.search(text, max(0, m.start() - 60), m.start())
        after = None if before else _DAY_AFTER.match(text, m.end())
        start = before.start() if before else m.start()
        end = after.end() if after else m.end()
        spans.add(text[start:end])
    if len(spans) != 1:
        return value
    return spans.pop().strip(" \t,、")


# A repetition the message says that the copied time left out ("every Monday remind me to
# water the plants at 8am" with the time "at 8am"): without it a weekly reminder was saved
# once. Repetitions the reminder function does not keep are looked for too ("on the first
# of every month", "every other day", "on weekends"), so that it refuses them instead of
# saving a one-off.
_REPEAT_EN = (r"(?<![\p{L}\p{N}])(?:(?:every|each)\s+(?:day|morning|afternoon|evening|night|"
              r"weekday|weekend|week|month|year|hour|fortnight|" + _WEEKDAY + r"|"
              r"(?:other|few|couple\s+of|\d+|second|third)\s+\w+)|daily|nightly|weekly|"
              r"monthly|yearly|annually|hourly|fortnightly|biweekly|twice\s+a\s+\w+|"
              r"(?:on\s+)?weekdays|(?:on\s+)?weekends|"
              r"(?:mon|tues|wednes|thurs|fri|satur|sun)days)(?![\p{L}\p{N}])")
_REPEAT = regex.compile(f"{_REPEAT_EN}|毎週?[月火水木金土日]曜日?|毎[日朝晩夜週月年]|平日|"
                        r"隔週|隔日|\d+\s*(?:日|時間|週間)(?:おき|ごと)", regex.IGNORECASE)
# what leads into a time said right after it ("every Monday at 8am" copied as "Monday at
# 8am", "毎朝7時" as "朝7時")
_LEAD = regex.compile(r"(?:\b(?:every|each)\s+|\bweekly\s+|毎週?|平日[のは]?)$", regex.IGNORECASE)
# a start, an end or an exception said right after the time ("every day at 8 starting
# tomorrow"): kept with it, so that a repetition with a limit is refused, not kept for ever
_LIMIT = regex.compile(r"[ \t]*,?[ \t]*(?:starting|from|until|till|through|thru|except|"
                       r"excluding|but\s+not|for\s+(?:the\s+(?:next|coming|rest\s+of)\s+\w+|"
                       r"(?:\d+|a|one|two|three|four)\s+(?:days?|weeks?|months?|years?)\b))"
                       r"[^.!?\n]*", regex.IGNORECASE)
# a clock time said right after a repetition the model copied alone ("毎朝" of "毎朝7時に")
_CLOCK_AFTER = regex.compile(r"[ \t]*(?:at[ \t]+)?\d{1,2}(?:[:.]\d{2})?(?:[ \t]*(?:[ap]\.?m\b\.?)|"
                             r"時半|時\d{1,2}分|時)?", regex.IGNORECASE)


# a time that is once by what it says: a relative time, a named day or weekday
# ("at noon Saturday" beside "closes on Saturdays"), a date
_ONCE = regex.compile(r"\bin\s|\blater\b|from\s+now|後|\b(?:today|tonight|tomorrow|tmrw|tmr|"
                      r"next|this)\b|明日|明後日|今日|今夜|今晩|あした|来週|今週|\d{1,2}月\d{1,2}日|"
                      r"\d{1,2}/\d{1,2}|\d(?:st|nd|rd|th)\b|[月火水木金土日]曜|"
                      r"(?<![\p{L}\p{N}])" + _WEEKDAY + r"(?![\p{L}\p{N}])", regex.IGNORECASE)


def complete_repetition(value: str, text: str, *, others: tuple[str, ...] = ()) -> str:
    """A reminder's time as the message says it, where the copied value left part of it
    out. Right beside the value: the word that makes it repeat ("every" of "every Monday
    at 8am", 毎 of 毎朝7時), the clock time after a repetition copied alone ("毎朝" of
    "毎朝7時に"), and a start, end or exception after it ("starting tomorrow"). Elsewhere
    in the message: a repetition, when the message says exactly one, outside the other
    arguments ("send the weekly update" is a task), and the value names no day of its own."""
    if not value.strip():
        return value
    # where the other arguments stand in the message (the task): not part of the time
    taken = [m.span() for o in others if o
             for m in regex.finditer(regex.escape(o), text, regex.IGNORECASE)]
    spots = [m for m in regex.finditer(regex.escape(value), text, regex.IGNORECASE)]
    if len(spots) == 1:
        start, end = span = spots[0].span()
        lead = _LEAD.search(text, 0, start)
        if lead and not _REPEAT.search(value):
            start = lead.start()
        if not regex.search(r"\d", text[start:end]) and _REPEAT.search(text[start:end]):
            clock = _CLOCK_AFTER.match(text, end)
            if clock and regex.search(r"\d", clock.group()):
                end = clock.end()
        limit = _LIMIT.match(text, end)
        if limit and _REPEAT.search(text[start:end]):
            # up to where the task or another argument starts ("... to take vitamins")
            stops = [a for a, b in taken if end < a and b <= limit.end()]
            verb = regex.search(r"[ \t,]+(?:to|that|and|remind|please)\b", text[end: limit.end()])
            end = min([limit.end(), *stops, *([end + verb.start()] if verb else [])])
        if (start, end) != span:
            value = text[start:end].strip(" \t,、")
    if _REPEAT.search(value) or _ONCE.search(value):
        return value
    said = [m for m in _REPEAT.finditer(text)
            if not any(a <= m.start() < b for a, b in taken)]
    kinds = list({m.group().lower(): m.group() for m in said}.values())
    if not kinds:
        return value
    # two ("every morning ... and every evening"): all of them, which the reminder
    # function refuses rather than keep one and drop the other
    repetition = " and ".join(kinds)
    joiner = "" if regex.search(r"\p{Han}|\p{Hiragana}|\p{Katakana}", repetition) else " "
    return f"{repetition}{joiner}{value}"


def _without_day(value: str, day: str) -> str:
    """``value`` less a trailing ``day`` that now belongs to the time ("sleep tomorrow"
    when the time became "tomorrow at 10pm"); never empties it."""
    if not day or not value.lower().rstrip().endswith(day.lower()):
        return value
    out = value.rstrip()[: -len(day)].rstrip(" \t,、の")
    out = regex.sub(r"\s+(?:on|for)$", "", out, flags=regex.IGNORECASE)
    return out if out.strip() else value


def ground_arguments(arguments: dict[str, object], fields: tuple[str, ...],
                     text: str, *, verbatim: tuple[str, ...] = (), when: tuple[str, ...] = (),
                     repeats: tuple[str, ...] = (), numbers: tuple[str, ...] = (),
                     durations: tuple[str, ...] = (), languages: tuple[str, ...] = ()
                     ) -> dict[str, object]:
    """A copy of ``arguments`` with every grounded string field grounded in ``text`` and
    tidied (``verbatim`` fields keep their emoji, ``when`` fields lose a trailing
    particle and get back the minutes of a clock time cut at its colon, ``languages``
    the message does not contain become the one it names), and numeric fields checked
    against the numbers ``text`` states."""
    out = dict(arguments)
    for key in fields:
        value = out.get(key)
        if isinstance(value, str):
            value = ground(value, text)
            if key in verbatim:
                value = whole_text(value, text)
            value = tidy(value, verbatim=key in verbatim)
            out[key] = complete_clock(trim_particle(value), text) if key in when else value
    for key in when:
        value = out.get(key)
        if not isinstance(value, str):
            continue
        if key in repeats:
            others = tuple(str(v) for k, v in out.items() if k != key and isinstance(v, str))
            value = out[key] = complete_repetition(value, text, others=others)
        dated = complete_day(value, text)
        if dated == value:
            continue
        out[key] = dated
        day = dated[: dated.lower().rfind(value.lower())] \
            if dated.lower().endswith(value.lower()) else ""
        day = regex.sub(r"(?:\s+(?:at|@|by))?[\s,、の]*$", "", day, flags=regex.IGNORECASE)
        for other in fields:
            if other not in when and other not in verbatim and isinstance(out.get(other), str):
                out[other] = _without_day(str(out[other]), day)
    texts = [v for k, v in out.items() if k in verbatim and isinstance(v, str)]
    for key in languages:
        value = out.get(key)
        if isinstance(value, str):
            out[key] = ground_language(value, text, exclude=texts)
    for key in (*numbers, *durations):
        value = out.get(key)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        taken = [v for k, v in out.items() if k != key and k in (*numbers, *durations)
                 and isinstance(v, (int, float)) and not isinstance(v, bool)]
        fixed = ground_number(float(value), text, duration=key in durations, taken=taken)
        if fixed != value:
            out[key] = int(fixed) if isinstance(value, int) and fixed.is_integer() else fixed
    return out
