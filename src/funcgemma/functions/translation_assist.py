"""translation_assist: the chat model translates; this function pins down what and into what."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field

from ..messages import Said
from ..registry import FunctionSpec
from ..results import Done
from ..roles import Language, Verbatim
from .context import FunctionContext


class TranslationAssistParams(BaseModel):
    """Translate a given text into another language."""

    text: Annotated[str, Verbatim()] = Field(description="The exact text to translate.")
    target_language: Annotated[str, Language()] = Field(
        description="Language to translate into, e.g. 'French'."
    )


def translation_assist(params: TranslationAssistParams, ctx: FunctionContext) -> Done:
    return Done(
        {"text": params.text, "target_language": params.target_language},
        answer_with=(
            f"Give the translation of the text into {params.target_language} first, on its "
            "own line; then, only if useful, one short note on usage or politeness."
        ),
    )


SPEC = FunctionSpec(
    name="translation_assist",
    asks_for={"text": Said("What should I translate? Paste the text here.",
                           ja="何を翻訳しますか？ここに文を貼ってください。"),
              "target_language": Said("Into which language?", ja="何語に翻訳しますか？")},
    needs_translation=True,
    params=TranslationAssistParams,
    handler=translation_assist,
    examples=(
        "Translate 'where is the station?' into Spanish",
        "How do you say 'good night' in Korean?",
        "「よろしくお願いします」を英語にして",
    ),
)
