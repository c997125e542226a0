"""Japanese written in Latin letters, so "Miyazaki" can be found in 宮崎駿 or ミヤザキ.

Kana is read with a Hepburn table of our own. Kanji has no reading without a
dictionary (``kanji_readings`` reads none), which leaves the readings a Japanese source
gives itself, in kana after the name: 宮崎 駿（みやざき はやお）.
Readings are compared ``loose``: long vowels, ō and ou, m/n before b/p folded together,
so Tokyo, Tōkyō and toukyou are one key.
"""

from __future__ import annotations

import unicodedata

import regex

_ROWS = {
    "": "あいうえお",
    "k": "かきくけこ",
    "s": "さしすせそ",
    "t": "たちつてと",
    "n": "なにぬねの",
    "h": "はひふへほ",
    "m": "まみむめも",
    "r": "らりるれろ",
    "g": "がぎぐげご",
    "z": "ざじずぜぞ",
    "d": "だぢづでど",
    "b": "ばびぶべぼ",
    "p": "ぱぴぷぺぽ",
}
_KANA = {
    kana: consonant + vowel
    for consonant, row in _ROWS.items()
    for kana, vowel in zip(row, "aiueo", strict=True)
}
_KANA |= {
    "し": "shi",
    "ち": "chi",
    "つ": "tsu",
    "ふ": "fu",
    "じ": "ji",
    "ぢ": "ji",
    "づ": "zu",
    "や": "ya",
    "ゆ": "yu",
    "よ": "yo",
    "わ": "wa",
    "を": "o",
    "ん": "n",
    "ゐ": "i",
    "ゑ": "e",
    "ゔ": "vu",
    "ゎ": "wa",
}
_SMALL_VOWEL = {"ぁ": "a", "ぃ": "i", "ぅ": "u", "ぇ": "e", "ぉ": "o"}
_SMALL_Y = {"ゃ": "a", "ゅ": "u", "ょ": "o"}
_KATAKANA_ONLY = {"ヷ": "va", "ヸ": "vi", "ヹ": "ve", "ヺ": "vo"}


def to_hiragana(text: str) -> str:
    return "".join(chr(ord(c) - 0x60) if "ァ" <= c <= "ヶ" else c for c in text)


def kana_to_romaji(text: str) -> str:
    """Hepburn for a run of kana (ミヤザキ -> miyazaki, ティ -> ti, っ doubles, ー drops);
    a character that is not kana ends nothing and reads as nothing."""
    out: list[str] = []
    double = False
    for ch in to_hiragana(text):
        last = out[-1] if out else ""
        if ch == "っ":
            double = True
            continue
        if ch in _SMALL_Y and len(last) > 1 and last.endswith("i"):
            base = last[:-1]
            out[-1] = base + ("" if base.endswith(("sh", "ch", "j")) else "y") + _SMALL_Y[ch]
            continue
        if ch in _SMALL_VOWEL and last:
            base = "w" if last == "u" else last[:-1] if last[-1] in "aiueo" else last
            out[-1] = base + _SMALL_VOWEL[ch]
            continue
        reading = _KATAKANA_ONLY.get(ch) or _KANA.get(ch) or _SMALL_VOWEL.get(ch, "")
        if double and reading and reading[0] not in "aiueon":
            reading = ("t" if reading.startswith("ch") else reading[0]) + reading
        double = False
        out.append(reading)
    return "".join(out)


def loose(text: str) -> str:
    """A key two spellings of one Japanese name share (Ōtani, Ohtani, ootani -> otani)."""
    text = unicodedata.normalize("NFKD", text.casefold())
    key = regex.sub(r"[^a-z]", "", text)
    key = key.replace("cch", "tch")
    key = regex.sub(r"m(?=[bp])", "n", key)
    key = regex.sub(r"oh(?![aiueoy])", "o", key)
    key = regex.sub(r"([aiueo])\1+", r"\1", key)
    return key.replace("ou", "o")


def kanji_readings(run: str) -> list[str]:
    """Hepburn readings of a run of kanji: none. Kanji has no reading without a
    dictionary, and the maintained one that ships its dictionary in a wheel (pykakasi) is
    GPL, which an Apache-2.0 project does not take; a Japanese source gives the reading
    itself, in kana after the name, and that is read."""
    return []
