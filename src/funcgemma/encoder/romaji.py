"""Romaji (Japanese in Latin letters) found in a message and read as kana for the encoder.

Multilingual sentence encoders (USE multilingual, multilingual-e5) learnt Japanese from
Japanese script. To them "ashita no kyoto no tenki oshiete" is a run of unknown
English-looking words, noise that lands near no exemplar (2% routed right in issue 31's
measurements). So the encoder stage also encodes a hiragana reading of such a message
("あした の きょと の てんき おしえて"), made by ``jaconv``.

Detection (``looks_romaji``) needs no dictionary and no jaconv. The Latin words outside
quotes (a quote is often the English text to translate) are checked against the romaji
syllable grammar (Hepburn or kunrei: consonant + vowel, "shi/chi/tsu", "kya", syllabic
n, doubled consonants, "oh" for a long o; no "v", which would let "positive" and "have"
pass). Many English words pass anyway ("are", "made", "one", "you", "define"), so the
grammar alone decides nothing: a message counts when at least half of its words pass and
it holds Japanese evidence, that is a particle or common word English never writes ("wa",
"ga", "ni", "kara", "doko", "ashita"), a verb or adjective ending ("-masu", "-shite",
"-tai", "-katta", "-ou"), a counter after a digit ("10ji", "5man"), or two of the
particles English also writes ("no", "de", "mo", "yo", "made"). Text with any kana or
kanji is not romaji: it is already Japanese.

Measured on the labelled data (``lang`` ja and ASCII = romaji, ``lang`` en = English):
recall 0.98-1.00 and no false positive on train, dev, test and wild (251 of 263 romaji
and no false positive among 1,884 English rows in the files not used for tuning: extra*,
out_of_scope, multiturn...). The misses are short or mostly English messages ("OK",
"genki?", "neko kawaii", "kanjou label tsukete: the hotel was okay but noisy").

``kana_reading`` transliterates each word that passes the grammar and leaves the rest
(digits, punctuation, "remind", "busy"); a quoted piece is read only when it is romaji
itself, so "'where is the toilet' nihongo de nante iu" keeps its English. The standalone
particle "wa" is written は, as Japanese writes it.
"""

from __future__ import annotations

import re

from ..errors import ConfigurationError
from ..text import JAPANESE, nfkc

# one or more romaji syllables, the whole word (used with fullmatch on a lower-case word)
_SYLLABLES = re.compile(
    r"(?:"
    r"(?:[kgsztdnhbpmrj]y|sh|ch|ts|dz|[kgsztdnhbpmrjfwy])?[aiueo]"  # (consonant) vowel
    r"|n(?![aiueoy])|m(?=[bp])"  # syllabic n; Hepburn writes m before b and p
    r"|([kgsztdhbpmrfjc])(?=\1)|t(?=ch)"  # small tsu: a doubled consonant (kk, ss, tch)
    r"|(?<=o)h(?![aiueoy])"  # "oh" for a long o (Ohtani)
    r")+"
)
_WORD = re.compile(r"[a-z]+(?:'[a-z]+)*", re.IGNORECASE)
# a quoted piece: 'x' (not an apostrophe inside a word) or "x"
_QUOTED = re.compile(r"(?<![a-z0-9])'[^']*'(?![a-z])|\"[^\"]*\"", re.IGNORECASE)
# long vowels written with macrons or circumflexes (Tōkyō, kunrei Tôkyô)
_LONG_VOWELS = str.maketrans({
    "ā": "aa", "ī": "ii", "ū": "uu", "ē": "ee", "ō": "ou",
    "â": "aa", "î": "ii", "û": "uu", "ê": "ee", "ô": "ou",
    "Ā": "Aa", "Ī": "Ii", "Ū": "Uu", "Ē": "Ee", "Ō": "Ou",
    "Â": "Aa", "Î": "Ii", "Û": "Uu", "Ê": "Ee", "Ô": "Ou",
})
# particles and common words that English text does not contain as words
_JAPANESE_WORDS = frozenset((
    "wa ga wo ni ka ne kana kara kedo dake yori tte da desu masu shite shita sita "
    # question words, demonstratives, time words
    "nani nan nande naze itsu dou doko dore dare ikura ano kono sono ima kyou kyo ashita "
    "asatte kinou konban raishuu senshuu "
    # frequent adverbs, adjectives, verbs, set phrases
    "chotto sugoku sugoi totemo mada mou motto hontou hontoni zenbu ii aru iru nai "
    "tenki ame furu onaka nihongo eigo oshiete kudasai onegai yoroshiku arigatou "
    "konnichiwa ohayou ohayo oyasumi sumimasen gomen oishii"
).split())
# particles English also writes ("no idea", "Rio de Janeiro"): two different ones count
_SHARED_PARTICLES = frozenset(("no", "de", "mo", "yo", "made"))
_ENDING = re.compile(
    r".{2,}(?:masu|mashita|masen|desu|deshita|shite|shita|sita|tai|nai|tte|tta|kute|katta|"
    r"teru|chau|chatta|naa|yone|ou|uu|shii|sugi|sugite|reta|nasai)"
)
# counters written onto a digit: 10ji, 5man en, 2-ka, 30pun
_COUNTER = re.compile(
    r"(?<=[0-9])-?(?:ji|fun|pun|man|en|nichi|ka|paku|haku|tsu|hon|bon|pon|kai|nin|sai|"
    r"ko|mai|gatsu|nen|jikan|shuukan|byou|banme)(?![a-z])"
)
_MIN_SHARE = 0.5  # of the words, passing the syllable grammar (0.6 loses "kore wa positive?")
_MIN_EVIDENCE = 2  # a Japanese word, ending or counter is 2; a shared particle is 1


def _latin(text: str) -> str:
    """NFKC, long-vowel marks spelt out; case kept (kana_reading keeps English as written)."""
    return nfkc(text).translate(_LONG_VOWELS)


def _is_syllables(word: str) -> bool:
    return _SYLLABLES.fullmatch(word.lower().replace("'", "")) is not None


def _scores_romaji(text: str) -> bool:
    """The rule of the module docstring over one piece of lower-case text."""
    words = _WORD.findall(text)
    if not words:
        return False
    valid = [w.replace("'", "") for w in words if _is_syllables(w)]
    evidence = 2 * sum(1 for w in valid if w in _JAPANESE_WORDS or _ENDING.fullmatch(w))
    evidence += len(_SHARED_PARTICLES.intersection(valid))
    evidence += 2 * len(_COUNTER.findall(text))
    return evidence >= _MIN_EVIDENCE and len(valid) >= _MIN_SHARE * len(words)


def looks_romaji(text: str) -> bool:
    """Whether ``text`` is Japanese written in Latin letters (see the module docstring)."""
    if JAPANESE.search(text):
        return False
    folded = _latin(text).lower()
    outside = _QUOTED.sub(" ", folded)
    return _scores_romaji(outside if _WORD.search(outside) else folded)


def _to_kana(word: str) -> str:
    try:
        import jaconv  # the embedded extra; looks_romaji works without it
    except ImportError as exc:
        raise ConfigurationError(
            "Reading romaji as kana needs the `jaconv` package (the `embedded` extra): run "
            f"./setup.sh, or pip install 'funcgemma[embedded]' ({exc}).") from exc
    lower = word.lower()
    if lower == "wa":
        return "は"
    # "konnichiwa": jaconv reads nn as ん and would then give こんいちわ
    kana = jaconv.alphabet2kana(re.sub(r"nn(?=[aiueoy])", "n'n", lower))
    # a spelling jaconv does not take whole keeps its Latin letters
    return word if re.search(r"[a-z]", kana) else kana


def _read_words(piece: str) -> str:
    return _WORD.sub(lambda m: _to_kana(m[0]) if _is_syllables(m[0]) else m[0], piece)


def _read_quote(match: re.Match[str]) -> str:
    quote = match[0]
    words = _WORD.findall(quote)
    if _scores_romaji(quote.lower()) or (words and all(map(_is_syllables, words))):
        return _read_words(quote)
    return quote


def kana_reading(text: str) -> str | None:
    """``text`` with its romaji words in hiragana when it ``looks_romaji``, else None.

    "konban 10ji ni mama ni denwa remind shitoite" -> "こんばん 10じ に まま に でんわ remind
    しといて": digits, punctuation, words outside the syllable grammar and English quotes
    stay as written.
    """
    if not looks_romaji(text):
        return None
    latin = _latin(text)
    out, start = [], 0
    for match in _QUOTED.finditer(latin):
        out += [_read_words(latin[start:match.start()]), _read_quote(match)]
        start = match.end()
    out.append(_read_words(latin[start:]))
    return "".join(out)
