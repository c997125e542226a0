"""sentiment_label: label a text positive / negative / neutral / mixed, with a reason.

The label comes from a small bilingual lexicon so it is deterministic and explainable;
the chat model phrases the answer and may refine the reason."""

from __future__ import annotations

from typing import Any

import regex
from pydantic import BaseModel, Field

from ..registry import FunctionSpec
from .context import FunctionContext

_POSITIVE = (
    "love loved lovely great good excellent amazing awesome fantastic wonderful best happy "
    "glad enjoy enjoyed nice perfect delicious recommend brilliant beautiful fun friendly "
    "helpful impressed superb pleasant cool thanks 最高 好き 美味しい おいしい 素晴らしい 嬉しい "
    "うれしい 楽しい 良い よかった 満足 感動 ありがとう 便利 快適 おすすめ"
).split()
_NEGATIVE = (
    "hate hated bad terrible awful worst horrible poor sad angry disappointed disappointing "
    "boring broken rude slow cold dirty expensive annoying useless waste never problem "
    "refund late wrong sucks 最悪 嫌い まずい ひどい 悲しい 残念 遅い 高い 不満 がっかり 壊れ "
    "つまらない 怒 失望 二度と 汚い 不便"
).split()
_NEGATION = regex.compile(r"\b(?:not|no|never|n't|isn't|wasn't|don't|didn't)\s+(\w+)", regex.I)


class SentimentLabelParams(BaseModel):
    """Label the sentiment or tone of a given text (a review, message or post)."""

    text: str = Field(description="The exact text whose sentiment to label.")


def label(text: str) -> tuple[str, list[str], list[str]]:
    lowered = text.casefold()
    negated = {m.group(1).casefold() for m in _NEGATION.finditer(text)}
    pos = [w for w in _POSITIVE if w in lowered and w not in negated]
    neg = [w for w in _NEGATIVE if w in lowered] + [w for w in _POSITIVE if w in negated]
    if pos and neg:
        verdict = "mixed"
    elif pos:
        verdict = "positive"
    elif neg:
        verdict = "negative"
    else:
        verdict = "neutral"
    return verdict, pos, neg


def sentiment_label(params: SentimentLabelParams, ctx: FunctionContext) -> dict[str, Any]:
    verdict, pos, neg = label(params.text)
    cues = ", ".join(pos[:3] + neg[:3])
    return {
        "text": params.text,
        "label": verdict,
        "reason": f"cue words: {cues}" if cues else "no clear sentiment words",
        "answer_with": "State the label and a one-sentence reason; correct the label if the "
        "text is clearly sarcastic.",
    }


SPEC = FunctionSpec(
    name="sentiment_label",
    params=SentimentLabelParams,
    handler=sentiment_label,
    examples=(
        "What's the sentiment of: 'The food was cold and the staff were rude'?",
        "Is this review positive or negative? \"Best purchase I've made all year\"",
        "この口コミはポジティブ？「店員さんがとても親切でした」",
    ),
)
