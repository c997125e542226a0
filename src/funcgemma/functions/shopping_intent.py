"""shopping_intent: what the user wants to buy, as structured intent."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, Field, field_validator

from ..messages import Said
from ..registry import FunctionSpec
from ..results import Done
from ..roles import Amount, Copied
from .context import FunctionContext

_CURRENCY_WORDS = {
    "$": "USD", "dollar": "USD", "dollars": "USD", "usd": "USD", "ドル": "USD",
    "¥": "JPY", "円": "JPY", "yen": "JPY", "jpy": "JPY",
    "€": "EUR", "euro": "EUR", "euros": "EUR", "eur": "EUR", "ユーロ": "EUR",
    "£": "GBP", "pound": "GBP", "pounds": "GBP", "gbp": "GBP", "ポンド": "GBP",
}


class ShoppingIntentParams(BaseModel):
    """The user wants to buy or find something to purchase."""

    item: Annotated[str, Copied()] = Field(
        description="What to buy, as written, e.g. 'running shoes'."
    )
    quantity: Annotated[int | None, Amount()] = Field(
        None, ge=1, le=100000, description="How many, if given."
    )
    budget: Annotated[float | None, Amount()] = Field(
        None, ge=0, description="Price limit as a number, if given."
    )
    currency: str | None = Field(
        None, description="Currency of the budget as an ISO code, e.g. USD, JPY, EUR, GBP."
    )

    @field_validator("currency")
    @classmethod
    def _iso(cls, value: str | None) -> str | None:
        if value is None:
            return None
        cleaned = value.strip()
        return _CURRENCY_WORDS.get(cleaned.lower(), cleaned.upper()) or None


def shopping_intent(params: ShoppingIntentParams, ctx: FunctionContext) -> Done:
    intent: dict[str, Any] = {"item": params.item, "quantity": params.quantity or 1}
    if params.budget is not None:
        intent["budget"] = params.budget
        intent["currency"] = params.currency
        intent["budget_per_item"] = round(params.budget / intent["quantity"], 2)
    # what the chat model should say stays inside the intent, where /chat has always shown it
    intent["answer_with"] = (
        "Confirm what the user wants to buy, then give two or three things to look for when "
        "choosing it" + (" within the budget" if params.budget is not None else "")
        + ". Do not invent prices, shops or stock."
    )
    return Done({"intent": intent})


SPEC = FunctionSpec(
    name="shopping_intent",
    asks_for={"item": Said("What would you like to buy?", ja="何を買いたいですか？")},
    params=ShoppingIntentParams,
    handler=shopping_intent,
    examples=(
        "I need two HDMI cables under $20",
        "Find me a rice cooker",
        "5000円以内でワイヤレスイヤホンを買いたい",
        "トイレットペーパーを3パック買わなきゃ",
    ),
)
