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

import functools
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import regex

from .repair.day import DAY
from .repair.language import mentions
from .repair.quotes import quotations
from .roles import Copied, Language, Role, Verbatim, When
from .text import nfkc

if TYPE_CHECKING:
    from .registry import FunctionSpec

# Words that point at a thing or a place without naming it, and the words around them
_POINTERS_EN = (
    r"this|that|these|those|it|its|them|they|one|ones|some|something|somewhere|anything|"
    r"anywhere|someplace|stuff|thing|things|my|your|our|his|her|their|the|a|an|of|new|whats|"
    r"another|other|same|again|more|please|me|for|to|here|there|place|where|which|what|"
    r"two|three|four|five|six|seven|eight|nine|ten|couple|few|several|all|both|each|"
    r"pair|pack|box|bag|bottle|piece|pieces|item|items|replacement|usual|regular|\d+|"
    # romaji: what, there, that, the usual one
    r"nani|nanika|soko|koko|asoko|sore|kore|doko|dokoka|itsumo|yatsu"
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
_ASKING_WORD = regex.compile(
    r"(?>\b(?:translate|translation|say|said|language|languages|word|words|it|this|that|"
    r"another|other|foreign|some|a|an|honyaku|shite|tte|nante|nan|te|iu|no)\b"
    r"|翻訳|訳して|言語|何語|外国語|他の|別の|して|しといて|お願い|ほしい|欲しい|んだけど|だけど|"
    r"けど|に|で|[\s\p{P}])++",
    regex.IGNORECASE)
# a day or a part of the week, which a place is not
_A_TIME = regex.compile(DAY.pattern + r"|週末|土日|連休|週明け|(?<![\p{L}])(?:weekend|shuumatsu)",
                        regex.IGNORECASE)
_WORDS = regex.compile(r"[\p{L}\p{N}]+")
# The word lists below are read as a run of tokens, each taken once and never re-split
# ((?>...)*+): two ways to read "next week" (a day, or two words) must not make a long
# value take exponential time. So a word that starts another comes after it (しておいて
# before して).
# A thing asked for with a request's own verbs, not named: item "buy it", 「注文確定」
_REQUESTED = regex.compile(
    rf"(?>\b(?:{_POINTERS_EN}|buy|order|get|purchase|reorder|restock|grab|add|put|place|go|"
    r"ahead|just|ok|okay|and|then|now|pls|remind|reminder|reminders|notify|notification|"
    r"ping|alert|set|up|can|could|you|me)\b|注文|確定|購入|手続き|進めて|買って|買う|買いたい|"
    r"欲しい|ほしい|何か|なにか|お願い|リマインダー|リマインド|設定|通知|お知らせ|知らせて|"
    r"しておいて|しといて|っといて|といて|おいて|して|[\s\p{P}])*+",
    regex.IGNORECASE)
# "the cheapest one", "blue one", 「赤いの」, 「いつものやつ」: a pointer to a thing the
# message does not name ("one" in lower case: "Formula One" names one)
_ONE = regex.compile(r"(?:(?i:the|that|this|a|an|another)\s+)?(?:[\p{L}\p{N}-]+\s+){0,2}ones?"
                     r"|(?:\p{Han}{0,2}\p{Hiragana}{0,2}い|同じ|いつも|この|その|あの)の(?:やつ)?")
# what a request to translate says besides its language: "how do I say this (in Greek)",
# 「これ（イタリア語で）なんて言うの」
_ASKING_TO_TRANSLATE = regex.compile(
    rf"(?>\b(?:{_POINTERS_EN}|i|how|do|does|would|you|can|could|say|said|translate|in|into|"
    r"put|turn|below|above|following|"
    r"to|word|words|language|sentiment|tone|mood|label|classify|check|judge|analy[sz]e|"
    r"analysis|pls|plz)\b|"
    + _DOCUMENT.pattern + r"|なんて|何て|どう|言う|いう|言えば|訳す|訳して|翻訳|感情|判定|"
    r"分析|トーン|これ|それ|あれ|この|その|して|に|で|って|は|の|を|[\s\p{P}])*+",
    regex.IGNORECASE)
_N = r"[一二三四五六七八九十\d]+"
_FEW = r"the|a|an|this|that|these|those|my|our|your|some|for|of|to"
# a time, or a trip's length, said where a name goes
_WHEN_ONLY = regex.compile(
    rf"(?>{DAY.pattern}|\b(?:{_FEW}|morning|afternoon|evening|night|tonight|today|"
    r"tomorrow|weekend|week|weeks|month|year|day|days|nights|away|getaway|trip|"
    r"holiday|holidays|vacation|long|short|in|on|at|over|next|coming|early|late|mid|i['’]m|"
    r"im|i|we['’]re|we|have|having|heading|going|go|off|plan|plans|itinerary|only|just|"
    r"upcoming|gw|"
    r"minute|minutes|mins|min|hour|hours|hrs|\d+(?:-day|-night)?|"
    r"january|february|march|april|may|june|july|august|september|october|november|"
    r"december|spring|summer|autumn|fall|winter)\b"
    rf"|{_N}泊{_N}日|{_N}日間|{_N}泊|{_N}月|連休|週末|旅行|休み|ゴールデンウィーク|お盆|年末|"
    r"来月|今月|来週|今週|再来週|プラン|計画|行き|行く|行|観光地|観光情報|観光スポット|観光|見どころ|"
    r"所|とこ|ところ|先|"
    r"年始|正月|夏休み|冬休み|春休み|の|[\s\p{P}])*+", regex.IGNORECASE)
# who someone is, not their name: "the singer", 「女優さん」
_SOMEONE = regex.compile(
    rf"(?>\b(?:{_FEW}|singer|actor|actress|player|athlete|celebrity|person|guy|girl|"
    r"woman|man|artist|band|musician|author|writer|director|famous|popular|lead|main|star|"
    r"from|in|who|show|series|drama|movie|film|new|old|everyone['’]s|everyone|talking|about|"
    r"pop|footballer|soccer|rapper|comedian|idol|host|presenter|youtuber|influencer|"
    r"politician|chef|model)\b"
    r"|女優|俳優|歌手|選手|芸能人|有名人|アイドル|お笑い芸人|芸人|タレント|司会者|政治家|"
    r"人|さん|あの|その|ドラマ|映画|番組|に|で|出て|出てた|"
    r"てた|た|の|[\s\p{P}])*+", regex.IGNORECASE)
# What a call about a time is asked with, that a place is not: days and parts of the day,
# and the words of a weather question ("how *hot* will it be", 「明日の*最高気温*」)
_WHEN_OR_WEATHER = regex.compile(
    "(?>" + DAY.pattern + rf"|\b(?:{_POINTERS_EN}|morning|afternoon|evening|night|tonight|today|"
    r"tomorrow|weekend|week|month|year|right|later|soon|noon|midnight|day|days|hour|hours|"
    r"in|on|at|over|by|during|next|coming|and|or|weather|forecast|temperature|temp|high|low|"
    r"hot|cold|warm|cool|chilly|rain|rainy|raining|snow|snowy|snowing|sunny|sun|windy|wind|"
    r"storm|storms|stormy|icy|humid|degrees)\b"
    r"|最高気温|最低気温|気温|天気|予報|雨|雪|晴れ|暑い|寒い|何度|朝|昼|夜|夕方|午前|午後|"
    r"降る|降り|降|週末|今週|来週|今月|来月|連休|今|の|は|[\s\p{P}])*+",
    regex.IGNORECASE)


# A thing pointed at by what was said before, not named: "the place I told you about",
# "those things you recommended", "my cousin lives in", "the movie we watched last night".
# A generic head (or none), then a clause of a pronoun (or "my sister") and a verb of
# telling, showing or living. A value that starts with a verb of its own ("call the guy my
# mom sent") names a task, and stays.
_REFERENCE_VERBS = (
    r"mentioned|mention|told|tell|talked|talk|talking|said|say|recommended|suggested|"
    r"sent|showed|shared|asked|copied|pasted|wrote|watched|saw|seen|read|liked|loved|"
    r"found|posted|got|bought|ordered|visited|went|live|lives|lived|keeps|kept|was|were|"
    r"used|had|discussed|meant|looked")
_POINTED_BACK = regex.compile(
    r"(?:(?:the|that|those|this|these|a|an|some)\s+)?"
    r"(?:[\p{L}'’-]+\s+){0,2}?"
    r"(?:(?:that|which|who|where|whose)\s+)?"
    r"(?:i|i['’]ve|i['’]d|you|you['’]ve|we|we['’]ve|he|she|they|everyone|"
    r"(?:my|our|your|his|her|their)\s+[\p{L}'’-]+)\s+"
    r"(?:(?:just|already|always|once|recently|also)\s+)?"
    rf"(?:{_REFERENCE_VERBS})\b.*",
    regex.IGNORECASE | regex.DOTALL)
# the same, as a text to work on: only the bare clause ("i copied", "I mentioned")
_POINTED_BACK_TEXT = regex.compile(
    r"(?:i|you|we|she|he|they)\s+(?:just\s+)?(?:mentioned|copied|pasted|sent(?:\s+you)?|"
    r"showed(?:\s+you)?|shared|wrote\s+earlier)(?:\s+\S+){0,3}"
    r"|i['’]?m\s+(?:about|going)\s+to\s+(?:paste|send|share|forward)(?:\s+\S+){0,6}",
    regex.IGNORECASE)
# A place named only by whose it is: "my hometown", "near the office", "my cousin's city",
# 「実家」, 「彼女の地元」 (a weather request's own words after it: 「出張先の天気予報」)
_PERSONAL_PLACE = regex.compile(
    r"(?:(?:near|at|around|by|in|to|over\s+at)\s+)?"
    r"(?:the|my|our|his|her|their|your|(?:my|our|his|her|their)\s+[\p{L}-]+['’]s?)\s+"
    r"(?:(?:old|new|usual|family)\s+)?(?:home\s*town|hometown|home|house|place|cabin|cottage|"
    r"office|work|workplace|school|campus|city|town|village|apartment|flat|"
    r"neighbou?rhood|area|hood|parents['’]?\s+place)"
    r"|(?:[\p{Han}\p{Hiragana}\p{Katakana}]{1,4}の)?(?:実家|地元|職場|会社|自宅|出張先|旅行先|"
    r"勤務先|故郷|ふるさと)(?:の方|のほう)?(?:の?(?:天気予報|天気|予報))?",
    regex.IGNORECASE)
# an item that is only an amount of money ("under 50 dollars")
_MONEY_ONLY = regex.compile(
    r"(?:(?:under|below|less\s+than|around|about|max|up\s+to|for|within|budget)\s+)?"
    r"(?:[$€£¥]\s*)?\d[\d,.]*\s*(?:k|万|千)?\s*(?:dollars?|bucks|euros?|pounds?|yen|円|ドル|"
    r"usd|eur|jpy|gbp)?(?:\s+(?:or\s+less|max|tops))?", regex.IGNORECASE)


def _words(text: str) -> list[str]:
    return _WORDS.findall(nfkc(text).casefold())


# The request words above that people misspell ("transalte", "wether", "tomorow"): a word
# of a value one letter off one of these (a letter added, dropped, changed, or two swapped)
# is read as that word by the checks below, so a typo of the request is no value either.
_SPELT = frozenset((
    "translate", "translation", "language", "languages", "sentiment", "review", "message",
    "weather", "forecast", "temperature", "tomorrow", "tonight", "weekend", "morning",
    "afternoon", "evening", "purchase", "reorder", "something", "anything", "somewhere",
    "please", "celebrity", "actress", "singer", "vacation", "holiday", "getaway", "restock",
    "below", "itinerary", "heading", "whats"))
_SPELT_IN_ORDER = tuple(sorted(_SPELT))  # the first one off wins, the same one every time
_LATIN_WORD = regex.compile(r"[A-Za-z]{4,}")


def _one_off(word: str, known: str) -> bool:
    """Whether ``word`` is ``known`` with one letter added, dropped or changed, or two
    neighbours swapped (optimal string alignment distance 1)."""
    if word == known or abs(len(word) - len(known)) > 1:
        return False
    if len(word) == len(known):
        diff = [i for i, (a, b) in enumerate(zip(word, known, strict=True)) if a != b]
        return len(diff) == 1 or (len(diff) == 2 and diff[1] == diff[0] + 1
                                  and word[diff[0]] == known[diff[1]]
                                  and word[diff[1]] == known[diff[0]])
    short, long_ = sorted((word, known), key=len)
    return any(long_[:i] + long_[i + 1:] == short for i in range(len(long_)))


@functools.lru_cache(maxsize=1024)  # one value is read by several patterns in a row
def _respelt(said: str) -> str:
    """``said`` with each lower-case word one letter off a request word read as that word.
    A capitalised word is left as written: it may be a name ("The Weeknd")."""
    def fix(m: regex.Match[str]) -> str:
        word = m.group().casefold()
        if word in _SPELT or m.group()[0].isupper():
            return m.group()
        return next((known for known in _SPELT_IN_ORDER if _one_off(word, known)), m.group())

    return _LATIN_WORD.sub(fix, said)


def _full(pattern: regex.Pattern[str], said: str) -> bool:
    """``pattern`` matches all of ``said``, as written or with its misspelt request words
    read right."""
    if pattern.fullmatch(said):
        return True
    fixed = _respelt(said)
    return fixed != said and bool(pattern.fullmatch(fixed))


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
            _full(_ASKING_WORD, said) or _full(_POINTER_EN, said) or (
                message is not None and said.casefold() not in nfkc(message).casefold()))
    if not isinstance(role, Copied | Verbatim):
        return False
    if _full(_POINTER_EN, said) or _POINTER_JA.fullmatch(said):
        return True
    if isinstance(role, Copied) and (_full(_REQUESTED, said) or _ONE.fullmatch(said)
                                     or _POINTED_BACK.fullmatch(said)):
        return True
    if isinstance(role, Verbatim) and _POINTED_BACK_TEXT.fullmatch(said):
        return True
    if isinstance(role, Verbatim) and (_full(_DOCUMENT, said) or _full(_ASKING_WORD, said)):
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
            or _doubled(spec, name, arguments)
            # the model's copy of the request's own words (not a value the conversation gave)
            or (message is not None and (_names_nothing(spec, name, arguments)
                                         or _the_request_as_text(spec, name, arguments, message)))]


def _the_request_as_text(spec: FunctionSpec, name: str, arguments: Mapping[str, Any],
                         message: str) -> bool:
    """A text to work on that is the request itself, less its language ("how do I say this
    in Greek?" -> text "I say this in Greek", 「このレビューの感情を判定して」): no text was
    given. A text the message quotes is given, whatever its words ("how do you say 'I do'
    in French")."""
    value = arguments.get(name)
    if not isinstance(value, str) or not isinstance(spec.roles.get(name), Verbatim):
        return False
    if any(nfkc(value).strip() in quoted for quoted in quotations(nfkc(message))):
        return False
    languages = [v for f, v in arguments.items() if f != name and isinstance(v, str)
                 and isinstance(spec.roles.get(f), Language) and v.strip()]
    rest = nfkc(value)
    for language in languages:
        rest = regex.sub(regex.escape(nfkc(language)), " ", rest, flags=regex.IGNORECASE)
    return _full(_ASKING_TO_TRANSLATE, rest.strip())


def _names_nothing(spec: FunctionSpec, name: str, arguments: Mapping[str, Any]) -> bool:
    """A name (a place, a person, a thing) written with nothing but when ("weekend away",
    「連休」, 「三泊四日」) or what someone does ("the singer", 「女優さん」), or, in a call about
    a time (one with a When field: a weather request), with nothing but when and how the
    weather is ("this afternoon", "hot", 「明日の最高気温」): the request's words, no name."""
    value = arguments.get(name)
    if not isinstance(value, str) or not isinstance(spec.roles.get(name), Copied):
        return False
    said = nfkc(value).strip()
    if _full(_WHEN_ONLY, said) or _full(_SOMEONE, said):
        return True
    if _PERSONAL_PLACE.fullmatch(said) or _MONEY_ONLY.fullmatch(said):
        return True
    if not any(isinstance(role, When) for role in spec.roles.values()):
        return False
    return _full(_WHEN_OR_WEATHER, said)


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
