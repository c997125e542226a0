"""check_reply: names, numbers and dates of a reply against its sources (both directions),
and the property that an extractive answer always passes the check."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from funcgemma.facts.check import check_reply, word_key
from funcgemma.facts.extractive import extractive_answer, split_sentences
from funcgemma.facts.numerals import kanji_value, scan
from funcgemma.facts.romaji import kana_to_romaji, loose

# All texts below were written for these tests.
EN = (
    "Hayao Miyazaki is an animator from Japan, born on January 5, 1941 in Tokyo. "
    "In 1985 he started Studio Ghibli together with Isao Takahata. "
    "Among the films he directed are My Neighbor Totoro and Spirited Away."
)
JA = (
    "宮崎駿（みやざき はやお）は1941年（昭和16年）1月5日に東京で生まれたアニメ映画の監督である。"
    "1985年に高畑勲らとスタジオジブリを作った。"
)
JA_KANJI_ONLY = "宮崎駿は昭和16年に東京で生まれた。"
KYOTO_JA = "京都市は日本の西部の都市で、千年以上も都だった。寺院が多い。人口は約146万人。"
CITY = "About 1,475,000 people live in the city, which has 1,941 hotel rooms."


def no_reader(run: str) -> list[str]:
    return []


SUPPORTED = [
    # cross-script names: the kana reading after the name, katakana
    ("Miyazaki was born in 1941.", [JA], ""),
    ("ミヤザキ・ハヤオは1941年に生まれた。", [EN], ""),
    ("Hayao Miyazaki was born in Japan.", ["ミヤザキ・ハヤオは日本のアニメ監督。"], ""),
    # one year, every way of writing it (彼 "he": a kanji name against an English source
    # needs a reading dictionary, which funcgemma does not take; see romaji.py)
    ("He was born in １９４１.", [EN], ""),
    ("彼は一九四一年に生まれた。", [EN], ""),
    ("彼は千九百四十一年に生まれた。", [EN], ""),
    ("彼は昭和16年に生まれた。", [EN], ""),
    ("He was born in 1941.", [JA_KANJI_ONLY], ""),
    # dates: every part the reply gives, from one date; a missing part is a wildcard
    ("He was born on January 5, 1941.", [JA], ""),
    ("He was born on 5 January 1941.", [JA], ""),
    ("彼は1941年1月5日生まれ。", [EN], ""),
    ("He was born on 5 January.", [JA], ""),
    ("He was born in January 1941.", [JA], ""),
    ("He was born on 1941-01-05.", [EN], ""),
    # numbers: separators, scales, approximations, ordinals
    ("The city has 1 941 hotel rooms.", [CITY], ""),
    ("About 1.5 million people live there.", [CITY], ""),
    ("人口は約150万人です。", [CITY], ""),
    ("人口は十二万人です。", ["The town has 120,000 residents."], ""),
    ("It was his 3rd film.", ["第3作目の映画。"], ""),
    ("Its share grew to 45%.", ["The share grew to 45 percent."], ""),
    ("He was born in the 1940s.", [EN], ""),
    ("彼は1940年代に生まれた。", [EN], ""),
    ("It was his 2nd studio.", ["It was the second studio he started."], ""),
    # names: case, accents, possessives, plurals, boilerplate, the user's own words
    ("According to Wikipedia, Miyazaki's films include Spirited Away.", [EN], ""),
    ("The Pokemon games came out in 1996.", ["Pokémon started as a pair of games in 1996."], ""),
    ("MIYAZAKI and Takahata started the studio.", [EN], ""),
    ("Yes, he made 12 films in Kyoto.", [EN], "Did Miyazaki make 12 films in Kyoto?"),
    # honest paraphrase: no new names, numbers or dates
    ("He is a well-known Japanese animator who directed several much-loved films.", [EN], ""),
    ("However, he also co-founded a studio. Famous films followed.", [EN], ""),
    ("宮崎監督は東京出身のアニメ映画監督です。", [JA], ""),
    ("1. Totoro\n2. Spirited Away", [EN], ""),
    ("Hello! Interestingly, Miyazaki is from Tokyo. Don't miss Totoro.", [EN], ""),
    ("京都には約150万人が住み、千年以上の歴史があります。", [KYOTO_JA], ""),
]

CAUGHT = [
    ("Miyazaki was born in 1890.", [EN], "", ["1890"]),
    ("Miyazaki, creator of Frozen, was born in 1941.", [EN], "", ["Frozen"]),
    ("Frozen is one of his films.", [EN], "", ["Frozen"]),
    ("He was born in Osaka in 1941.", [EN], "", ["Osaka"]),
    ("Miyazaki, creator of Frozen, born 1890.", [JA], "", ["1890", "Frozen"]),
    ("宮崎駿は大阪で生まれた。", [JA], "", ["大阪"]),
    ("彼は千八百九十年に生まれた。", [EN], "", ["千八百九十"]),
    ("彼は昭和17年に生まれた。", [EN], "", ["昭和17年"]),
    ("He was born on January 6, 1941.", [JA], "", ["January 6, 1941"]),
    ("彼は1941年2月5日生まれ。", [EN], "", ["1941年2月5日"]),
    ("He directed 12 films.", [EN], "", ["12"]),
    ("About 3 million people live there.", [CITY], "", ["3 million"]),
    ("ミヤザキはディズニーで働いた。", [JA], "", ["ディズニー"]),
    ("宮崎駿は中国映画を作った。", [JA], "", ["中国映画"]),
    ("He started Studio Ghibli with Walt Disney.", [EN], "", ["Walt", "Disney"]),
    ("It has twenty hotels.", [CITY], "", ["twenty"]),
    ("He was born in the 1950s.", [EN], "", ["1950"]),
    ("Italy, like Japan, has old cities.", [EN], "", ["Italy"]),
    ("京都は794年に都になり、清水寺が有名です。", [KYOTO_JA], "", ["794", "清水寺"]),
]


@pytest.mark.parametrize(("reply", "sources", "message"), SUPPORTED)
def test_check_reply_supported_forms_pass(reply: str, sources: list[str], message: str) -> None:
    result = check_reply(reply, sources, message)
    assert result.unsupported == []
    assert result.ok


@pytest.mark.parametrize(("reply", "sources", "message", "unsupported"), CAUGHT)
def test_check_reply_invented_facts_are_caught(
    reply: str, sources: list[str], message: str, unsupported: list[str]
) -> None:
    result = check_reply(reply, sources, message)
    assert result.unsupported == unsupported
    assert not result.ok


def test_check_reply_kana_reading_works_without_a_kanji_reader() -> None:
    assert check_reply("Miyazaki was born in 1941.", [JA], "", kanji_reader=no_reader).ok
    result = check_reply("Miyazaki was born in Tokyo.", [JA_KANJI_ONLY], "", kanji_reader=no_reader)
    assert result.unsupported == ["Miyazaki", "Tokyo"]


def test_check_reply_message_words_never_count() -> None:
    message = "Tell me about Ponyo and the year 2008"
    assert check_reply("Ponyo came out in 2008.", [EN], message).ok
    assert check_reply("Ponyo came out in 2008.", [EN], "").unsupported == ["2008", "Ponyo"]


def test_check_reply_sentence_start_common_words_are_not_names() -> None:
    source = "宮崎駿は東京（とうきょう）で生まれた。"
    assert check_reply("Born in Tokyo. Today he lives there.", [source], "").ok
    # a capitalised word the reply also writes in lower case is a common word
    assert check_reply("Animated films made him known. He made animated films.", [source], "").ok
    assert check_reply("Osaka made him known.", [source], "").unsupported == ["Osaka"]


@pytest.mark.parametrize(
    ("text", "values"),
    [
        ("1941", [1941.0]),
        ("1,941", [1941.0]),
        ("１９４１", [1941.0]),
        ("一九四一", [1941.0]),
        ("千九百四十一", [1941.0]),
        ("昭和16年", [1941.0]),
        ("平成元年", [1989.0]),
        ("令和5年", [2023.0]),
        ("十二万", [120000.0]),
        ("12万", [120000.0]),
        ("1万5000", [15000.0]),
        ("2 million", [2_000_000.0, 2.0]),
        ("twenty-three", [23.0, 20.0]),
    ],
)
def test_scan_reads_numbers_in_any_script(text: str, values: list[float]) -> None:
    numbers, _ = scan(text)
    assert [n.options[0][0] for n in numbers] == values


@pytest.mark.parametrize(
    ("text", "date"),
    [
        ("January 5, 1941", (1941, 1, 5)),
        ("5 January 1941", (1941, 1, 5)),
        ("Jan. 5", (None, 1, 5)),
        ("1941-01-05", (1941, 1, 5)),
        ("1941年1月5日", (1941, 1, 5)),
        ("1941年（昭和16年）1月5日", (1941, 1, 5)),
        ("昭和16年1月5日", (1941, 1, 5)),
        ("一九四一年一月五日", (1941, 1, 5)),
        ("1月5日", (None, 1, 5)),
        ("12月", (None, 12, None)),
    ],
)
def test_scan_reads_dates_as_tuples(text: str, date: tuple[int | None, ...]) -> None:
    _, dates = scan(text)
    assert [(d.year, d.month, d.day) for d in dates] == [date]


def test_scan_lone_kanji_in_words_makes_no_claim() -> None:
    numbers, _ = scan("一般に統一された九州の千尋")
    assert not any(n.strong for n in numbers)
    numbers, _ = scan("第一作")
    assert [n.strong for n in numbers] == [True]


@pytest.mark.parametrize(
    ("word", "key"),
    [
        ("Miyazaki's", "miyazaki"),
        ("MIYAZAKI", "miyazaki"),
        ("Pokémon", "pokemon"),
        ("Simpsons", "simpson"),
        ("Ghibli’s", "ghibli"),
        ("Glass", "glass"),
    ],
)
def test_word_key_folds_case_accents_possessives_plurals(word: str, key: str) -> None:
    assert word_key(word) == key


@pytest.mark.parametrize(
    ("kana", "romaji"),
    [
        ("ミヤザキ", "miyazaki"),
        ("みやざき", "miyazaki"),
        ("ジブリ", "jiburi"),
        ("トットリ", "tottori"),
        ("マッチャ", "matcha"),
        ("ティー", "ti"),
        ("キョウト", "kyouto"),
        ("ウィーン", "win"),
        ("ファン", "fan"),
    ],
)
def test_kana_to_romaji_reads_hepburn(kana: str, romaji: str) -> None:
    assert kana_to_romaji(kana) == romaji


def test_loose_joins_long_vowel_spellings() -> None:
    assert loose("Tōkyō") == loose("toukyou") == loose("Tokyo") == "tokyo"
    assert loose("Ohtani") == loose("ootani") == "otani"
    assert loose("shimbun") == loose("shinbun")


def test_kanji_value_reads_place_value_and_digit_strings() -> None:
    assert kanji_value("二〇二三") == 2023
    assert kanji_value("三千") == 3000
    assert kanji_value("1.5万") == 15000
    assert kanji_value("猫") is None


# --- property: an extractive answer is whole source sentences and always passes ---

_PIECES = [
    "Miyazaki",
    "Tokyo",
    "the",
    "born",
    "in",
    "May",
    "Jan.",
    "Dr.",
    "U.S.",
    "5",
    "1941",
    "1,941",
    "1 941",
    "twenty",
    "one",
    "hundred",
    "about",
    "January 5, 1941",
    "Pokémon",
    "3rd",
    "Spirited",
    "Away",
    "宮崎駿",
    "東京都",
    "一九四一年",
    "昭和16年",
    "1月5日",
    "スタジオジブリ",
    "は",
    "に",
    "生まれ",
    "た",
    "（みやざき はやお）",
    "第3",
    "12万",
    "人口",
    "(c. 1900)",
    "e.g.",
    "Ghibli's",
    "population",
    "million",
]
_sentence = st.builds(
    lambda words, seps, end: "".join(w + s for w, s in zip(words, seps, strict=False)) + end,
    st.lists(st.sampled_from(_PIECES), min_size=1, max_size=12),
    st.lists(st.sampled_from([" ", "", ", ", "、"]), min_size=12, max_size=12),
    st.sampled_from([".", "。", "!", "?", "", "！", ".\n"]),
)
_text = st.builds(
    lambda ss, glue: glue.join(ss),
    st.lists(_sentence, max_size=8),
    st.sampled_from([" ", "", "\n"]),
)


def _made_of_sentences(out: str, sentences: set[str]) -> bool:
    """``out`` is s1 g s2 g ... with each s an input sentence (the first may be clipped
    and end in '…') and each g a space, a line break or nothing."""
    if not out:
        return True
    starts = {0}
    firsts = [s for s in sentences if out.startswith(s)]
    if out.endswith("…") and not firsts:
        head = out[:-1]
        return any(s.startswith(head) for s in sentences)
    ends: set[int] = set()
    for s in firsts:
        ends.add(len(s))
    done: set[int] = set()
    while ends - done:
        end = min(ends - done)
        done.add(end)
        if end == len(out):
            return True
        for glue in ("", " ", "\n"):
            at = end + len(glue)
            if out.startswith(glue, end) and at not in starts:
                starts.add(at)
                ends.update(at + len(s) for s in sentences if out.startswith(s, at))
    return False


@settings(max_examples=300, deadline=None)
@given(
    summary=_text,
    passage=st.one_of(st.none(), _text),
    asked=st.sampled_from([None, "born", "population", "see", "人口", "Tokyo"]),
    lang=st.sampled_from(["en", "ja"]),
    count=st.integers(1, 4),
)
@pytest.mark.slow
def test_extractive_answer_is_source_sentences_that_pass_the_check(
    summary: str, passage: str | None, asked: str | None, lang: str, count: int
) -> None:
    out = extractive_answer(summary, passage, asked, lang, max_sentences=count)
    sentences = set(split_sentences(summary, lang)) | set(split_sentences(passage or "", lang))
    assert _made_of_sentences(out, sentences)
    assert len(out) <= 401
    result = check_reply(out, [summary, passage or ""], "")
    assert result.ok, (out, result.unsupported)
