"""What funcgemma itself says to the user, in the user's language.

Most replies are the chat model's, which answers in the language the user wrote in. Some
are funcgemma's own: a function that could not do what was asked (no forecast offline, a
reminder time it cannot read) and the one-line notice of what a function did. Those are
written here in English and Japanese, the two languages the router is trained on.

A `Said` is the English text (it is a `str`, so results and JSON stay as they were) that
also carries its Japanese; `in_language` picks one for the user's message.
"""

from __future__ import annotations

import regex

LANGUAGES = ("en", "ja")
_JAPANESE = regex.compile(r"[\p{Hiragana}\p{Katakana}\p{Han}]")


class Said(str):
    """English text with its Japanese."""

    ja: str | None

    def __new__(cls, en: str, *, ja: str | None = None) -> Said:
        said = super().__new__(cls, en)
        said.ja = ja
        return said


def language_of(text: str) -> str:
    """'ja' for a message with Japanese script in it, else 'en'."""
    return "ja" if _JAPANESE.search(text) else "en"


def in_language(text: str, lang: str) -> str:
    """``text`` in ``lang`` where it was written in it; as it is otherwise."""
    if lang == "ja" and isinstance(text, Said) and text.ja:
        return text.ja
    return str(text)
