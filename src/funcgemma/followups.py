"""Follow-ups: a message that leaves out what the call before it gave.

"What's the weather in Kyoto tomorrow?" then **"and in Osaka?"** asks for the weather in
Osaka tomorrow; 「明日は？」 after it, for Kyoto tomorrow; **"at 6"** after "Remind me to
call mom" (which had no time, so the reminder asked "When?") gives the reminder its time;
"no, I meant Osaka" corrects the place. Each is a *fragment*: a connective or a
correction ("and", "what about", 「じゃあ…は？」, "no, I meant") around one value, or a bare
time. The value goes into the field of the previous call that takes it, by the field's role
(funcgemma.roles): a time into its ``When`` field, a language into its ``Language`` field,
anything else into its first ``Copied`` field; the previous call's other arguments are
kept. The router model is not asked: it was trained on single messages and reads "and
tomorrow?" as a reminder for "tomorrow".

Only the call of the turn right before counts. A fragment with no call to follow is left
to the router as any message is (and a reminder for "what about tomorrow?" names nothing,
so none is made: schedule_reminder.names_nothing). A fragment that names a topic ("and the
weather?") is not a value: it is routed as a new message.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal, get_args

import regex

from .registry import FunctionRegistry, FunctionSpec
from .repair.day import DAY
from .repair.language import mentions
from .repair.number import NUMBER_WORDS, stated_numbers
from .roles import Amount, Copied, Days, Language, Verbatim, When
from .text import nfkc
from .types import Call, Message

# what may open a fragment: acknowledging (only ever before one of the others), joining,
# asking about another value, correcting
_ACK_EN = (r"ok(?:ay)?|so|oh|hmm+|well|wait|great|cool|nice|thanks|thank\s+you|alright|"
           r"right|got\s+it|oops|whoops|ah|err|yeah|yes")
_JOIN_EN = (r"and|also|then|but|actually|no|nope|sorry|maybe|perhaps|let'?s\s+say|say|another|"
            r"one\s+more|not\s+that|what\s+about|how\s+about|what\s+if|i\s+meant|i\s+mean|"
            r"i\s+said|make\s+(?:it|that)|change\s+(?:it|that)\s+to|rather|instead|wait|"
            r"hold\s+on|again|oops|my\s+bad|"
            r"i\s+(?:might|may|will|'ll|could)\s+(?:only\s+)?(?:have|get)|"
            r"(?:i\s+|we\s+|(?:our|my)\s+\w+\s+)?(?:needs?|wants?|'ll\s+take|will\s+take|take)"
            r"(?=\s+\S+\s+(?:of\s+(?:them|those|these)|"
            r"pairs?|packs?|bags?|boxes|cans|bottles))|"
            r"(?:i\s+(?:might|could|will|'ll|may)\s+)?"
            r"(?:stretch|extend|cut|bump|change|up|push)\s+(?:it|that)(?:\s+(?:up|down|back))?"
            r"\s+to|(?:what\s+if\s+|if\s+)?i\s+(?:only\s+)?(?:have|had|got)|"
            r"i\s+might\s+(?:do|go\s+for)|only|just|"
            r"(?:can|could|would)\s+you\s+(?:(?:also|please)\s+)?(?:do|try|check|look\s+up|get)"
            r"(?:\s+the\s+same(?:\s+thing)?\s+for)?|do\s+the\s+same\s+for|same\s+for|"
            r"what(?:'s|\s+is|\s+will)\s+it\s+(?:be\s+)?(?:looking\s+)?like|how\s+does\s+it\s+look|"
            r"how(?:'s|\s+is)\s+it\s+looking|what(?:'s|\s+is)\s+it\s+doing|"
            r"same\s+(?:sentence|text|one|thing|phrase|message|words)\s+but(?:\s+in)?|"
            r"it'?s(?=\s+only\b)")
_ACKS = regex.compile(rf"^(?:\s*(?:{_ACK_EN})(?![\p{{L}}\p{{N}}])[\s,.!:;-]*)+",
                      regex.IGNORECASE)
_LEAD = regex.compile(rf"^(?:\s*(?:{_JOIN_EN})(?![\p{{L}}\p{{N}}])[\s,.!:;-]*)+",
                      regex.IGNORECASE)
_LEAD_JA = regex.compile(r"^(?:\s*(?:じゃあ|じゃ|では|それなら|それと|あと|で|なら|いや|いいえ|"
                         r"違う|ちがう|そうじゃなくて|そうではなくて|訂正|"
                         r"(?:日数|日にち|日付|時間|名前|場所|数|個数)?を?間違えた|"
                         r"(?:打ち|書き|入力)間違い|すまん|わるい|悪い|"
                         r"ごめん(?:なさい)?|すみません|すいません|やっぱり|やっぱ|えっと|それを|"
                         r"あっ|ああ|あ(?=[、,])|おっと|"
                         r"(?:chigau|yappari|jaa|ja|sorenara|gomen|iya)(?![\p{L}]))[、,。!！\s]*)+",
                         regex.IGNORECASE)
# a connective that makes a message go on from something: with nothing before it to go on
# from, a fragment it opens is no request ("and in Osaka?", 「じゃあ3日間なら？」)
_CONNECTIVE = regex.compile(r"^(?:and|also|plus|then|what\s+about|how\s+about)(?![\p{L}\p{N}])"
                            r"|^(?:じゃあ|じゃ|それなら|それと|あと|で)(?=[、,\s]|\p{Han}|\p{Katakana}|\d)",
                            regex.IGNORECASE)
_PREPOSITION = regex.compile(r"^(?:in|for|at|on|to|into|by|from|around)\s+", regex.IGNORECASE)
# what may close one: "…は？", "…のほうは？", "…のこと", "…ですか", "… please", "… instead"
_TAIL = regex.compile(
    r"(?:\s*,?\s*(?:i\s+mean(?:t)?|i\s+said)(?:\s*,?\s*not\s+[\p{L}\p{N}]+)?"
    r"|\s*,\s*not\s+[\p{L}\p{N}]+"
    r"|(?:\s*,?\s*(?:please|pls|then|instead|too|again|now|as\s+well|also|actually|tbh|"
    r"though|tho|if\s+possible|my\s+bad|sorry|lol))+"
    r"|\s*,\s*(?:since|because|cause|cuz|as)\s[^,]*"
    r"|(?:の方|のほう)(?:だった|でした|の間違い(?:でした|だった)?|です)"
    r"|(?:の方|のほう)?(?:は|わ)(?:どう|どうですか|どうでしょう|どうかな)?|の方|のほう"
    r"|(?:だと|だったら|なら)(?:どう)?|あったら|あれば"
    r"|(?:の方|のほう)?も(?:お願い(?:します)?|見て(?:もらえますか|くれる|ください)?)?"
    r"|の間違い(?:でした|だった)?|だった|お願い(?:します)?"
    r"|のこと|です|だよ|で(?:お願い)?(?:します)?|でも(?:お願い)?(?:します)?|に|へ|まで|から"
    r"|に(?:して|変えて)(?:ください|もらえますか|くれる|ほしい)?"
    r"|に(?:増やし|減らし|延ばし|伸ばし|短くし)(?:たら|て)(?:どう)?"
    r"|(?:版|バージョン)?も(?:いただけますか|もらえますか|お願いできますか|ください)"
    r"|のこと(?:が)?(?:聞きたかった|知りたかった|でした)|でした"
    r"|\s+(?:is|would\s+be|works|sounds)\s+better(?:\s*[,.;].*)?"
    r"|\s+no\s+hou|\s+ni\s+shitara(?:\s+dou(?:\s+naru)?)?"
    r"|(?:だと|だったら|なら)どう(?:なりますか|なる|ですか|でしょう(?:か)?)"
    r"|(?:の方|のほう)?も見て(?:もらえる|もらえますか|もらえない|くれない)"
    r"|\s+(?:wa|de|dattara|nara)(?:\s+dou)?|\s+ni\s+mo|\s+mo"
    r"|\s+de\s+mo(?:\s+onegai)?|\s+(?:mo\s+)?onegai(?:\s+shimasu)?"
    r"|[、,]?\s*も?同じ(?:日数|日程|予算|時間|日|言語)で?"
    r"|\s*,?\s*(?:for\s+|with\s+)?the\s+same\s+(?:days|dates|time|budget|length|"
    r"number\s+of\s+days)"
    r")?[\s?？.。!！…]*$", regex.IGNORECASE)
_ASKS = regex.compile(r"[?？]\s*$")
# 「AじゃなくてB」: a correction, B the value
_INSTEAD_WORDS = r"(?:じゃなくて|ではなくて|じゃなく)"
_INSTEAD_JA = regex.compile(r"^[^、,。\s]{1,12}?" + _INSTEAD_WORDS + r"[、,\s]*")
# an assistant's reply that asks the user for something: a question, or a request to give
# it ("Which text? Paste it here.", "Paste the text and I'll tell you its tone.")
_ASKED = regex.compile(r"[?？]|\b(?:paste|send\s+me|tell\s+me|type|give\s+me|let\s+me\s+know)\b"
                       r"|貼って|教えて|入力して|送って", regex.IGNORECASE)
# words before an answer that are not part of it: "maybe Kyoto", "to stretch", "um, the red one"
_ANSWER_LEAD = regex.compile(r"^(?:\s*(?:maybe|perhaps|probably|i\s+think|um+|uh+|well|just|"
                             r"it'?s|to)(?![\p{L}\p{N}])[\s,.:;-]*)+", regex.IGNORECASE)
_ANSWER_MAX_WORDS = 8
# what answers no question: a greeting, thanks, yes/no, or letting it go
_NO_ANSWER = regex.compile(
    r"(?:(?:hi|hello|hey|thanks?|thank\s+you|ok(?:ay)?|yes|yeah|no|nope|never\s*mind|"
    r"forget\s+it|cancel|stop|bye|nothing|こんにちは|ありがとう|はい|いいえ|やめて|やっぱり"
    r"いい|キャンセル|なんでもない)[\s\p{P}]*)+", regex.IGNORECASE)
# a tail that asks about the value or says which one ("…は", "…なら", "… please"); not
# one that only ends a statement ("…です", "…のこと")
_ASKS_JA = regex.compile(r"は|わ|なら|だったら|だと|も|あったら|あれば|だった|の間違い|"
                         r"に(?:して|変えて)|でも|お願い|please|pls|instead|too|as\s+well|also|"
                         r"dattara|nara|\sni\s+mo|\smo\b|actually|tbh|my\s+bad|onegai|同じ|"
                         r"the\s+same|better|いただけますか|もらえますか|ください|"
                         r"聞きたかった|増やし|減らし|延ばし|\sno\s+hou|shitara|見て|"
                         r"i\s+mean|i\s+said|,\s*not\s|"
                         r"\swa\b",
                         regex.IGNORECASE)
# a value names one thing: no verb, no question word, no topic of its own
_NOT_A_VALUE = regex.compile(
    r"(?<![\p{L}\p{N}])(?:remind|reminder|set|translate|translation|tell|find|search|buy|order|"
    r"show|give|get|book|check|look|is|are|was|were|will|do|does|did|can|could|would|should|"
    r"want|need|like|have|has|make|it|that|this|he|she|they|them|him|her|you|me|i|we|"
    r"who|why|how|what|when|where|which|weather|forecast|temperature|rain|price|trip|travel|"
    r"guide|thanks?|thank\s+you|yes|yeah|yep|great|cool|nice|good|bad|fine|sure|right|"
    r"really|lol|hi|hello|bye|ok|okay|perfect|awesome|kindly|much|very|so|lot|too)"
    r"(?![\p{L}\p{N}])"
    r"|天気|予報|気温|雨|リマインド|翻訳|値段|旅行|観光|ありがとう|了解|して|する|したい|ます|"
    r"完璧|最高|すごい|いいね|はい|大丈夫|よろしく|どうも|"
    r"ください|教えて|何|なに|誰|だれ|どこ|いつ|なぜ|どう",
    regex.IGNORECASE)
# a time (of day, a day, a span from now) and the words that may stand around one
_TIME = regex.compile(
    r"(?<![\p{L}\p{N}])(?:\d{1,2}\s*-?\s*ji(?:\s*han|\s*\d{1,2}\s*-?\s*fun)?|ashita|asatte|"
    r"kyou|konban|kon'?ya|kesa|raishuu|konshuu(?:matsu)?|shuumatsu|yoru|asa|hiru|yuugata|"
    r"gogo|gozen)(?![\p{L}])|" +
    DAY.pattern + r"|(?<![\p{L}\p{N}])(?:\d{1,2}(?::\d{2})?\s*(?:am|pm|a\.m\.|p\.m\.|h)?|"
    r"noon|midnight|morning|afternoon|evening|night|tonight|later|"
    r"in\s+(?:\d+|an?|half\s+an|a\s+few|a\s+couple\s+of)\s*(?:min(?:ute)?s?|hours?|hrs?|days?)|"
    r"the\s+day\s+after(?:\s+tomorrow)?|(?:the\s+)?\d{1,2}(?:st|nd|rd|th)|"
    r"(?:this|next)\s+(?:morning|afternoon|evening|week|month))(?![\p{L}\p{N}])"
    r"|\d{1,2}時(?:\d{1,2}分|半)?|\d+分後|\d+時間後|朝|昼|夕方|夜|午前|午後|今夜|今晩"
    r"|(?:今|来|再来)?週末|(?:今|来|再来)週|しあさって|明明後日",
    regex.IGNORECASE)
_TIME_FILLER = regex.compile(r"(?<![\p{L}])(?:at|on|in|for|by|around|about|o'?clock|the|it'?s|"
                             r"there)(?![\p{L}])"
                             r"|[のにでごろ頃]|[\s,、.。]", regex.IGNORECASE)
_MAX_WORDS = 3
_MAX_JA_CHARS = 12
_NAMED = regex.compile(r"[\p{L}\p{N}]")
# a Japanese value is a name (kanji, katakana): hiragana other than の is grammar, a
# sentence ("金曜は傘いるかな")
_GRAMMAR_JA = regex.compile(r"[\p{Hiragana}--[の]]", regex.V1)


Kind = Literal["time", "days", "number", "name", "text", "money", "task"]


@dataclass(frozen=True)
class Fragment:
    """What a fragment says: its value, as written (a number as a number), and its kind: a
    time, a length in days, a count, a name (a place, a person, an item, a language), a
    text to work on (quoted, or after "this one:"), or an amount of money. ``time``: a time
    given with a name ("Porto on Sunday"); ``currency``: the ISO code of a money amount."""

    value: str | int | float
    kind: Kind
    time: str | None = None
    currency: str | None = None
    # the value it corrects, when it says it ("180 not 200", 「2枚じゃなくて3枚」)
    replaces: str | None = None


# a quoted text: '…', "…", “…”, 「…」, 『…』
_QUOTED = regex.compile(r"(?:(?<![\p{L}\p{N}])'(?P<q>[^'\n]{1,300})'(?![\p{L}\p{N}])"
                        r"|\"(?P<q>[^\"\n]{1,300})\"|“(?P<q>[^”\n]{1,300})”"
                        r"|「(?P<q>[^」\n]{1,300})」|『(?P<q>[^』\n]{1,300})』)")
# all that may stand around a quoted text in a follow-up: "and '…'?", 「「…」も」, "this one too"
_AROUND_QUOTE = regex.compile(
    r"(?:and|also|then|now|plus|what\s+about|how\s+about|this\s+one|this|one\s+more|ok(?:ay)?|"
    r"(?:can|could)\s+you\s+do|do|try|next|last\s+one|the\s+last\s+one|[—–]|"
    r"too|as\s+well|again|please|pls|what\s+about\s+this|no|nope|wait|sorry|oops|actually|"
    r"i\s+meant|i\s+mean|instead|これは|これも|これ|それも|あと|もう一つ|もうひとつ|いや|"
    r"ごめん|の方|のほう|を?お願い(?:します)?|も|は|[\s?？.。!！:：,、…])*", regex.IGNORECASE)
# "this one: …", "and this: …", 「もう一つ：…」: a text to work on after it
_TEXT_LEAD = regex.compile(
    r"^(?:[^:：\n,、]{1,25}[,、]\s*)?"  # "wrong paste, this one: …", "no, just the last part: …"
    r"(?:(?:and|also|then|now|plus|ok(?:ay)?)[\s,]+)*(?:this\s+one|this|that\s+one|"
    r"the\s+next\s+one|next\s+one|next|last\s+one|one\s+more|another\s+one|(?:what|how)\s+about|"
    r"(?:just|only)\s+(?:the\s+)?(?:last|first|second|end|middle)\s+"
    r"(?:part|bit|sentence|line|half))(?:\s+too)?\s*[:：]\s*"
    r"|^(?:[^:：\n]{1,25}[。.!！]\s*)?(?:じゃあ|じゃ|では|それと|で)?[、,\s]*"
    r"(?:もう一つ|もうひとつ|次|これ|これは|こっちは|こっち|こちら|あと|こっちです|こちらです|"
    r"これです)\s*[?？]?\s*[:：]\s*", regex.IGNORECASE)
# an amount of money said alone: "under $80 though", "max 250 bucks", 「予算は1万円で」
_WORD = r"(?<![\p{{L}}])(?:{})(?![\p{{L}}])"
_CURRENCY = tuple((code, regex.compile(symbols + "|" + _WORD.format(words), regex.IGNORECASE))
                  for code, symbols, words in (
                      ("USD", r"\$|ドル", r"us\s*dollars?|dollars?|bucks|usd"),
                      ("EUR", r"€|ユーロ", r"euros?|eur"),
                      ("GBP", r"£|ポンド", r"pounds?|quid|gbp"),
                      ("JPY", r"¥|円", r"yen|jpy")))
_MONEY_WORDS = regex.compile(
    r"(?<![\p{L}])(?:under|below|less\s+than|max(?:imum)?|tops|up\s+to|around|about|"
    r"budget(?:'?s|\s+is|\s+of)?|at\s+most|no\s+more\s+than|though|tho|or\s+less|like)(?![\p{L}])"
    r"|(?:if\s+i\s+|let'?s\s+|can\s+you\s+|could\s+you\s+)?(?:raise|lower|increase|"
    r"bump|drop|change|set|put|keep)(?:\s+(?:it|that|the\s+budget|the\s+price|my\s+budget))?"
    r"(?:\s+(?:up|down))?(?:\s+to)?|the\s+budget|budget'?s|budget|to|and|what\s+if|each"
    r"|予算|以内|以下|くらい|ぐらい|位|まで|で|は|の|を|に(?:上げ|下げ|変え|し)(?:たら|て)?(?:どう)?"
    r"|[\s,、.。!！?？~〜]", regex.IGNORECASE)
# a budget said with a verb of changing it, no currency: the call's own is kept
_BUDGET_TO = regex.compile(
    r"^(?:(?:and\s+)?(?:what\s+)?if\s+i\s+|i(?:'ll|\s+will|\s+could)?\s+|let'?s\s+|"
    r"(?:can|could)\s+you\s+)?"
    r"(?:(?:could|can)\s+we\s+)?"
    r"(?:raise|lower|increase|bump|drop|change|set|up|push)\s+(?:the\s+|my\s+)?"
    r"(?:budget|price\s+limit|limit)(?:\s+(?:up|down))?\s+to\s+"
    r"(?P<n>\d+(?:,\d{3})*(?:\.\d+)?)(?:\s+(?:each|apiece|per\s+\w+))?\s*[?？.!]*$",
    regex.IGNORECASE)


_WORDS = {w: n for n, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve".split())}
_KANJI = {c: n for n, c in enumerate("〇一二三四五六七八九十")}
_DAYS = regex.compile(r"^(\d{1,3}|[一二三四五六七八九十]{1,2}|" + "|".join(_WORDS) +
                      r")\s*(?:-?\s*days?|nights?|日間|日|泊|-?\s*(?:ka|nichi)kan)(?:の\p{Katakana}+|\s+(?:trip|plan))?$",
                      regex.IGNORECASE)
_NUMERAL = r"(\d{1,4}|[一二三四五六七八九十]{1,2}|" + "|".join(_WORDS) + ")"
_UNITS = r"個|つ|本|枚|台|冊|箱|足|パック|packs?|pieces?|of\s+(?:them|those|these)|units?"
_COUNT = regex.compile(rf"^{_NUMERAL}\s*(?:{_UNITS}"
                       r"|(?!days?\b|nights?\b|hours?\b|min)[a-z]{2,12}s)?$",
                       regex.IGNORECASE)


# a count with a unit of its own (not a bare number, which could be anything)
_COUNTED = regex.compile(rf"^{_NUMERAL}\s*(?:{_UNITS})$", regex.IGNORECASE)
# who a name is to the one before ("her sister Venus Williams"): not part of the name
_RELATION = regex.compile(
    r"^(?:his|her|their|my|the)\s+(?:(?:older|younger|big|little|twin)\s+)?(?:sister|"
    r"brother|wife|husband|partner|son|daughter|mother|father|mom|dad|co-?star|bandmate|"
    r"teammate|rival|ex)\s+(?=\p{Lu})", regex.IGNORECASE)
# a correction's tail: a Japanese name written partly in kana is still a name
_CORRECTED_JA = regex.compile(r"(?:の間違い(?:でした|だった)?|(?:の方|のほう)だった"
                           r"|のこと(?:が)?(?:聞きたかった|知りたかった))[\s。.!！]*$")
_MAX_NAME_WORDS = 5
_NAME_PARTICLES = frozenset("de da do das dos del della di du la le van von der of the y".split())


def _number(word: str) -> int:
    if word.isdigit():
        return int(word)
    if word.lower() in _WORDS:
        return _WORDS[word.lower()]
    if len(word) == 2 and word[0] == "十":  # 十二
        return 10 + _KANJI[word[1]]
    if len(word) == 2 and word[1] == "十":  # 二十
        return 10 * _KANJI[word[0]]
    return _KANJI[word]


def _is_time(value: str) -> bool:
    rest = _TIME_FILLER.sub(" ", _TIME.sub(" ", value))
    return bool(_TIME.search(value)) and not _NAMED.search(rest)


# "sorry autocorrect, i meant Marseille": what comes before "I meant" is not the value
_MEANT = regex.compile(r"^[^\n]{0,40}?(?:[,.;!]\s*|\s)(?:i\s+meant|i\s+mean|meant)\s+(?=\S)",
                       regex.IGNORECASE)
# "yikes. what about Tucson": a word said alone before a fragment
_EXCLAIM = regex.compile(r"^\s*(?:yikes|wow|whoa|brr+|ugh|damn|dang|oof|yay|sweet|lovely|"
                         r"perfect|awesome|geez|jeez|ooh|oh\s+no|oh\s+wow|hmm+|"
                         r"うわ(?:ー|っ)?|わあ|へえ|なるほど|いいね|了解)[.!！。]+\s*",
                         regex.IGNORECASE)


_SAME_TIME = regex.compile(
    r"^(?:and\s+|also\s+|plus\s+)*(?:add\s+)?(?:(?:one|another(?:\s+one)?)\s+(?:more\s+)?"
    r"(?:to|for)\s+)(?P<v>.{2,60}?)(?:\s+too)?\s*,?\s*(?:(?:at|for)\s+the\s+)?same\s+time"
    r"[\s.!?]*$"
    r"|^(?:あと|それと)?[、,]?\s*同じ時間に[、,]?\s*(?P<v>.{2,30}?)(?:の|こと)?も(?:お願い)?"
    r"(?:します)?[\s。.!！]*$", regex.IGNORECASE)


# "not friday, thursday noon": the old value first
_NOT_FIRST = regex.compile(r"^not\s+[^,、]{1,25}[,、]\s*", regex.IGNORECASE)
# "… not euros" at the end: the old value last
_NOT_LAST = regex.compile(r"(?:\s*,)?\s+not\s+[\p{L}\p{N}]+(?:\s+[\p{L}\p{N}]+)?[\s.!]*$",
                          regex.IGNORECASE)
# "2 pairs actualy, one for my brother": a count, then why
_COUNT_WHY = regex.compile(r"^(?P<c>(?:\d{1,4}|" + "|".join(_WORDS) + r")(?:\s+[a-z]{2,12})?)"
                           r"(?:\s+(?:actually|actualy|acutally|instead|then|tbh))?"
                           r"\s*[,;]\s*[^\d,;]{0,60}$", regex.IGNORECASE)
# "is Abu Dhabi any better": another value, compared
_ANY_BETTER = regex.compile(r"^(?:is|are|would|and)\s+(?:it\s+)?(?:in\s+)?(?P<v>.{2,40}?)\s+any\s+"
                            r"(?:better|different|warmer|colder|cheaper|nicer|drier)[\s?？.!]*$",
                            regex.IGNORECASE)
# a quoted text after a correction ("I pasted the wrong one, it's \"…\"")
_WRONG_ONE = regex.compile(r"wrong|mistake|meant|typo|pasted|間違|貼り", regex.IGNORECASE)


# the value a correction says it replaces: "180 not 200", "not friday, …", 「2枚じゃなくて」
_REPLACED = regex.compile(
    r"(?:^|[\s,、])not\s+(?P<old>[\p{L}\p{N}$€£¥.]+(?:\s+[\p{L}\p{N}]+)?)\s*(?:[,、]|[\s.!]*$)"
    r"|(?P<old>[^、,。\s]{1,12}?)" + _INSTEAD_WORDS, regex.IGNORECASE)


def fragment(text: str, *, answering: bool = False) -> Fragment | None:
    """The value a fragment gives, or None for a message that is not one. ``answering``:
    the message answers a question the assistant asked, so a bare value ("Kyoto", "at
    6") is one. A correction that names the value it replaces says so (``replaces``)."""
    found = _fragment(text, answering=answering)
    if found is None:
        found = _with_reason(text, answering=answering)
    if found is None or not (old := _REPLACED.search(nfkc(text))):
        return found
    return replace(found, replaces=old.group("old").strip())


# a value and why, split at the last comma: "Tuesday at 10am, Monday's a holiday",
# 「木曜だ、木曜の夜9時で」
_LAST_COMMA = regex.compile(r"^(?P<head>.{2,60})[,、]\s*(?P<tail>[^,、]{2,60})$")
# what only points at a value ("the other one", "same time"): not one
_POINTER = regex.compile(r"(?:the\s+)?(?:other|same|that|this)(?:\s+(?:one|time|day|place|thing))?",
                         regex.IGNORECASE)


def _lead(text: str) -> regex.Match[str] | None:
    """What opens ``text`` as a follow-up or a correction: "sorry autocorrect, I meant",
    "and", "make it", 「いや」."""
    return _MEANT.match(text) or _LEAD.match(text) or _LEAD_JA.match(text)


def _with_reason(text: str, *, answering: bool) -> Fragment | None:
    """The value of a fragment said with a reason beside it: the part after the last comma
    when it is a fragment of its own (Japanese puts the value last), else the part before
    it ("it's only 4 days, my flight got changed"). A text to work on is never cut."""
    said = nfkc(text).strip()
    if (acks := _ACKS.match(said)):
        said = said[acks.end():]
    # only a message that opens as a correction or a follow-up ("wait no, …", 「いや…」): a
    # request with a comma in it ("今週末、名古屋って雨降る？") is a request
    lead = _lead(said)
    split = _LAST_COMMA.match(said)
    if lead is None or split is None:
        return None
    tail = _fragment(split.group("tail"), answering=answering)
    if tail is not None and tail.kind in ("time", "days", "number", "money"):
        return tail  # 「木曜だ、木曜の夜9時で」: the value last
    head = _fragment(split.group("head"), answering=answering)
    if (head is not None and head.kind != "text"
            and not _POINTER.fullmatch(str(head.value))):
        return head  # "it's only 4 days, my flight got changed": the value first
    return None


def _fragment(text: str, *, answering: bool) -> Fragment | None:
    text = nfkc(text).strip()
    if not text or "\n" in text:
        return None
    acks = _ACKS.match(text)  # "great, and in Nagoya?": stripped, but it joins nothing
    if acks:
        text = text[acks.end():]
    if (exclaimed := _EXCLAIM.match(text)) and text[exclaimed.end():].strip():
        text = text[exclaimed.end():]
    if (better := _ANY_BETTER.match(text)) and not _NOT_A_VALUE.search(better.group("v")):
        return Fragment(better.group("v").strip(), "name")
    if (said := _text_fragment(text, answering=answering)) is not None:
        return said
    if (same := _SAME_TIME.match(text)):  # a new task, the time of the call before
        return Fragment(same.group("v").strip(), "task")
    if len(text) > 80:
        return None
    lead = _lead(text)
    body = text[lead.end():] if lead else text
    if (old := _NOT_FIRST.match(body)) and body[old.end():].strip():
        body, lead = body[old.end():], lead or old
    body = _NOT_LAST.sub("", body) if lead else body
    if ((why := _COUNT_WHY.match(body)) and (counted := _COUNT.match(why.group("c")))
            and not any(p.search(why.group("c")) for _, p in _CURRENCY)):
        return Fragment(_number(counted.group(1)), "number")
    if (said := _money(body)) is not None:
        return said
    if (instead := _INSTEAD_JA.match(body)):  # 「高山じゃなくて白川郷」: the new value
        body, lead = body[instead.end():], lead or instead
    tail = _TAIL.search(body)
    core = body[:tail.start()] if tail else body
    # it asks ("…?", 「…は？」, 「…なら」) or says which value ("… please", 「…にして」); a tail
    # that only ends a statement (「…です」) does not make a fragment
    closed = bool(_ASKS.search(text)) or bool(tail and _ASKS_JA.search(tail.group(0)))
    core = core.strip(" \t,、")
    if not core:
        return None
    if _is_time(core):  # "for Thursday" is Thursday ("at 6" keeps its "at": it says when)
        return Fragment(_when(core), "time")
    counted = _COUNTED.match(core)
    if counted:  # "two of them", 「4個で」: a count with its unit says which value
        return Fragment(_number(counted.group(1)), "number")
    if not (lead or closed or answering):  # "Osaka" alone is not a follow-up
        return None
    value = _PREPOSITION.sub("", core).strip()
    if _PREPOSITION.fullmatch(value + " "):  # "and in ?": call syntax set aside, nothing left
        return None
    # "Tallinn, same night?", "Wellington for the same day": what follows the value only
    # says the rest stays
    value = regex.split(r"\s*[,、]\s*(?=(?:same|too|also|as\s+well|again|同じ)\b)"
                        r"|\s+(?:for|on|at|in)\s+(?:the\s+)?(?=same\b)", value,
                        flags=regex.IGNORECASE)[0]
    value = regex.sub(r"^(?:a|an|some)\s+(?=\p{L})", "", value, flags=regex.IGNORECASE)
    value = _RELATION.sub("", value)
    for pattern, kind in ((_DAYS, "days"), (_COUNT, "number")):
        if (found := pattern.match(value)):
            return Fragment(_number(found.group(1)), kind)  # type: ignore[arg-type]
    words, when = value.split(), None
    for i in range(1, len(words)):  # "Porto on Sunday": a name, then a time
        if _is_time(" ".join(words[i:])):
            value, when = " ".join(words[:i]), _when(" ".join(words[i:]))
            break
    if not value or _NOT_A_VALUE.search(value):
        return None
    japanese = not regex.search(r"[\p{Latin}]", value)
    corrected = bool(tail and _CORRECTED_JA.search(tail.group(0))) and len(value) <= 8
    if japanese and (len(value) > _MAX_JA_CHARS or (_GRAMMAR_JA.search(value)
                                                    and not corrected)):
        return None
    # "Ho Chi Minh City": a name of capitalised words may be longer
    words = value.split()
    proper = words[0][:1].isupper() and all(w[:1].isupper() or w in _NAME_PARTICLES
                                            for w in words)
    if not japanese and len(words) > (_MAX_NAME_WORDS if proper else _MAX_WORDS):
        return None
    return Fragment(value, "name", time=when)


def _when(value: str) -> str:
    """A time as a value: "for Thursday" is Thursday, "it's Wednesday" Wednesday,
    "Tuesday there" Tuesday, "there on the 14th" the 14th."""
    value = regex.sub(r"^(?:for|it'?s)\s+|^there\s+(?:on\s+)?", "", value.strip(),
                      flags=regex.IGNORECASE)
    return regex.sub(r"\s+(?:there|then)$", "", value, flags=regex.IGNORECASE)


def _text_fragment(text: str, *, answering: bool) -> Fragment | None:
    """A text to work on given as a follow-up: one quoted text with only joining words
    around it ("and 'it was delicious'?", 「「おいしかったです」も」), or what follows "this
    one:" (the next review to label)."""
    if (lead := _TEXT_LEAD.match(text)) and (rest := text[lead.end():].strip()):
        if (whole := _QUOTED.fullmatch(rest)) is not None:
            rest = whole.group("q").strip()  # next: "…"
        return Fragment(rest, "text") if rest and len(rest) <= 300 else None
    quoted = list(_QUOTED.finditer(text))
    if len(quoted) != 1:
        return None
    around = (text[:quoted[0].start()] + " " + text[quoted[0].end():]).strip()
    after = text[quoted[0].end():].strip(" .。!！?？")
    if (not after and len(text[:quoted[0].start()]) <= 60
            and _WRONG_ONE.search(text[:quoted[0].start()])):
        value = quoted[0].group("q").strip()
        return Fragment(value, "text") if value else None
    if not _AROUND_QUOTE.fullmatch(around) or not (around or answering):
        return None  # a request of its own ("translate 'x' into French") is routed as one
    value = quoted[0].group("q").strip()
    return Fragment(value, "text") if value else None


# the amount itself: digits ("1,200", "2万", "5k"), kanji numerals, or spelt words
_AMOUNT = regex.compile(r"\d+(?:,\d{3})*(?:\.\d+)?\s*(?:万|千|k)?|[一二三四五六七八九十百千万]+"
                        r"|(?<![\p{L}])(?:" + "|".join(sorted(NUMBER_WORDS, key=len, reverse=True))
                        + r")(?![\p{L}])", regex.IGNORECASE)


def _money(body: str) -> Fragment | None:
    """An amount of money said alone, with its currency ("under $80 though", "max 250
    bucks", 「予算は1万円で」), or a budget changed to a number ("raise the budget to
    200": the call's currency stays): a new budget for the call before. ``body``: the
    message past its joining words."""
    if (to := _BUDGET_TO.match(body.strip())):
        return Fragment(float(to.group("n").replace(",", "")), "money")
    code = next((c for c, pattern in _CURRENCY if pattern.search(body)), None)
    numbers = stated_numbers(body)
    if code is None or len(numbers) != 1:
        return None
    rest = body
    for _, pattern in _CURRENCY:
        rest = pattern.sub(" ", rest)
    rest = _AMOUNT.sub(" ", rest)
    if _MONEY_WORDS.sub("", rest).strip(" -"):
        return None  # more than an amount: a request of its own
    return Fragment(float(numbers[0].value), "money", currency=code)


def previous_calls(history: Sequence[Message]) -> list[Call]:
    """The calls of the history's last turn that made any (small talk since does not
    end what a follow-up goes on from)."""
    calls: list[Call] = []
    for message in reversed(history):
        if message.role == "assistant" and message.tool_calls:
            calls = [*message.tool_calls, *calls]
        elif message.role == "user" and calls:
            break
    return calls


# a message that says what it leaves out stays as before: "in that range", "same budget",
# "for the same days", 「同じ予算で」, 「その値段で」
_SAME = regex.compile(
    r"(?<![\p{L}])(?:(?:the\s+)?same\s+(?:budget|price|range|time|day|days|date|dates|"
    r"length|place|city|amount|number|language)|in\s+that\s+(?:range|price\s+range|budget)|"
    r"(?:at|for)\s+that\s+(?:price|budget|time))(?![\p{L}])"
    r"|同じ(?:予算|値段|時間|日|日程|日数|場所|言語|数)|その(?:予算|値段|時間|日程)",
    regex.IGNORECASE)


def inherit(call: Call, text: str, history: Sequence[Message],
            registry: FunctionRegistry) -> Call:
    """``call`` with the values it leaves out taken from the last turn's call of the same
    function, when ``text`` says they stay the same ("hiking boots in that range?" after
    shoes under 120 euros: the budget is kept). Only values ``call`` lacks are taken; the
    result must validate, else ``call`` is returned as it is."""
    if not _SAME.search(nfkc(text)):
        return call
    for before in reversed(previous_calls(history)):
        if before.name != call.name:
            continue
        missing = {k: v for k, v in before.arguments.items() if k not in call.arguments}
        if not missing:
            return call
        merged = Call(name=call.name, arguments={**call.arguments, **missing})
        try:
            registry.get(call.name).params.model_validate(merged.arguments)
        except ValueError:
            return call
        return merged
    return call


def asked_back(history: Sequence[Message]) -> str | None:
    """The user's message the assistant answered with a question (the last turn), or
    None: "Remind me to call mom" -> "When should I remind you?"."""
    last_user = next((i for i in range(len(history) - 1, -1, -1)
                      if history[i].role == "user"), None)
    if last_user is None:
        return None
    replies = [m for m in history[last_user + 1:] if m.role == "assistant"]
    # "In Japanese: 「1時間いくらですか？」" quotes a question; it does not ask one
    if replies and _ASKED.search(_QUOTED.sub(" ", replies[-1].content)):
        return history[last_user].content
    return None


def names_one(value: str) -> bool:
    """Whether ``value`` reads as a name of its own (a place, a person, an item named
    with a capital, a number or in Japanese), not a verb, a pronoun or a question word
    ("stop", "I do"): what a piece of a message must give to be a request of its own."""
    value = nfkc(value).strip()
    if not value or _NOT_A_VALUE.search(value):
        return False
    return not regex.match(r"[a-z]", value)


def _takes_int(spec: FunctionSpec, field: str) -> bool:
    annotation = spec.params.model_fields[field].annotation
    return int in (get_args(annotation) or (annotation,))


def _field_for(spec: FunctionSpec, said: Fragment, missing_first: dict[str, Any] | None = None
               ) -> str | None:
    """The field of ``spec`` that takes the fragment's value, by role. ``missing_first``:
    the arguments so far; a name goes to a field they lack before any other."""
    roles = spec.roles
    if said.kind == "text":
        return next((f for f, r in roles.items() if isinstance(r, Verbatim)), None)
    if said.kind == "task":  # a new thing to do at the same time: only a function with a time
        if not any(isinstance(r, When) for r in roles.values()):
            return None
        return next((f for f, info in spec.params.model_fields.items() if info.is_required()
                     and isinstance(roles.get(f), Copied | Verbatim)), None)
    if said.kind == "money":
        return next((f for f, r in roles.items()
                     if isinstance(r, Amount) and not _takes_int(spec, f)), None)
    if said.kind == "time":
        return next((f for f, r in roles.items() if isinstance(r, When)), None)
    if said.kind == "days":
        return next((f for f, r in roles.items() if isinstance(r, Days)), None)
    if said.kind == "number":
        return next((f for f, r in roles.items()
                     if isinstance(r, Amount) and _takes_int(spec, f)), None)
    if mentions(str(said.value)) and (f := next(
            (f for f, r in roles.items() if isinstance(r, Language)), None)):
        return f
    required = [f for f, info in spec.params.model_fields.items() if info.is_required()]
    named = [f for f, r in roles.items() if isinstance(r, Copied | Verbatim)]
    order = [*required, *named]
    if missing_first is not None:
        order = [f for f in order if f not in missing_first] + order
    return next((f for f in order if f in named), None)


def follow(text: str, history: Sequence[Message], registry: FunctionRegistry, *,
           reroute: Callable[[str], list[Call]] | None = None) -> Call | None:
    """The call ``text`` asks for as a follow-up of the conversation, or None (not a
    fragment, nothing to follow, no field takes the value, or the arguments do not
    validate).

    An answer to a question back ("at 6" after "When should I remind you?") completes the
    call of the message that was asked about: the one the history holds, or, when the
    history has no call for that turn (an ask kept as text only), the call ``reroute``
    makes of that message again; the value goes to a field that call lacks first."""
    if _NO_ANSWER.fullmatch(nfkc(text).strip()):  # "never mind", "thanks!": no value at all
        return None
    asked = asked_back(history)
    said = fragment(text, answering=asked is not None)
    before = previous_calls(history)
    if (asked is not None and reroute is not None and not _turn_called(history)
            and (said is not None or not _ASKS.search(nfkc(text)))):
        # one more model call, only for what may answer a question about a message whose
        # call the history does not hold (a question of the user's own is a new request)
        before = reroute(asked)[:1] or before
    whole = said is None and asked is not None
    if whole and asked is not None and (answered := _answered(text, asked, before, registry)):
        return answered
    if whole:
        # the answer to "Which text?" is the text, whole: "Delivery took three weeks."
        said = Fragment(nfkc(text).strip(), "name")
    if said is None:
        return None
    for call in reversed(before):
        if call.name not in registry:
            continue
        spec = registry.get(call.name)
        field = _field_for(spec, said, call.arguments if asked is not None else None)
        if (said.replaces is not None
                and (named := _holding(spec, call.arguments, said.replaces)) is not None
                and isinstance(call.arguments[named], str) == isinstance(said.value, str)):
            field = named  # "I meant 180 not 200": the field that held 200
        given = said
        if field is None:
            field, given = _as_number(spec, said)
        if field is None or (whole and not isinstance(spec.roles.get(field), Verbatim)):
            continue
        arguments = {**call.arguments, field: given.value, **_alongside(spec, given)}
        try:
            spec.params.model_validate(arguments)
        except ValueError:
            continue
        return Call(name=spec.name, arguments=arguments)
    return None


def _holding(spec: FunctionSpec, arguments: dict[str, Any], old: str) -> str | None:
    """The field of ``arguments`` whose value is ``old`` (a number compared as a number,
    "200" with 200 and "200 euros"), when exactly one is."""
    numbers = stated_numbers(old)
    said = nfkc(old).casefold().strip()
    fields = [f for f, v in arguments.items() if f in spec.params.model_fields and (
        (isinstance(v, int | float) and not isinstance(v, bool) and len(numbers) == 1
         and float(numbers[0].value) == float(v))
        or (isinstance(v, str) and nfkc(v).casefold().strip() == said))]
    return fields[0] if len(fields) == 1 else None


def _as_number(spec: FunctionSpec, said: Fragment) -> tuple[str | None, Fragment]:
    """The field a number goes to where its own kind found none, and the fragment as that
    field reads it: a time that is only a bare number ("actually make it 40": a call that
    takes no time) is a count, and a count where the call takes none is a number of days
    ("stretch it to five" after a trip)."""
    if said.kind == "time" and isinstance(said.value, str) and said.value.strip().isdigit():
        said = Fragment(int(said.value.strip()), "number")
    if said.kind != "number":
        return None, said
    for kind in ("number", "days"):
        as_kind = replace(said, kind=kind)
        if (field := _field_for(spec, as_kind)) is not None:
            return field, as_kind
    return None, said


def _alongside(spec: FunctionSpec, said: Fragment) -> dict[str, Any]:
    """What a fragment gives besides its value: the time said with a name ("Porto on
    Sunday"), the currency of an amount ("under $80")."""
    out: dict[str, Any] = {}
    if said.time is not None and (f := next(
            (f for f, r in spec.roles.items() if isinstance(r, When)), None)):
        out[f] = said.time
    if said.currency is not None and "currency" in spec.params.model_fields:
        out["currency"] = said.currency
    return out


def leads_nowhere(text: str, history: Sequence[Message]) -> bool:
    """Whether ``text`` is a fragment that goes on from something ("and in Osaka?",
    「じゃあ3日間なら？」) with nothing before it to go on from: no request at all."""
    if previous_calls(history) or asked_back(history) is not None:
        return False
    said = nfkc(text).strip()
    if (acks := _ACKS.match(said)):
        said = said[acks.end():]
    found = fragment(text)
    # a time asked alone ("what about tomorrow?", 「明日は？」) asks about nothing
    return found is not None and (bool(_CONNECTIVE.match(said)) or (
        found.kind == "time" and bool(_ASKS.search(said))))


def _answered(text: str, asked: str, before: Sequence[Call], registry: FunctionRegistry
              ) -> Call | None:
    """The call before completed with ``text`` as the value it lacks (funcgemma.asking),
    when ``text`` answers the question back about it in more than a fragment ("to stretch
    before my run", "the reusable water bottles"). A question is a new request, not an
    answer; so is a long message for anything but a text to work on."""
    from . import asking  # asking reads the roles this module reads too

    answer = nfkc(text).strip()
    for call in reversed(before):
        if call.name not in registry:
            continue
        spec = registry.get(call.name)
        # a time goes to the time it lacks, anything else to the first other value
        fits = [f for f in asking.lacking(spec, call.arguments, asked)
                if isinstance(spec.roles.get(f), When) == _is_time(answer)]
        if not fits:
            continue
        field = fits[0]
        if isinstance(spec.roles.get(field), Verbatim):
            value = answer
        else:
            value = _ANSWER_LEAD.sub("", answer).strip().rstrip(".。!！")
            if (not value or _ASKS.search(answer) or "\n" in value
                    or len(value.split()) > _ANSWER_MAX_WORDS or len(value) > 80):
                return None
        arguments = {**call.arguments, field: value}
        try:
            spec.params.model_validate(arguments)
        except ValueError:
            return None
        return Call(name=spec.name, arguments=arguments)
    return None


def _turn_called(history: Sequence[Message]) -> bool:
    """Whether the history's last turn made a call."""
    for message in reversed(history):
        if message.role == "user":
            return False
        if message.role == "assistant" and message.tool_calls:
            return True
    return False


__all__ = ["Fragment", "asked_back", "follow", "fragment", "inherit", "leads_nowhere",
           "names_one", "previous_calls"]
