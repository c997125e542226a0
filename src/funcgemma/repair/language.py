"""The language a message asks for, as the user wrote it ("into korean", "英語にして").

A 270M router sometimes writes a language the user never named: "translate i want to go
home into korean" came back with ``target_language`` "english", and "into spansih" as
"spies". Such a value is certainly wrong (our labels, and the user, name the language in
the message), so `ground_language` replaces it with the one language the message does
name, outside the text to translate. It never touches a value the message contains, and
never guesses: no mention, or two different ones, leave the model's value alone.
"""

from __future__ import annotations

from collections.abc import Iterable

import regex

# Language names in English (and a few common alternative names). Whole words only.
_ENGLISH = """
afrikaans albanian amharic arabic armenian azerbaijani basque belarusian bengali bosnian
bulgarian burmese cantonese catalan cebuano chinese croatian czech danish dutch english
esperanto estonian farsi filipino finnish french galician georgian german greek gujarati
haitian hausa hawaiian hebrew hindi hmong hungarian icelandic igbo indonesian irish italian
japanese javanese kannada kazakh khmer korean kurdish kyrgyz lao latin latvian lithuanian
luxembourgish macedonian malagasy malay malayalam maltese mandarin maori marathi mongolian
nepali norwegian pashto persian polish portuguese punjabi romanian russian samoan serbian
shona sindhi sinhala slovak slovenian somali spanish sundanese swahili swedish tagalog tajik
tamil telugu thai tibetan turkish turkmen ukrainian urdu uyghur uzbek vietnamese welsh
xhosa yiddish yoruba zulu
""".split()
# Romaji names of the languages Japanese users most often ask for.
_ROMAJI = """
eigo nihongo furansugo doitsugo supeingo kankokugo chuugokugo chugokugo itariago
porutogarugo roshiago betonamugo taigo indonesiago
""".split()
# Words ending in 語 that are not languages ("単語" word, "敬語" honorifics, "物語" story...).
_NOT_LANGUAGES = {"単語", "英単語", "敬語", "物語", "言語", "外国語", "母国語", "口語", "用語",
                  "主語", "述語", "熟語", "略語", "造語", "流行語", "死語", "丁寧語", "尊敬語",
                  "謙譲語", "新語", "古語", "反対語", "類義語", "対義語", "擬音語", "擬態語"}

_NAME = regex.compile(r"(?<![\p{L}\p{N}])(" + "|".join(_ENGLISH + _ROMAJI)
                      + r")(?![\p{L}\p{N}])", regex.IGNORECASE)
_KANJI_NAME = regex.compile(r"(?<![\p{Han}\p{Katakana}ー])([\p{Han}\p{Katakana}ー]{1,7}語)")
# What marks a language as the target: "into X", "in X", "to X" before it, or に/へ/で
# (and romaji ni/de) after it.
# (a lookbehind, checked where the name starts: looking back over only the words before
# it, not searching the whole text again for each name)
_BEFORE = regex.compile(r"(?<=(?:\binto|\bin|\bto)\s+)", regex.IGNORECASE)
_AFTER = regex.compile(r"(?:に|へ|で|\s+(?:ni|de)\b)", regex.IGNORECASE)
# "into <word>" at the end of the message names the target even when the word is
# misspelt ("into spansih"), or is a language missing from the lists above.
_INTO_LAST = regex.compile(r"\binto\s+(\p{L}[\p{L}'’-]*)[\s\p{P}\p{So}]*$", regex.IGNORECASE)


def mentions(text: str) -> list[tuple[str, bool]]:
    """(language as written, marked as the target?) for each language ``text`` names."""
    found: list[tuple[str, bool]] = []
    for pattern in (_NAME, _KANJI_NAME):
        for m in pattern.finditer(text):
            word = m.group(1)
            if word in _NOT_LANGUAGES:
                continue
            marked = bool(_BEFORE.match(text, m.start()) or _AFTER.match(text, m.end()))
            found.append((word, marked))
    last = _INTO_LAST.search(text)
    if last:
        found.append((last.group(1), True))
    return found


def ground_language(value: str, text: str, exclude: Iterable[str] = ()) -> str:
    """``value`` when the message contains it; else the one language the message names
    (the ones marked as the target first), leaving out the ``exclude`` texts (the text
    to translate: a language named inside it is not the target); else ``value``."""
    if not value.strip() or value.strip().casefold() in text.casefold():
        return value
    rest = text
    for part in exclude:
        if part.strip():
            rest = rest.replace(part, " ")
    found = mentions(rest)
    for tier in ([w for w, marked in found if marked], [w for w, _ in found]):
        distinct = {w.casefold(): w for w in tier}
        if len(distinct) == 1:
            return next(iter(distinct.values()))
        if distinct:
            return value  # two different languages: not ours to choose
    return value
