"""sentiment_label: label a text positive / negative / neutral / mixed, with a reason.

The label comes from a small bilingual lexicon so it is deterministic and explainable;
the chat model phrases the answer and may refine the reason."""

from __future__ import annotations

from typing import Annotated

import regex
from pydantic import BaseModel, Field

from ..messages import Said
from ..registry import FunctionSpec
from ..results import Done
from ..roles import Verbatim
from .context import FunctionContext

# English cues are whole words (so "late" does not fire inside "chocolate"); a negator
# up to three words before a cue flips it ("not bad" is positive, "not good" negative).
_EN_POSITIVE = frozenset((
    "love loved loves lovely great good excellent amazing awesome fantastic wonderful best "
    "happy glad enjoy enjoyed nice perfect delicious recommend recommended brilliant beautiful "
    "fun friendly helpful impressed superb pleasant cool thanks thank fast clean"
).split())
_EN_NEGATIVE = frozenset((
    "hate hated bad terrible awful worst horrible poor sad angry disappointed disappointing "
    "boring broken rude slow cold dirty expensive annoying useless waste problem problems "
    "refund late wrong sucks unhappy"
).split())
_EN_NEGATORS = frozenset((
    "not no never isn't wasn't aren't weren't don't doesn't didn't can't couldn't won't "
    "wouldn't hardly nothing"
).split())
# punctuation and "but" end a negator's reach: "I do not know. Great!" is positive
_EN_TOKEN = regex.compile(r"[a-z]+(?:'[a-z]+)?|[.!?,;:]")
_CLAUSE_END = frozenset(".!?,;:") | {"but"}
# Japanese has no spaces: match longest cues first and mask them, so 不満足 is one cue
# (not 不満 + 満足). I-adjectives are matched by stem in their common forms, and their
# negative forms (美味しくない) flip the cue, as do 〜じゃない / 〜ではない after a noun.
_JA_POSITIVE_ADJ = "美味し おいし 素晴らし 嬉し うれし 楽し 良 優し やさし".split()
_JA_NEGATIVE_ADJ = "まず ひど 悲し 悪 遅 高 つまらな 汚 うるさ 狭 痛".split()
_JA_POSITIVE = ("最高 好き 満足 感動 ありがとう 便利 快適 おすすめ オススメ 親切 丁寧 完璧 "
                "大好き 気に入 素敵 感謝 いい よかった").split()
_JA_NEGATIVE = ("最悪 嫌い 残念 不満足 不満 がっかり 失望 二度と 壊れ 怒 不便 不快 "
                "ダメ だめ 微妙 期待外れ 不親切 気に入らな よくな").split()
_JA_NOT = r"(?:じゃ|では)(?:ない|なかった)"


def _ja_patterns() -> list[tuple[regex.Pattern[str], str, bool]]:
    """(pattern, cue, positive) with negated forms first, longest cues first."""
    out: list[tuple[str, str, bool]] = []
    for words, positive in ((_JA_POSITIVE_ADJ, True), (_JA_NEGATIVE_ADJ, False)):
        for stem in words:
            out.append((rf"{stem}く(?:ない|なかった|なくて)", f"{stem}くない", not positive))
            out.append((rf"{stem}(?:い|かった|くて)(?!え)", f"{stem}い", positive))
    for words, positive in ((_JA_POSITIVE, True), (_JA_NEGATIVE, False)):
        for word in words:
            out.append((rf"{word}{_JA_NOT}", f"{word}じゃない", not positive))
            out.append((rf"{word}(?!え)", word, positive))
    out.sort(key=lambda item: -len(item[1]))
    return [(regex.compile(p), cue, pos) for p, cue, pos in out]


_JA_CUES = _ja_patterns()


def _english_cues(text: str) -> tuple[list[str], list[str]]:
    pos: list[str] = []
    neg: list[str] = []
    words = _EN_TOKEN.findall(text.casefold().replace("\u2019", "'"))
    negators_used: set[int] = set()
    for i, word in enumerate(words):
        positive = word in _EN_POSITIVE
        if not positive and word not in _EN_NEGATIVE:
            continue
        negator = None
        for j in range(i - 1, max(-1, i - 4), -1):
            if words[j] in _CLAUSE_END:
                break
            if words[j] in _EN_NEGATORS or words[j].endswith("n't"):
                negator = j
                break
        if negator is not None:
            negators_used.add(negator)
            (neg if positive else pos).append(f"{words[negator]} {word}")
        else:
            (pos if positive else neg).append(word)
    # "never" on its own ("I'll never go back") is a negative cue itself
    neg += [w for i, w in enumerate(words) if w == "never" and i not in negators_used]
    return pos, neg


def _japanese_cues(text: str) -> tuple[list[str], list[str]]:
    pos: list[str] = []
    neg: list[str] = []
    for pattern, cue, positive in _JA_CUES:
        if pattern.search(text):
            (pos if positive else neg).append(cue)
            text = pattern.sub(lambda m: " " * len(m.group()), text)
    return pos, neg


def label(text: str) -> tuple[str, list[str], list[str]]:
    """(positive | negative | mixed | neutral, positive cues, negative cues)."""
    en_pos, en_neg = _english_cues(text)
    ja_pos, ja_neg = _japanese_cues(text)
    pos, neg = en_pos + ja_pos, en_neg + ja_neg
    if pos and neg:
        verdict = "mixed"
    elif pos:
        verdict = "positive"
    elif neg:
        verdict = "negative"
    else:
        verdict = "neutral"
    return verdict, pos, neg


class SentimentLabelParams(BaseModel):
    """Label the sentiment or tone of a given text (a review, message or post)."""

    text: Annotated[str, Verbatim()] = Field(description="The exact text whose sentiment to label.")


def sentiment_label(params: SentimentLabelParams, ctx: FunctionContext) -> Done:
    verdict, pos, neg = label(params.text)
    cues = ", ".join(pos[:3] + neg[:3])
    return Done({
        "text": params.text,
        "label": verdict,
        "reason": f"cue words: {cues}" if cues else "no clear sentiment words",
    }, answer_with="State the label and a one-sentence reason; correct the label if the "
                   "text is clearly sarcastic.")


SPEC = FunctionSpec(
    name="sentiment_label",
    asks_for={"text": Said("Which text should I label? Paste it here.",
                           ja="どの文を判定しますか？ここに貼ってください。")},
    params=SentimentLabelParams,
    handler=sentiment_label,
    examples=(
        "What's the sentiment of: 'The food was cold and the staff were rude'?",
        "Is this review positive or negative? \"Best purchase I've made all year\"",
        "この口コミはポジティブ？「店員さんがとても親切でした」",
    ),
)
