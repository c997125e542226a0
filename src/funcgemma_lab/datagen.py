"""Grow the labelled data: an LLM through Ollama writes new cases per function and
language, or, offline, templates are expanded with slot values.

Every candidate is checked before it is kept: it parses, names a registered function (or
none), its string arguments occur verbatim in its text, and it is not a near-duplicate of
anything already in the data or already generated. Output is appended line by line, so an
interrupted run resumes where it stopped; quotas count what the file already holds.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from funcgemma.registry import FunctionRegistry

from .datasets import Case, normalise, read_cases

LANG_NAMES = {"en": "English", "ja": "Japanese"}

# Offline templates: (text with {slots}, expected argument names). Slot values below.
TEMPLATES: dict[str, dict[str, list[str]]] = {
    "weather_info": {
        "en": ["What's the weather in {location} {date}?", "will it rain in {location} {date}",
               "{location} forecast {date} please", "how cold is it in {location} {date}?"],
        "ja": ["{date}の{location}の天気は？", "{location}は{date}雨降る？",
               "{location}の{date}の気温を教えて"],
    },
    "travel_guide": {
        "en": ["What should I see in {destination}?", "Plan {days} days in {destination} for me",
               "any tips for visiting {destination}?", "best things to do in {destination}"],
        "ja": ["{destination}のおすすめ観光地は？", "{destination}に{days}日間行くならどこを回る？",
               "{destination}旅行のコツを教えて"],
    },
    "celebrity_info": {
        "en": ["Who is {name}?", "tell me about {name}", "what is {name} famous for?"],
        "ja": ["{name}ってどんな人？", "{name}について教えて", "{name}の代表作は？"],
    },
    "shopping_intent": {
        "en": ["I want to buy {item}", "find me {item} under {budget} dollars",
               "I need {quantity} {item}"],
        "ja": ["{item}を買いたい", "{budget}円以内で{item}が欲しい",
               "{item}を{quantity}個買いたい"],
    },
    "sentiment_label": {
        "en": ["What's the sentiment of: \"{text}\"", "is this positive or negative? {text}"],
        "ja": ["この文章の感情は？「{text}」", "「{text}」はポジティブ？ネガティブ？"],
    },
    "schedule_reminder": {
        "en": ["remind me to {task} {time}", "set a reminder {time} to {task}"],
        "ja": ["{time}に{task}をリマインドして", "{time}に{task}って教えて"],
    },
    "translation_assist": {
        "en": ["translate \"{text}\" into {target_language}", "how do you say {text} in "
               "{target_language}?"],
        "ja": ["「{text}」を{target_language}に翻訳して",
               "「{text}」は{target_language}で何て言う？"],
    },
}
SLOTS: dict[str, dict[str, list[Any]]] = {
    "en": {
        "location": ["Lisbon", "Nairobi", "Vancouver", "Hanoi", "Reykjavik", "Perth", "Denver"],
        "date": ["tomorrow", "this weekend", "on Friday", "tonight", "next Monday"],
        "destination": ["Marrakesh", "Porto", "Hokkaido", "Patagonia", "Tbilisi", "Quebec"],
        "days": [2, 3, 4, 5, 7],
        "name": ["Frida Kahlo", "Nikola Tesla", "Serena Williams", "Bong Joon-ho", "Ada Lovelace"],
        "item": ["a rice cooker", "hiking boots", "AA batteries", "a desk lamp", "printer paper"],
        "budget": [20, 50, 100, 300],
        "quantity": [2, 3, 4, 10],
        "text": ["The staff were friendly but the room was tiny", "Worst delivery ever",
                 "Absolutely loved the concert"],
        "task": ["water the plants", "call the dentist", "pay the rent", "take my vitamins"],
        "time": ["at 7pm", "tomorrow morning", "in 30 minutes", "on Sunday at noon"],
        "target_language": ["Spanish", "German", "Korean", "Italian", "Portuguese"],
    },
    "ja": {
        "location": ["札幌", "那覇", "金沢", "ソウル", "ロンドン", "仙台"],
        "date": ["明日", "今週末", "金曜日", "今夜", "来週の月曜日"],
        "destination": ["函館", "屋久島", "台北", "松本", "バルセロナ"],
        "days": [2, 3, 4, 5],
        "name": ["坂本龍一", "イチロー", "樋口一葉", "宮崎駿", "北斎"],
        "item": ["電気ケトル", "単三電池", "傘", "ノート", "加湿器"],
        "budget": [3000, 5000, 10000, 20000],
        "quantity": [2, 3, 5],
        "text": ["料理は美味しかったけど店員が冷たかった", "最高の誕生日でした", "二度と行かない"],
        "task": ["薬を飲む", "母に電話する", "ゴミを出す", "会議の資料を送る"],
        "time": ["明日の朝9時", "30分後", "今夜8時", "金曜日の午後3時"],
        "target_language": ["英語", "フランス語", "中国語", "スペイン語"],
    },
}


@dataclass
class Quota:
    function: str | None
    lang: str
    count: int


def _check(case: Case, registry: FunctionRegistry) -> str | None:
    """Why a generated case must be thrown away, or None to keep it."""
    if not case.text.strip() or len(case.text) > 500:
        return "empty or too long"
    if case.expected_function is not None and case.expected_function not in registry:
        return "unknown function"
    if case.expected_function is None:
        return None if not case.expected_arguments else "arguments on a no-function case"
    spec = registry.get(case.expected_function)
    for key, value in case.expected_arguments.items():
        if key not in spec.params.model_fields:
            return f"unknown argument {key}"
        if isinstance(value, str) and key != "currency" and value not in case.text:
            return f"argument {key}={value!r} not verbatim in text"
    return None


class Deduper:
    """Exact (normalised) and 4-gram-Jaccard near-duplicate detection against everything
    seen so far."""

    def __init__(self, texts: Iterable[str], threshold: float = 0.8) -> None:
        self.threshold = threshold
        self.seen: set[str] = set()
        self.grams: dict[str, set[int]] = {}
        self.shingles: list[set[str]] = []
        for t in texts:
            self.add(t)

    @staticmethod
    def _sh(text: str) -> set[str]:
        t = normalise(text)
        return {t[i : i + 4] for i in range(max(1, len(t) - 3))}

    def is_new(self, text: str) -> bool:
        if normalise(text) in self.seen:
            return False
        sh = self._sh(text)
        counts: Counter[int] = Counter()
        for g in sh:
            counts.update(self.grams.get(g, ()))
        return all(n / (len(sh) + len(self.shingles[j]) - n) < self.threshold
                   for j, n in counts.items())

    def add(self, text: str) -> None:
        self.seen.add(normalise(text))
        sh = self._sh(text)
        j = len(self.shingles)
        self.shingles.append(sh)
        for g in sh:
            self.grams.setdefault(g, set()).add(j)


def template_cases(function: str, lang: str, rng: random.Random) -> Iterator[Case]:
    """Offline: endless template expansions for one function and language."""
    templates = TEMPLATES.get(function, {}).get(lang, [])
    slots = SLOTS[lang]
    while templates:
        template = rng.choice(templates)
        args = {}
        text = template
        for key in [k for k in slots if "{" + k + "}" in template]:
            value = rng.choice(slots[key])
            text = text.replace("{" + key + "}", str(value))
            args[key] = value
        if "budget" in args:
            args["currency"] = "USD" if lang == "en" else "JPY"
        yield Case(text=text, expected_function=function, expected_arguments=args, lang=lang,
                   extra={"source": "template"})


def llm_prompt(function: str | None, lang: str, registry: FunctionRegistry, n: int,
               avoid: Sequence[str]) -> str:
    if function is None:
        what = ("messages for which NONE of these functions applies (chit-chat, general "
                "questions, requests no function serves, and hard negatives that mention a "
                "place, person, product or feeling without asking for a function)")
    else:
        spec = registry.get(function)
        what = (f"messages that ask for `{function}`: {spec.summary} Arguments: "
                + json.dumps(spec.tool_schema()["function"]["parameters"]["properties"],
                             ensure_ascii=False))
    functions = ", ".join(registry.names)
    return (
        f"Write {n} varied, realistic chat messages in {LANG_NAMES.get(lang, lang)} that a "
        f"user might type to an assistant with the functions {functions}. Write {what}. "
        "Vary length, tone, politeness, typos and phrasing; never repeat a pattern. "
        "Answer with JSON: {\"cases\": [{\"text\": ..., \"arguments\": {...}}]} where string "
        "argument values are copied exactly from the text and only arguments the text states "
        "are given. Do not write anything like these: " + json.dumps(list(avoid)[:8],
                                                                      ensure_ascii=False))


def llm_cases(chat: Callable[[str], str], function: str | None, lang: str,
              registry: FunctionRegistry, n: int, avoid: Sequence[str]) -> list[Case]:
    raw = chat(llm_prompt(function, lang, registry, n, avoid))
    try:
        rows = json.loads(raw).get("cases", [])
    except (json.JSONDecodeError, AttributeError):
        return []
    out = []
    for row in rows if isinstance(rows, list) else []:
        if not isinstance(row, dict) or not isinstance(row.get("text"), str):
            continue
        given = row.get("arguments")
        args: dict[str, Any] = given if isinstance(given, dict) else {}
        out.append(Case(text=row["text"].strip(), expected_function=function,
                        expected_arguments=args if function else {}, lang=lang,
                        extra={"source": "llm"}))
    return out


def existing(paths: Iterable[Path]) -> list[Case]:
    cases: list[Case] = []
    for path in paths:
        if path.exists():
            cases += read_cases(path)
    return cases
