"""Several requests in one message: "What's the weather in Kyoto tomorrow, and remind me
to pack an umbrella at 8pm", 「明日の京都の天気を教えて、8時に傘をリマインドして」.

The router model writes one call a message, so the message is cut where a second request
starts: a joining word ("and", "then", "also", "plus", 「それと」, 「あと」, or a comma after a
Japanese request form such as 「教えて」) followed by words that open a request ("remind",
"what", "who", "translate", "give", "is", ...). Each piece is routed on its own, the later
ones with the earlier piece and its call as history, so "and what about Osaka?" inside one
message still goes on from the first call (funcgemma.followups). "remind me to buy bread
and milk" is one request: "milk" opens nothing, and the message is not cut.
"""

from __future__ import annotations

import regex

_OPENS_EN = (r"remind|set|add|schedule|translate|tell|give|show|check|find|buy|order|get|"
             r"plan|suggest|recommend|label|rate|look|what(?:'s|s)?|who(?:'s|s)?|how|where|"
             r"when|which|is|are|will|does|do|can|could|would|please|i\s+(?:need|want)|"
             r"i'd\s+like")
_CUT_EN = regex.compile(
    r"(?:\s*[,;]\s*|\s+)(?:and(?:\s+then|\s+also)?|then|also|plus)\s+"
    rf"(?=(?:also\s+|then\s+|please\s+)?(?:{_OPENS_EN})(?![\p{{L}}]))", regex.IGNORECASE)
# a comma before an imperative ("Tell me about Lady Gaga, find her latest album")
_IMPERATIVE_EN = r"remind|set|add|translate|tell|give|show|check|find|buy|order|get|plan|label"
_CUT_COMMA_EN = regex.compile(rf"\s*[,;]\s*(?=(?:{_IMPERATIVE_EN})(?![\p{{L}}]))",
                              regex.IGNORECASE)
_CUT_JA = regex.compile(
    r"(?<=(?:て|して|ください|下さい|教えて|たい|か|[？?]))[、,。]\s*(?:それと|それから|ついでに)?[、,]?\s*"
    r"|(?<=[？?。、,])\s*(?:それと|それから|ついでに|あと(?=[、,]))[、,]?\s*")
# a Japanese piece is a request when it ends as one (「…教えて」「…して」「…たい」「…？」)
_JAPANESE = regex.compile(r"\p{Han}|\p{Hiragana}|\p{Katakana}")
_ASKS_JA = regex.compile(r"(?:て|ください|下さい|たい|か|[？?])[。!！]?$")
MIN_CHARS = 6  # a piece shorter than this is no request of its own
MAX_PIECES = 3
MAX_CHARS = 600  # a longer message is a text to work on, not a list of requests


def pieces(text: str) -> list[str]:
    """``text`` cut into the requests it makes, in order; one piece when it makes one."""
    if len(text) > MAX_CHARS:
        return [text]
    parts = [text]
    for cut in (_CUT_EN, _CUT_COMMA_EN, _CUT_JA):
        parts = [p for part in parts for p in cut.split(part)]
    parts = [p.strip(" \t,、。;") for p in parts if p and p.strip(" \t,、。;")]
    if len(parts) < 2 or len(parts) > MAX_PIECES or any(len(p) < MIN_CHARS for p in parts):
        return [text]
    if any(_JAPANESE.search(p) and not _ASKS_JA.search(p) for p in parts):
        return [text]
    return parts


__all__ = ["pieces"]
