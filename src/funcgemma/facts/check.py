"""Does a reply say only what its sources say? Names, numbers and dates are checked.

A small chat model told to answer from a text still invents ("Miyazaki, creator of
Frozen, born 1890"). ``check_reply`` lists each claim in the reply that neither the
fetched texts nor the user's message hold; a reply with any is replaced by an extractive
answer. Only names, numbers and dates are claims: a paraphrase in other words passes.

| claim in the reply | held by the sources or the message when they have |
| --- | --- |
| number: 1941, 1,941, 1 941, １９４１, 3rd, 第3, 45% | the same value, in any of these forms |
| kanji number: 一九四一, 千九百四十一, 十二万, 12万 | the same value |
| era year: 昭和16年 (明治 大正 昭和 平成 令和; 元年 = 1) | the Gregorian year, 1941, in any form |
| English: "2 million", "twenty", "two thousand" | the same value |
| a number after about/nearly/over/約/およそ | a value within 10% |
| decade: the 1940s, 1940年代 | a value from 1940 to 1949 (1900s: 1900 to 1999) |
| date: "January 5, 1941", "5 January 1941", 1941-01-05 | one date equal in every part given |
| date: 1941年1月5日, 1941年（昭和16年）1月5日, 1月5日 | the same; a missing part is a wildcard |
| Latin name: Miyazaki's, MIYAZAKI, Pokémon, Spider-Man | the word, any case, no accents, no 's/-s |
| Latin name written in Japanese: Miyazaki | ミヤザキ, 宮崎（みやざき）: a kana reading |
| Japan / Japanese / 日本 (a few countries) | any form of the same country |
| katakana run of 2+: ミヤザキ | pieces of 2+ found in the text, or its romaji |
| kanji run of 2+: 宮崎駿監督, 大阪府 | pieces found in the text, common words, affixes |

Details. A date's year that the source's date lacks may stand elsewhere in the sources
(1月5日 ... 1941年). Romaji is compared loosely (Tokyo = Tōkyō = toukyou), and a Latin
name of 4+ letters may be the start or end of a reading (Miyazaki in miyazakihayao);
"Hayao Miyazaki" in a source reads either way round. A kanji run is cut into pieces: 2+
characters found in the texts, common words (映画, 監督), numbers, and single affixes
(市, 県, 氏); at least one piece must come from the texts unless all are common words,
and an affix never stands beside another (中国 is not 中 + 国). A last kanji followed by
okurigana (生まれ, 作った) is a verb's stem and left out.

Never claims: a capitalised common English word (The, However, January, Wikipedia),
a sentence's first word that is a common opening (Hello, Visit, "Interestingly,") or that
the reply also writes in lower case, a number word under ten ("one of", "two films"), a
lone kanji numeral that is part of a word (一般, 統一), list markers ("1. "). Texts are
NFKC-folded (full-width letters and digits) and compared without case; the reply's
fragments are reported as folded.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property

import regex

from ..text import nfkc
from .numerals import ERAS, Date, Number, scan
from .romaji import kana_to_romaji, kanji_readings, loose

_LATIN_WORD = regex.compile(
    r"(?<![\p{L}\p{M}\p{N}])[\p{Latin}\p{N}][\p{Latin}\p{M}\p{N}]*(?:['’\-][\p{Latin}\p{M}\p{N}]+)*"
)
_CAPITAL = regex.compile(r"\p{Lu}")
_ADVERB = regex.compile(r"\p{L}{5,}ly,")  # "Interestingly, ..." opening a sentence
_KATAKANA = regex.compile(r"[ァ-ヺー]{2,}")
_KATAKANA_NAME = regex.compile(r"[ァ-ヺー]+(?:[・･][ァ-ヺー]+)*")
_KANJI = regex.compile(r"[\p{Han}々〆ヶ]{2,}")
# hiragana after a kanji that is not a particle: the kanji is the stem of a verb
_OKURIGANA = regex.compile(r"(?!まで|ので|のに)[ぁ-ゖ](?<![はがをにでともへやかなだのよ])")
_NUMERAL_RUN = regex.compile(r"[〇零一二三四五六七八九十百千万億兆]+")
_FURIGANA = regex.compile(r"[(（]([\p{Hiragana}ー・\s]+)[、,，)）]")
_LIST_MARKER = regex.compile(r"(?m)^[^\S\n]*\d{1,2}[.)][^\S\n]")
_LONGEST_PIECE = 12  # a longer run is held whole or cut into shorter pieces
_COMPACT = regex.compile(r"[・･\s]")
_OPENERS = "\"'“”‘’([{*_#>•-–—「『【"
_ENDS = ".!?。！？:;"
_CONTRACTIONS = ("s", "m", "re", "ve", "ll", "d", "t")

COMMON = frozenset(
    """
a an the this that these those there here it its it's he she they we you i his her him their
them our your my me us who whom whose which what when where why how and or but nor so yet if
then than as at by for from in into of off on onto out over to up with within without about
above across after against along among around before behind below beneath beside besides
between beyond during except inside near since through throughout toward towards under
until upon via is are was were be been being am has have had having do does did done will
would shall should can could may might must not no yes ok okay sure sorry please thanks
also however although though because while whereas both each either neither every all any
some many most more much few several such other another same own only just even still
already again always never often sometimes usually perhaps maybe today currently later
earlier early late first second third last next new old born died known famous located
founded established best well overall unfortunately note notably according additionally
furthermore moreover meanwhile instead otherwise therefore thus hence here's there's let
one two three four five six seven eight nine ten eleven twelve twenty thirty hundred
thousand million billion monday tuesday wednesday thursday friday saturday sunday january
february march april may june july august september october november december mr mrs ms
dr prof sir st jr sr wikipedia wikivoyage wiki wikimedia source sources article summary
information text page don doesn didn isn aren wasn weren won couldn wouldn shouldn haven hasn
hadn ain
""".split()
)
# words a chat reply opens a sentence with, that mid-sentence could be names ("Great Wall")
OPENING = frozenset(
    """
hello hi hey great certainly absolutely definitely indeed good nice wow welcome thank visit
enjoy try see take explore check make find head go start remember keep consider plan book
walk stop look be get bring spend expect avoid feel ask short basically generally
typically traditionally historically tonight tomorrow others whether
""".split()
)

COMMON_JA = frozenset(
    """
現在 当時 以前 以降 年代 時代 世紀 初期 後期 中期 最初 最後 最近 現代 近年 将来 人物 人々 家族
父親 母親 両親 子供 息子 兄弟 姉妹 夫婦 結婚 友人 作家 作者 監督 俳優 女優 歌手 画家 漫画家 選手
政治家 学者 研究者 代表 社長 会長 創業者 創設者 共同 作品 映画 長編 短編 漫画 小説 音楽 楽曲
代表作 制作 製作 脚本 原作 出演 主演 公開 発表 発売 出版 放送 連載 受賞 評価 人気 有名 著名 成功
影響 世界 世界的 国際 国内 海外 全国 各地 地域 地方 都市 首都 中心 位置 面積 人口 気候 観光 名所
歴史 文化 伝統 自然 出身 誕生 死去 卒業 入学 入社 退社 設立 創業 創立 開始 開業 開館 建設 建築
完成 参加 所属 活動 引退 移籍 移住 在住 居住 多数 数多 様々 主要 重要 最大 最高 非常 特 一般
一部 全体 以上 以下 情報 記事 出典 説明 質問 回答 詳細 彼女 自身 自分 寺院 神社 公園 庭園 美術館
博物館 空港 電車 地下鉄 料理 名物 日本語 英語 生年月日 年齢 身長 名前 本名 場所 時間 期間 今日
""".split()
) | frozenset(ERAS)

COMMON_KATAKANA = frozenset(
    """
アニメ アニメーション アニメーター テレビ ラジオ ニュース メディア ゲーム シリーズ キャラクター
ストーリー テーマ ジャンル スタジオ ファン メンバー グループ バンド チーム プロ デビュー ヒット
ベスト トップ ホテル レストラン ショップ カフェ ツアー スポット エリア イベント タワー ビル
ウィキペディア ウィキボヤージュ ソース データ タイトル シーン ドラマ コミック マンガ アーティスト
ミュージシャン デザイン デザイナー プロデューサー ディレクター スタッフ ルート バス タクシー
""".split()
)

_AFFIXES = frozenset(
    "氏市県都府道町村区駅山川島国人的性化者家年月日様作賞館寺院城大小新旧元前後各約初同第全"
    "多等他中内外上下語系式型版号部校社界"
)

# a few names that a reply gives in another form than its source: each group is one
_ALIAS_GROUPS = (
    ("japan", "japanese", "日本"),
    ("china", "chinese", "中国"),
    ("korea", "korean", "韓国", "朝鮮"),
    ("america", "american", "アメリカ", "米国"),
    ("england", "english", "britain", "british", "イギリス", "英国", "英語"),
    ("france", "french", "フランス"),
    ("germany", "german", "ドイツ"),
    ("italy", "italian", "イタリア"),
)
_ALIASES = {form: group for group in _ALIAS_GROUPS for form in group}

KanjiReader = Callable[[str], list[str]]


@dataclass(frozen=True)
class CheckResult:
    ok: bool
    unsupported: list[str]  # the reply's claims that nothing holds, in reply order


def _fold_latin(word: str) -> str:
    decomposed = unicodedata.normalize("NFKD", word.casefold().replace("’", "'"))
    return unicodedata.normalize("NFC", regex.sub(r"\p{M}", "", decomposed))


def word_key(word: str) -> str:
    """Miyazaki's, MIYAZAKI, Pokémon, Simpsons -> miyazaki, miyazaki, pokemon, simpson."""
    key = _fold_latin(word)
    head, apostrophe, tail = key.rpartition("'")
    if apostrophe and tail in _CONTRACTIONS:
        key = head
    key = key.rstrip("'")
    if len(key) > 3 and key.endswith("s") and not key.endswith("ss"):
        key = key[:-1]
    return key


_COMMON_KEYS = frozenset(word_key(w) for w in COMMON)
_OPENING_KEYS = frozenset(word_key(w) for w in OPENING)


def _parts(word: str) -> list[str]:
    return [word_key(p) for p in regex.split(r"['’\-]", word) if p]


class _Support:
    """What the sources and the user's message hold, folded once."""

    def __init__(self, texts: Iterable[str], kanji_reader: KanjiReader) -> None:
        self.texts = [nfkc(t) for t in texts if t]
        self.folded = "\n".join(t.casefold() for t in self.texts)
        self.compact = _COMPACT.sub("", self.folded)
        self.kanji_reader = kanji_reader
        self.words: set[str] = set()
        self.sequence: list[str] = []
        for text in self.texts:
            for m in _LATIN_WORD.finditer(text):
                self.words.add(word_key(m.group(0)))
                self.words.update(_parts(m.group(0)))
                self.sequence.append(m.group(0))
            self.sequence.append("")
        self.values: list[float] = []
        self.dates: list[Date] = []
        for text in self.texts:
            numbers, dates = scan(text)
            self.values.extend(v for n in numbers for option in n.options for v in option)
            self.dates.extend(dates)

    def has_value(self, value: float, approx: bool = False) -> bool:
        tolerance = 0.1 if approx else 1e-9
        return any(math.isclose(value, v, rel_tol=tolerance) for v in self.values)

    def has_number(self, number: Number) -> bool:
        if number.span:
            low = number.options[0][0]
            return any(low <= v < low + number.span for v in self.values)
        return any(
            all(self.has_value(v, number.approx) for v in option) for option in number.options
        )

    def has_date(self, date: Date) -> bool:
        for held in self.dates:
            if (date.month, date.day or held.day) != (held.month, held.day):
                continue
            if date.year is None or date.year == held.year:
                return True
            if held.year is None and self.has_value(date.year):
                return True
        return False

    @cached_property
    def latin_romaji(self) -> set[str]:
        """Loose keys of the Latin words, and of each two neighbours in either order."""
        keys = {loose(w) for w in self.sequence if w}
        for a, b in zip(self.sequence, self.sequence[1:], strict=False):
            if a and b:
                keys.update({loose(a + b), loose(b + a)})
        return keys

    @cached_property
    def cjk_romaji(self) -> set[str]:
        """Loose readings of the Japanese in the sources: katakana, kana readings given
        in brackets, and kanji through ``kanji_reader``."""
        keys: set[str] = set()
        for text in self.texts:
            for m in _KATAKANA_NAME.finditer(text):
                words = [w for w in m.group(0).split("・") if w]
                keys.update(loose(kana_to_romaji(w)) for w in [*words, "".join(words)])
            for m in _FURIGANA.finditer(text):
                words = [w for w in regex.split(r"[・\s]+", m.group(1)) if w]
                keys.update(loose(kana_to_romaji(w)) for w in [*words, "".join(words)])
            for m in _KANJI.finditer(text):
                keys.update(loose(r) for r in self.kanji_reader(m.group(0)))
        keys.discard("")
        return keys

    def has_latin(self, word: str) -> bool:
        key = word_key(word)
        if key in self.words or all(p in self.words for p in _parts(word)):
            return True
        if self._aliased(key):
            return True
        if not regex.search(r"[\p{Han}\p{Katakana}\p{Hiragana}]", self.folded):
            return False
        name = loose(word_key(word))
        return any(
            r == name or (len(name) >= 4 and (r.startswith(name) or r.endswith(name)))
            for r in self.cjk_romaji
        )

    def has_cjk(self, run: str, common: frozenset[str]) -> bool:
        run = run.casefold()
        if run in common or run in self.compact:
            return True
        if self._pieces(run, common):
            return True
        readings = [kana_to_romaji(run)] if _KATAKANA.fullmatch(run) else self.kanji_reader(run)
        keys = {loose(r) for r in readings if r}
        if keys & self.latin_romaji or keys & self.cjk_romaji:
            return True
        return self._aliased(run)

    def _aliased(self, name: str) -> bool:
        return any(
            form in self.words or (not form.isascii() and form in self.folded)
            for form in _ALIASES.get(name, ())
        )

    def _pieces(self, run: str, common: frozenset[str]) -> bool:
        """Can ``run`` be cut into held pieces? A state is (a piece came from the sources,
        an affix was used, the last piece was an affix): an affix holds nothing alone and
        never stands beside another (中国 is not 中 + 国)."""
        reach: list[set[tuple[bool, bool, bool]]] = [set() for _ in range(len(run) + 1)]
        reach[0].add((False, False, False))
        for i in range(len(run)):
            for sourced, affixed, last in reach[i]:
                for j in range(i + 1, min(len(run), i + _LONGEST_PIECE) + 1):
                    piece = run[i:j]
                    if len(piece) >= 2 and piece in self.compact:
                        reach[j].add((True, affixed, False))
                    elif _NUMERAL_RUN.fullmatch(piece):  # a number, checked as one
                        reach[j].add((True, affixed, False))
                    elif piece in common:
                        reach[j].add((sourced, affixed, False))
                    elif len(piece) == 1 and piece in _AFFIXES and not last:
                        reach[j].add((sourced, True, True))
        return any(sourced or not affixed for sourced, affixed, _ in reach[-1])


def _sentence_start(text: str, start: int) -> bool:
    i = start
    while i > 0 and (text[i - 1].isspace() or text[i - 1] in _OPENERS):
        if text[i - 1] == "\n":
            return True
        i -= 1
    return i == 0 or text[i - 1] in _ENDS


def _name_claims(reply: str) -> list[str]:
    lower = {
        word_key(m.group(0)) for m in _LATIN_WORD.finditer(reply) if not _CAPITAL.match(m.group(0))
    }
    claims = []
    for m in _LATIN_WORD.finditer(reply):
        word = m.group(0)
        key = word_key(word)
        if not _CAPITAL.match(word) or len(regex.findall(r"\p{L}", key)) < 2:
            continue
        if key in _COMMON_KEYS or all(p in _COMMON_KEYS for p in _parts(word)):
            continue
        if _sentence_start(reply, m.start()) and (
            key in lower or key in _OPENING_KEYS or _ADVERB.match(reply, m.start())
        ):
            continue
        claims.append(word)
    return claims


def check_reply(
    reply: str, sources: Sequence[str], message: str, *, kanji_reader: KanjiReader = kanji_readings
) -> CheckResult:
    """The names, numbers and dates of ``reply`` that neither ``sources`` nor ``message``
    hold (rules in the module docstring). ``kanji_reader`` reads kanji in romaji (the
    default reads none: see funcgemma.facts.romaji)."""
    support = _Support([*sources, message], kanji_reader)
    text = _LIST_MARKER.sub(" ", nfkc(reply))
    unsupported: list[str] = []
    numbers, dates = scan(text)
    unsupported += [d.text for d in dates if not support.has_date(d)]
    unsupported += [n.text for n in numbers if n.strong and not support.has_number(n)]
    unsupported += [w for w in _name_claims(text) if not support.has_latin(w)]
    for m in _KATAKANA.finditer(text):
        run = m.group(0).strip("ー")
        if len(run) >= 2 and not support.has_cjk(run, COMMON_KATAKANA):
            unsupported.append(m.group(0))
    for m in _KANJI.finditer(text):
        run = m.group(0)
        if _OKURIGANA.match(text, m.end()):
            run = run[:-1]  # 生まれ, 作った: the last kanji is a verb's stem
        if (
            len(run) >= 2
            and not _NUMERAL_RUN.fullmatch(run)
            and not support.has_cjk(run, COMMON_JA)
        ):
            unsupported.append(run)
    unique = list(dict.fromkeys(unsupported))
    return CheckResult(ok=not unique, unsupported=unique)
