"""extractive_answer and its sentence splitting, in English and Japanese."""

from __future__ import annotations

import pytest

from funcgemma.facts.extractive import MAX_CHARS, extractive_answer, split_sentences

# All texts below were written for these tests.
EN_SUMMARY = (
    "Kyoto is a city in western Japan. It was the seat of the imperial court for "
    "over a thousand years. Today it is known for its temples. It has many gardens."
)
EN_PASSAGE = (
    "The city has two big train stations. Its population is about 1.4 million. "
    "Many people work in tourism."
)
JA_SUMMARY = "京都市は日本の西部にある都市である。千年以上にわたり都が置かれた。寺院が多い。"
JA_PASSAGE = "市内には大きな駅が二つある。京都市の人口は約140万人である。観光業で働く人が多い。"
BIO = (
    "Dr. Aiko Tanaka is a painter from Osaka. She was born on March 3, 1970 in Sakai. "
    "Her work is shown in the U.S. and in Europe."
)


@pytest.mark.parametrize(
    ("text", "lang", "sentences"),
    [
        ("One. Two! Three? Four", "en", ["One.", "Two!", "Three?", "Four"]),
        (
            "Dr. Smith went to the U.S. in 1990. He stayed.",
            "en",
            ["Dr. Smith went to the U.S. in 1990.", "He stayed."],
        ),
        (
            "It sold 3.5 million copies. Then it stopped.",
            "en",
            ["It sold 3.5 million copies.", "Then it stopped."],
        ),
        (
            "Many use tools, e.g. brushes. Some do not.",
            "en",
            ["Many use tools, e.g. brushes.", "Some do not."],
        ),
        ("J. R. Smith wrote it. It is long.", "en", ["J. R. Smith wrote it.", "It is long."]),
        ('He said "Stop." Then he left.', "en", ['He said "Stop."', "Then he left."]),
        (
            "It opened (in 1990. or so) late. Fine.",
            "en",
            ["It opened (in 1990. or so) late.", "Fine."],
        ),
        ("1. See the temple.\n2. Eat tofu.", "en", ["1. See the temple.", "2. Eat tofu."]),
        ("Title\nFirst line. Second line.", "en", ["Title", "First line.", "Second line."]),
        (
            "京都は古い。寺が多い！行きたい？はい",
            "ja",
            ["京都は古い。", "寺が多い！", "行きたい？", "はい"],
        ),
        ("彼は「すごい。」と言った。次の文。", "ja", ["彼は「すごい。」と言った。", "次の文。"]),
        (
            "田中（たなか。画家）は大阪出身。以上。",
            "ja",
            ["田中（たなか。画家）は大阪出身。", "以上。"],
        ),
        ("京都はKyotoと書く。Osaka is near.", "ja", ["京都はKyotoと書く。", "Osaka is near."]),
        ("", "en", []),
    ],
)
def test_split_sentences_en_ja(text: str, lang: str, sentences: list[str]) -> None:
    assert split_sentences(text, lang) == sentences


def test_extractive_answer_takes_first_summary_sentences() -> None:
    out = extractive_answer(EN_SUMMARY, None, None, "en")
    assert out == (
        "Kyoto is a city in western Japan. It was the seat of the imperial court "
        "for over a thousand years. Today it is known for its temples."
    )
    assert extractive_answer(EN_SUMMARY, None, None, "en", max_sentences=1) == (
        "Kyoto is a city in western Japan."
    )


def test_extractive_answer_joins_japanese_without_spaces() -> None:
    out = extractive_answer(JA_SUMMARY, None, None, "ja", max_sentences=2)
    assert out == "京都市は日本の西部にある都市である。千年以上にわたり都が置かれた。"


def test_extractive_answer_puts_the_asked_attribute_first() -> None:
    assert extractive_answer(EN_SUMMARY, EN_PASSAGE, "population", "en") == (
        "Its population is about 1.4 million."
    )
    assert extractive_answer(JA_SUMMARY, JA_PASSAGE, "人口", "ja") == (
        "京都市の人口は約140万人である。"
    )


def test_extractive_answer_uses_the_attribute_table() -> None:
    # "born" is an attribute of facts.attributes: its sentences say born/生まれ or a date
    assert extractive_answer(BIO, BIO, "born", "en") == ("She was born on March 3, 1970 in Sakai.")
    ja = "田中愛子は大阪の画家である。1970年3月3日に堺で生まれた。作品は海外でも知られる。"
    assert extractive_answer(ja, ja, "born", "ja") == "1970年3月3日に堺で生まれた。"


def test_extractive_answer_falls_back_to_summary_then_passage() -> None:
    # the passage does not say; the summary does
    assert extractive_answer(BIO, "Her studio is small.", "born", "en") == (
        "She was born on March 3, 1970 in Sakai."
    )
    # nobody says: the passage's own first sentences
    assert extractive_answer(EN_SUMMARY, EN_PASSAGE, "height", "en", max_sentences=1) == (
        "The city has two big train stations."
    )
    # no summary: the passage
    assert extractive_answer("", EN_PASSAGE, None, "en", max_sentences=1) == (
        "The city has two big train stations."
    )
    assert extractive_answer("", None, "born", "en") == ""


def test_extractive_answer_stays_under_the_length_limit() -> None:
    sentence = "Kyoto has a very old and very famous garden. "
    out = extractive_answer(sentence * 20, None, None, "en", max_sentences=20)
    assert len(out) <= MAX_CHARS
    assert out == " ".join([sentence.strip()] * (len(out) // len(sentence) + 1))


def test_extractive_answer_clips_one_long_sentence_at_a_clause() -> None:
    long = "Kyoto has " + ", ".join(f"garden number {i}" for i in range(60)) + "."
    out = extractive_answer(long, None, None, "en")
    assert out.endswith("…")
    assert len(out) <= MAX_CHARS + 1
    assert long.startswith(out[:-1])
    assert out[:-1].endswith(tuple("0123456789"))  # cut at a comma, not inside a word


def test_extractive_answer_keeps_unended_sentences_apart() -> None:
    # a heading-like line has no end mark: a line break keeps it from the next sentence
    out = extractive_answer("Kyoto\nIt is old.", None, None, "en")
    assert out == "Kyoto\nIt is old."
