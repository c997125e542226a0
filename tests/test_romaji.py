"""Romaji detection on examples and on the labelled data; the kana reading (jaconv, the
embedded extra, so those tests are in the model tier)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from funcgemma.encoder.romaji import kana_reading, looks_romaji

DATA = Path(__file__).resolve().parents[1] / "data"
LABELLED = ("train.jsonl", "dev.jsonl", "test.jsonl", "holdout/wild.jsonl")


@pytest.mark.parametrize("text", [
    "ashita no kyoto no tenki oshiete",
    "konban 10ji ni mama ni denwa remind shitoite",
    "yokohama ima samui?",
    'supeingo de "sumimasen" wa nan desu ka',
    "nani ga dekiru no?",
    "ohayo gozaimasu",
    "atarashii sumaho ga hoshii, 5man en made",
    "kinou no kaminari sugokatta ne",
    "Tōkyō no tenki wa?",
])
def test_looks_romaji_accepts_japanese_in_latin_letters(text: str) -> None:
    assert looks_romaji(text)


@pytest.mark.parametrize("text", [
    "remind me to call mom at 6",
    "What's the weather in Kyoto tomorrow?",
    "translate 'thank you' into French",
    "is Tokyo expensive?",
    "book me a sushi place",
    "are you sure",  # every word passes the syllable grammar, no Japanese evidence
    "I have no idea",
    "Rio de Janeiro weather",
    "translate 'ashita no tenki' into English",  # romaji only inside the quote
    "明日の京都の天気は？",
    "ashita no 京都 no tenki",
    "",
    "12:30",
])
def test_looks_romaji_rejects_english_japanese_script_and_numbers(text: str) -> None:
    assert not looks_romaji(text)


def test_looks_romaji_rates_on_labelled_data() -> None:
    """``lang`` ja rows written in ASCII are romaji; ``lang`` en rows are English."""
    romaji = english = found = false = 0
    for name in LABELLED:
        for line in (DATA / name).read_text("utf-8").splitlines():
            row = json.loads(line)
            if row["lang"] == "ja" and row["text"].isascii():
                romaji += 1
                found += looks_romaji(row["text"])
            elif row["lang"] == "en":
                english += 1
                false += looks_romaji(row["text"])
    assert romaji > 300 and english > 3000
    assert found / romaji >= 0.9
    assert false / english <= 0.005


def test_kana_reading_is_none_for_english() -> None:
    assert kana_reading("remind me to call mom at 6") is None


@pytest.mark.llamacpp
@pytest.mark.parametrize(("text", "reading"), [
    ("konban 10ji ni mama ni denwa remind shitoite",
     "こんばん 10じ に まま に でんわ remind しといて"),
    ('supeingo de "sumimasen" wa nan desu ka',
     'すぺいんご で "すみません" は なん です か'),
    ("'where is the toilet' nihongo de nante iu",
     "'where is the toilet' にほんご で なんて いう"),
    ("konnichiwa, Tōkyō!", "こんにちわ, とうきょう!"),
])
def test_kana_reading_transliterates_romaji_words(text: str, reading: str) -> None:
    assert kana_reading(text) == reading
