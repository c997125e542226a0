"""Asking back: which value a call lacks that only the user can give.

A function declares the arguments it will not guess (``FunctionSpec.asks_for``, each with
its question). A call lacks such a value when the model left it out, or wrote something
that is not one: a pointer to a thing the message does not contain ("three of *them*",
"translate *my note*", "check *this review*"), a word of the request itself ("remind me"
-> time "remind"), or the whole message copied into a place. A value the function itself
cannot read (a reminder's time) is declared by the function (``FunctionSpec.unusable``).

The router then answers "ask" with the question in the user's language and what the call
has so far; the next message fills it (funcgemma.followups). Nothing the user did not say
is ever put in its place.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import regex

from .repair.day import DAY
from .repair.language import mentions
from .roles import Copied, Language, Role, Verbatim, When
from .text import nfkc

if TYPE_CHECKING:
    from .registry import FunctionSpec

# Words that point at a thing or a place without naming it, and the words around them
_POINTERS_EN = (
    r"this|that|these|those|it|its|them|they|one|ones|some|something|somewhere|anything|"
    r"anywhere|someplace|stuff|thing|things|my|your|our|his|her|their|the|a|an|of|new|"
    r"another|other|same|again|more|please|me|for|to|here|there|place|where|which|what|"
    r"two|three|four|five|six|seven|eight|nine|ten|couple|few|several|all|both|each|"
    r"pair|pack|box|bag|bottle|piece|pieces|item|items|replacement|\d+"
)
_POINTER_EN = regex.compile(rf"(?:\b(?:{_POINTERS_EN})\b|[\s\p{{P}}])*", regex.IGNORECASE)
_POINTER_JA = regex.compile(
    r"(?:それ|これ|あれ|この|その|あの|新しい|もの|物|の|やつ|何か|なにか|どこか|どこ|"
    r"ここ|そこ|[をはがにでともへ]|[\s\p{P}])*")
# What a text to work on is called when it is not given: "my note", "this review"
_DOCUMENT = regex.compile(
    r"(?:(?:\b(?:this|that|my|the|a|your|our|his|her|their)\s+)?"
    r"(?:(?:last|latest|new|previous|following|above|attached|own|customer|product|draft|"
    r"short|long|whole)\s+)?"
    r"\b(?:review|reviews|note|notes|message|messages|text|texts|sentence|sentences|email|"
    r"emails|mail|post|posts|comment|comments|tweet|tweets|letter|reply|phrase|paragraph|"
    r"feedback|caption|line|lines|words|sentence|menu|sign|document|essay)\b)"
    r"|(?:この|その|私の|僕の|俺の)?(?:文章?|メッセージ|レビュー|メール|投稿|コメント|"
    r"ツイート|手紙|返信|フレーズ|感想|口コミ|一文|文面)",
    regex.IGNORECASE)
# a word of the request copied where a language goes ("translate" -> target "translate")
_ASKING_WORD = regex.compile(r"(?:translate|translation|say|said|language|languages|word|"
                             r"words|it|this|that|翻訳|訳して|言語|何語)", regex.IGNORECASE)
# a day or a part of the week, which a place is not
_A_TIME = regex.compile(DAY.pattern + r"|週末|土日|連休|週明け|(?<![\p{L}])(?:weekend|shuumatsu)",
                        regex.IGNORECASE)
_WORDS = regex.compile(r"[\p{L}\p{N}]+")


def _words(text: str) -> list[str]:
    return _WORDS.findall(nfkc(text).casefold())


def not_a_value(role: Role | None, value: Any, message: str | None) -> bool:
    """True when ``value``, written for a field of role ``role``, names nothing the
    message gives: empty, only pointer words, a text's kind in place of the text ("my
    note"), a language the message does not name, or the whole request copied.
    ``message`` None: the value did not come from the message (an answer to a question,
    a follow-up's value), so it is not compared with it."""
    if value is None:
        return True
    if not isinstance(value, str):
        return False
    said = nfkc(value).strip()
    if not regex.search(r"[\p{L}\p{N}\p{So}]", said):
        return True
    if isinstance(role, Language):
        return not mentions(said) and (
            bool(_ASKING_WORD.fullmatch(said)) or (
                message is not None and said.casefold() not in nfkc(message).casefold()))
    if not isinstance(role, Copied | Verbatim):
        return False
    if _POINTER_EN.fullmatch(said) or _POINTER_JA.fullmatch(said):
        return True
    if isinstance(role, Verbatim) and (_DOCUMENT.fullmatch(said) or _ASKING_WORD.fullmatch(said)):
        return True
    # the whole request copied into a place or a name: the request, not a value
    if message is None:
        return False
    mine, whole = set(_words(said)), _words(message)
    return (isinstance(role, Copied) and len(whole) >= 4
            and sum(word not in mine for word in whole) <= 1)


def lacking(spec: FunctionSpec, arguments: Mapping[str, Any], message: str | None
            ) -> list[str]:
    """The fields of ``spec.asks_for`` the arguments lack a value for, in its order."""
    unusable = set(spec.unusable(dict(arguments))) if spec.unusable else set()
    roles = spec.roles
    return [name for name in spec.asks_for
            if name in unusable or not_a_value(roles.get(name), arguments.get(name), message)
            or _doubled(spec, name, arguments)]


def _doubled(spec: FunctionSpec, name: str, arguments: Mapping[str, Any]) -> bool:
    """The same words written for this value and a time of the call (a place and a date
    both 「週末」): a time is not a place, so this one is not given. (A place written twice,
    as the place and as the date, "atlnta", is kept: it is the date that is wrong.)"""
    value = arguments.get(name)
    if not isinstance(value, str) or not value.strip() or isinstance(spec.roles.get(name), When):
        return False
    said = nfkc(value).strip().casefold()
    twins = [other for other, v in arguments.items() if other != name and isinstance(v, str)
             and nfkc(v).strip().casefold() == said]
    return any(isinstance(spec.roles.get(t), When) for t in twins) and bool(_A_TIME.search(said))
