"""Text helpers every layer shares: folding, script classes, and the vocabulary of days,
months and repetition. One place, so that a fix (a weekday spelling, a folding rule)
reaches every reader at once.

- ``nfkc``: full-width letters and digits, half-width kana and ligatures as plain ones.
- ``fold``: ``nfkc`` and lower case, with a map back to the source (for aligning a copy).
- ``squash``: ``nfkc``, no white space, casefolded (for "is this a piece of that").
"""

from __future__ import annotations

import unicodedata

import regex

# Scripts that separate words with spaces: a word of one is widened to its edges, where
# Japanese and Chinese text is taken character by character.
WORD_CHAR = r"[\p{Latin}\p{Cyrillic}\p{Greek}\p{Hangul}\p{N}\p{M}'’-]"
WORDY = regex.compile(WORD_CHAR)
# letters and digits of a spaced script (a run of katakana is a word too)
LETTER = regex.compile(r"[\p{Latin}\p{Cyrillic}\p{Greek}\p{Hangul}\p{N}\p{M}]")
KANA = regex.compile(r"[\p{Katakana}ー]")
JAPANESE = regex.compile(r"\p{Han}|\p{Hiragana}|\p{Katakana}")
# a character with its combining marks
CLUSTER = regex.compile(r"\X")
# white space or an emoji (with its modifiers and joiners): a user's sign-off after a value
EMOJI_OR_SPACE = (r"(?:\s|\p{Emoji_Presentation}|\p{Extended_Pictographic}\ufe0f"
                  r"|\p{Emoji_Modifier}|\u200d|\ufe0f)")

# English weekdays as people write them: "mon", "tues", "wednes(day)", "thurs", "sat"
WEEKDAY_EN = r"(?:mon|tues?|wed(?:nes|s)?|thu(?:rs?)?|fri|sat(?:ur)?|sun)(?:day)?"
WEEKDAYS_EN = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
# the Japanese weekdays' first characters, Monday first (月曜日 .. 日曜日)
WEEKDAYS_JA = "月火水木金土日"
MONTH_EN = (r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
            r"sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)")
MONTHS_EN = ("january", "february", "march", "april", "may", "june", "july", "august",
             "september", "october", "november", "december")
# Words that make a time repeat: "every Monday", "daily", "on weekdays", 毎朝, 平日, 隔週.
# Repetitions a reminder does not keep ("every other day", "monthly") are included, so
# that they are refused rather than read as a time said once.
REPEAT_EN = (r"(?<![\p{L}\p{N}])(?:(?:every|each)\s+(?:day|morning|afternoon|evening|night|"
             r"weekday|weekend|week|month|year|hour|fortnight|" + WEEKDAY_EN + r"|"
             r"(?:other|few|couple\s+of|\d+|second|third)\s+\w+)|daily|nightly|weekly|"
             r"monthly|yearly|annually|hourly|fortnightly|biweekly|twice\s+a\s+\w+|"
             r"(?:on\s+)?weekdays|(?:on\s+)?weekends|"
             r"(?:mon|tues|wednes|thurs|fri|satur|sun)days)(?![\p{L}\p{N}])")
REPEAT_JA = (r"毎週?[月火水木金土日]曜日?|毎[日朝晩夜週月年]|平日|隔週|隔日|"
             r"\d+\s*(?:日|時間|週間)(?:おき|ごと)")


def nfkc(text: str) -> str:
    return unicodedata.normalize("NFKC", text)


def fold(text: str) -> tuple[str, list[tuple[int, int]]]:
    """NFKC + lower-case, with a map from each folded character to the source span of
    the character it came from (``e`` + combining acute folds to one ``é``)."""
    out: list[str] = []
    where: list[tuple[int, int]] = []
    for m in CLUSTER.finditer(text):
        for f in nfkc(m.group()).lower():
            out.append(f)
            where.append(m.span())
    return "".join(out), where


def squash(text: str) -> str:
    """NFKC, without white space, casefolded: "New York" and "newyork" squash alike."""
    return "".join(nfkc(text).split()).casefold()
