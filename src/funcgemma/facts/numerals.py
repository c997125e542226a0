"""Numbers and dates as values, in whichever script they are written.

``scan`` finds every number and date in a text and gives each its value: 1,941,
1 941, １９４１, 一九四一, 千九百四十一 and 昭和16年 are all 1941; 十二万 and 12万 are
120000; "2 million" is 2000000; "January 5, 1941", "5 January 1941", 1941-01-05 and
1941年（昭和16年）1月5日 are all (1941, 1, 5). Each number carries ``strong``: whether a
reply stating it makes a claim. A digit always does; a lone kanji numeral only before a
counter (一月, 三作品, 第一), since 一 is also a part of 一般 and 統一; an English number
word only from ten up ("one of the", "the two studios" are how people talk).
"""

from __future__ import annotations

from dataclasses import dataclass

import regex

from ..text import nfkc

ERAS = {"明治": 1868, "大正": 1912, "昭和": 1926, "平成": 1989, "令和": 2019}
_KDIGIT = {
    "〇": 0,
    "零": 0,
    "一": 1,
    "二": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
}
_KUNIT = {"十": 10, "百": 100, "千": 1000}
_KBIG = {"万": 10**4, "億": 10**8, "兆": 10**12}
_KCHARS = "".join([*_KDIGIT, *_KUNIT, *_KBIG])
_K = f"[{_KCHARS}]"
_KSMALL = "[〇一二三四五六七八九十]"

_MONTHS = {
    name: i
    for i, names in enumerate(
        (
            "january jan",
            "february feb",
            "march mar",
            "april apr",
            "may",
            "june jun",
            "july jul",
            "august aug",
            "september sep sept",
            "october oct",
            "november nov",
            "december dec",
        ),
        start=1,
    )
    for name in names.split()
}
# capitalised only: "you may 2" is no date
_MONTH = (
    "(?P<mon>" + "|".join(n.capitalize() for n in sorted(_MONTHS, key=len, reverse=True)) + r")\.?"
)
_SP = r"[^\S\n]"  # a space that is not a line break: claims never run across lines
_DAY = r"(?P<d>\d{1,2})(?:st|nd|rd|th)?(?!\d)"
_YEAR = r"(?P<y>\d{3,4})(?![\d:])"
_ERA = "(?:" + "|".join(ERAS) + rf")(?:元|\d{{1,2}}|{_KSMALL}{{1,3}})"
_JA_YEAR = rf"(?P<y>{_ERA}|\d{{1,4}}|[〇一二三四五六七八九十百千]{{2,7}})年"
_JA_MONTH = rf"(?P<m>\d{{1,2}}|{_KSMALL}{{1,3}})月"
_JA_DAY = rf"(?P<d>\d{{1,2}}|{_KSMALL}{{1,3}})日"
_PAREN = rf"(?:{_SP}*[（(][^（()）\n]{{0,15}}[)）])?{_SP}*"
_DATES = [
    regex.compile(p, regex.V1)
    for p in (
        r"(?<![\p{L}\d])\d{4}(?P<sep>[-/.])\d{1,2}(?P=sep)\d{1,2}(?!\d)",
        rf"(?<!\p{{L}}){_MONTH}{_SP}+{_DAY}(?:,?{_SP}+{_YEAR})?(?!\p{{L}})",
        rf"(?<![\p{{L}}\d.,]){_DAY}{_SP}+(?:of{_SP}+)?{_MONTH}(?:,?{_SP}+{_YEAR})?(?!\p{{L}})",
        rf"(?<!\p{{L}}){_MONTH},?{_SP}+{_YEAR}",
        rf"{_JA_YEAR}{_PAREN}{_JA_MONTH}(?:{_SP}*{_JA_DAY})?",
        rf"{_JA_MONTH}{_SP}*{_JA_DAY}",
        rf"(?<![\d{_KCHARS}]){_JA_MONTH}",
    )
]
_ERA_YEAR = regex.compile(rf"{_ERA}(?={_SP}*年)")
_SCALED = regex.compile(
    rf"(?<![\p{{L}}\d.,])(?P<n>\d+(?:\.\d+)?){_SP}*"
    r"(?P<s>thousand|million|billion|trillion)\b",
    regex.I,
)
_SPACED = regex.compile(rf"(?<![\d.,])\d{{1,3}}(?:{_SP}\d{{3}})+(?![\d.,])")
_CHUNK = regex.compile(rf"(?<![\p{{Latin}}\d])(?:\d|{_K})(?:\d|{_K}|[.,](?=\d))*")
_WORDS = {
    w: n
    for n, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
        "fifteen sixteen seventeen eighteen nineteen".split()
    )
}
_WORDS |= {
    w: 10 * n
    for n, w in enumerate("twenty thirty forty fifty sixty seventy eighty ninety".split(), start=2)
}
_SCALE_WORDS = {
    "hundred": 100,
    "thousand": 10**3,
    "million": 10**6,
    "billion": 10**9,
    "trillion": 10**12,
}
_WORD = "(?:" + "|".join([*_WORDS, *_SCALE_WORDS]) + ")"
_DECADE = regex.compile(r"['’]?s\b|年代")
_ORDINAL_WORDS = {
    w: n
    for n, w in enumerate(
        "first second third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth".split(),
        start=1,
    )
}
_ORDINAL = regex.compile(r"\b(?:" + "|".join(_ORDINAL_WORDS) + r")\b", regex.I)
_SPELT = regex.compile(rf"\b{_WORD}(?:(?:{_SP}+|-)(?:and{_SP}+)?{_WORD})*\b", regex.I)
# a lone kanji numeral is a number only before one of these (一般, 統一, 千尋 are words)
_COUNTERS = (
    "年",
    "月",
    "日",
    "歳",
    "才",
    "回",
    "位",
    "番目",
    "円",
    "件",
    "冊",
    "作",
    "本",
    "名",
    "世紀",
    "代",
    "階",
    "人目",
    "か国",
    "カ国",
    "ヶ国",
    "%",
    "パーセント",
)
_NOT_NUMBERS = {"万一", "一一", "九九", "億万", "万万"}
_APPROX_BEFORE = regex.compile(
    r"(?:about|around|approximately|roughly|nearly|almost|over|more than|less than|under"
    r"|some|約|およそ|ほぼ|~|〜)\s*$",
    regex.I,
)
_APPROX_AFTER = regex.compile(r"^\s*(?:以上|余り|余|ほど|程度|前後|超|近く)")


@dataclass(frozen=True)
class Number:
    text: str
    options: tuple[tuple[float, ...], ...]  # read any one way: all its values must hold
    strong: bool = True  # stating it in a reply is a claim
    approx: bool = False  # "about 2,000": a source value within 10% holds it
    span: float = 0  # "the 1940s", "1940年代": any source value from 1940 to 1949 holds it


@dataclass(frozen=True)
class Date:
    text: str
    year: int | None
    month: int | None
    day: int | None


def kanji_value(text: str) -> float | None:
    """一九四一, 千九百四十一, 十二万, 1万5000, 1.5万: place value, or digit by digit."""
    total = section = 0.0
    current: float | None = None
    for token in regex.findall(r"\d+(?:\.\d+)?|.", text.replace(",", "")):
        if token[0].isdigit():
            current = float(token)
        elif token in _KDIGIT:
            current = (current or 0) * 10 + _KDIGIT[token]
        elif token in _KUNIT:
            section += (1 if current is None else current) * _KUNIT[token]
            current = None
        elif token in _KBIG:
            total += ((section + (current or 0)) or 1) * _KBIG[token]
            section, current = 0.0, None
        else:
            return None
    return total + section + (current or 0)


def _year(text: str) -> int | None:
    for era, base in ERAS.items():
        if text.startswith(era):
            rest = text[len(era) :]
            n = 1 if rest == "元" else kanji_value(rest)
            return None if n is None else base + int(n) - 1
    value = kanji_value(text)
    return None if value is None else int(value)


def _arabic(text: str) -> tuple[float, ...]:
    text = text.strip(".,")
    if regex.fullmatch(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?", text):
        return (float(text.replace(",", "")),)
    return tuple(float(p) for p in regex.split(r"[.,]", text) if p)


def _spelt(words: list[str]) -> int:
    total = current = 0
    for word in words:
        if word in _WORDS:
            current += _WORDS[word]
        elif word == "hundred":
            current = (current or 1) * 100
        elif word in _SCALE_WORDS:
            total, current = total + (current or 1) * _SCALE_WORDS[word], 0
    return total + current


def _approx(text: str, start: int, end: int) -> bool:
    return bool(
        _APPROX_BEFORE.search(text[max(0, start - 20) : start])
        or _APPROX_AFTER.match(text[end : end + 4])
    )


def _date(m: regex.Match[str]) -> Date | None:
    groups = m.groupdict()
    if groups.get("sep"):
        y, mo, d = (int(p) for p in regex.split(r"[-/.]", m.group(0)))
        year: int | None = y
        month: int | None = mo
        day: int | None = d
    else:
        year = _year(groups["y"]) if groups.get("y") else None
        if groups.get("mon"):
            month = _MONTHS[groups["mon"].lower()]
        else:
            value = kanji_value(groups["m"])
            month = None if value is None else int(value)
        value = kanji_value(groups["d"]) if groups.get("d") else None
        day = None if value is None else int(value)
    if month is None or not 1 <= month <= 12 or (day is not None and not 1 <= day <= 31):
        return None
    return Date(m.group(0).strip(), year, month, day)


def scan(text: str) -> tuple[list[Number], list[Date]]:
    """Every number and date in ``text``. A number inside a date is not listed apart;
    a date's year is (so "1941" in a reply is held by 1941年1月5日 in a source)."""
    text = nfkc(text)
    chars = list(text)
    numbers: list[Number] = []
    dates: list[Date] = []

    def take(m: regex.Match[str]) -> None:
        chars[m.start() : m.end()] = " " * (m.end() - m.start())

    for pattern in _DATES:
        for m in pattern.finditer("".join(chars)):
            date = _date(m)
            if date is not None:
                dates.append(date)
                take(m)
                if date.year is not None:
                    numbers.append(Number(date.text, ((float(date.year),),), strong=False))
    for m in _ERA_YEAR.finditer("".join(chars)):
        year = _year(m.group(0))
        if year is not None:
            numbers.append(Number(m.group(0) + "年", ((float(year),),)))
            take(m)
    for m in _SCALED.finditer("".join(chars)):
        value = float(m.group("n")) * _SCALE_WORDS[m.group("s").lower()]
        numbers.append(Number(m.group(0), ((value,),), approx=_approx(text, *m.span())))
        numbers.append(Number(m.group("n"), ((float(m.group("n")),),), strong=False))
        take(m)
    for m in _SPACED.finditer("".join(chars)):
        parts = tuple(float(p) for p in m.group(0).split())
        numbers.append(
            Number(
                m.group(0).strip(),
                ((float("".join(m.group(0).split())),), parts),
                approx=_approx(text, *m.span()),
            )
        )
        take(m)
    for m in _CHUNK.finditer("".join(chars)):
        numbers.extend(_chunk(text, m))
    for m in _ORDINAL.finditer("".join(chars)):  # held by a source, never a claim
        value = float(_ORDINAL_WORDS[m.group(0).lower()])
        numbers.append(Number(m.group(0), ((value,),), strong=False))
    for m in _SPELT.finditer("".join(chars)):
        words = regex.findall(r"\p{L}+", m.group(0).lower())
        words = [w for w in words if w != "and"]
        value = _spelt(words)
        numbers.append(
            Number(
                m.group(0), ((float(value),),), strong=value >= 10, approx=_approx(text, *m.span())
            )
        )
        # a clipped copy may end inside "one hundred twenty": every prefix holds too
        for i in range(1, len(words)):
            numbers.append(Number(m.group(0), ((float(_spelt(words[:i])),),), strong=False))
    return numbers, dates


def _chunk(text: str, m: regex.Match[str]) -> list[Number]:
    raw = m.group(0)
    approx = _approx(text, *m.span())
    if not regex.search(_K, raw):
        values = _arabic(raw)
        span = 0.0
        if len(values) == 1 and values[0] >= 100 and values[0] % 10 == 0:
            if _DECADE.match(text, m.end()):
                span = 100.0 if values[0] % 100 == 0 else 10.0
        return [Number(raw.strip(".,"), (values,), approx=approx, span=span)]
    value = kanji_value(raw)
    if value is None:
        return []
    after = text[m.end() : m.end() + 4]
    before = text[max(0, m.start() - 1) : m.start()]
    digits_only = not regex.search(r"\d", raw)
    if raw in _NOT_NUMBERS or before in ("数", "何", "幾") or after.startswith("数"):
        strong = False
    elif digits_only and len(raw) == 1:
        strong = before == "第" or after.startswith(_COUNTERS)
    else:
        strong = True
    return [Number(raw, ((value,),), strong=strong, approx=approx)]
