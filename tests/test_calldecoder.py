"""CallDecoder against a scripted model: what it writes, and how many forward passes it
spends (each costs ~25-35 ms on the reference CPU). The real-model agreement with plain
greedy decoding is tested in test_backend_llamacpp.py."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest
import regex

from funcgemma.backends.calldecoder import CallDecoder, Vocab
from funcgemma.formats import functiongemma as fg
from funcgemma.registry import default_registry

_WORD = regex.compile(r"\s?[\w]+|[^\w\s]|\s")
_CONTROL = regex.compile("(" + "|".join(regex.escape(t) for t in fg.CONTROL_TOKENS) + ")")


class ToyVocab:
    """Splits at punctuation like Gemma's tokenizer does; markers are single ids."""

    def __init__(self) -> None:
        self.ids: dict[str, int] = {}
        self.markers = {tok: self._id(tok) for tok in fg.CONTROL_TOKENS}

    def _id(self, piece: str) -> int:
        return self.ids.setdefault(piece, len(self.ids))

    def tokenize(self, text: str) -> list[int]:
        return [self._id(p) for p in _WORD.findall(text)]

    def encode(self, text: str) -> list[int]:
        out: list[int] = []
        for part in _CONTROL.split(text):
            out += [self.markers[part]] if part in self.markers else self.tokenize(part)
        return out

    def piece(self, tok: int) -> bytes:
        text = next(p for p, i in self.ids.items() if i == tok)
        return b"" if text in self.markers else text.encode()

    def vocab(self) -> Vocab:
        return Vocab(tokenize=self.tokenize, piece=self.piece, markers=self.markers)


class ScriptedModel:
    """A model that wants to write ``target``; off that path it ends its turn."""

    def __init__(self, toy: ToyVocab, target: str) -> None:
        self.target = toy.encode(target)
        self.end_turn = toy.markers[fg.END_TURN]
        self.n_vocab = 512
        self.seq: list[int] = []
        self.passes = 0

    @property
    def n_tokens(self) -> int:
        return len(self.seq)

    def truncate(self, n_tokens: int) -> None:
        del self.seq[n_tokens:]

    def _row(self) -> np.ndarray:
        row = np.zeros(self.n_vocab, dtype=np.float32)
        on_path = self.seq == self.target[: len(self.seq)] and len(self.seq) < len(self.target)
        row[self.target[len(self.seq)] if on_path else self.end_turn] = 1.0
        return row

    def feed(self, tokens: Sequence[int], *, all_logits: bool = False) -> np.ndarray:
        self.passes += 1
        rows = []
        for tok in tokens:
            self.seq.append(tok)
            rows.append(self._row())
        return np.stack(rows) if all_logits else rows[-1][None, :]  # llama.cpp's shapes


def _decode(target: str, user: str, detour: tuple[str, str] | None = None
            ) -> tuple[str, ScriptedModel, object]:
    """Decode with a model that wants ``target`` (``detour``: after this prefix it would
    rather write that token, see DetourModel)."""
    toy = ToyVocab()
    decoder = CallDecoder(toy.vocab(), default_registry().tools())
    model = ScriptedModel(toy, target) if detour is None else DetourModel(toy, target, *detour)
    result = decoder.decode(model, model.target[0], user_text=user, max_tokens=64)
    return result.text, model, result


S, E, C = fg.START_CALL, fg.ESCAPE, fg.END_CALL


@pytest.mark.parametrize(("target", "user", "passes"), [
    # one required key: forced with the name; `}` forced after the value; no pass after it
    (f"{S}call:celebrity_info{{name:{E}Ichiro Suzuki{E}}}{C}",
     "tell me about Ichiro Suzuki please", 4),
    # two keys: the second is the only one left after the comma, so it is forced
    (f"{S}call:weather_info{{location:{E}Kyoto{E},date:{E}tomorrow{E}}}{C}",
     "weather in Kyoto tomorrow?", 7),
    # an optional key left out: the model closes the call itself
    (f"{S}call:weather_info{{location:{E}Kyoto{E}}}{C}", "weather in Kyoto?", 5),
    # a number, then the last key after a comma
    (f"{S}call:travel_guide{{days:3,destination:{E}Rome{E}}}{C}", "3 days in Rome", 6),
])
def test_calldecoder_writes_the_models_call_in_few_passes(target: str, user: str,
                                                         passes: int) -> None:
    text, model, result = _decode(target, user)
    assert text == target
    assert model.passes == result.passes == passes  # type: ignore[attr-defined]
    assert model.seq == model.target[: len(model.seq)]  # never fed a token off the path


def test_calldecoder_closes_after_the_last_declared_argument() -> None:
    """An undeclared extra argument cannot follow the last declared one: `}` is forced."""
    text, _, _ = _decode(f"{S}call:celebrity_info{{name:{E}Ichiro{E},age:{E}50{E}}}{C}",
                         "who is Ichiro")
    assert text == f"{S}call:celebrity_info{{name:{E}Ichiro{E}}}{C}"


def test_calldecoder_not_a_call_costs_no_pass() -> None:
    text, model, result = _decode("Hello there", "hello")
    assert model.passes == 0 and result.generated == 1  # type: ignore[attr-defined]
    assert text == "Hello"


def test_calldecoder_off_structure_output_is_left_to_the_parser() -> None:
    """A name no declaration has: decoded plainly until a stop marker, nothing forced."""
    target = f"{S}call:wire_money{{to:{E}bob{E}}}{C}"
    text, _, result = _decode(target, "send bob money")
    assert text == target and result.forced == len(ToyVocab().tokenize("call:"))  # type: ignore


class DetourModel(ScriptedModel):
    """Follows ``target`` but, right after ``prefix``, would rather write ``instead``."""

    def __init__(self, toy: ToyVocab, target: str, prefix: str, instead: str) -> None:
        super().__init__(toy, target)
        self.at = toy.encode(prefix)
        self.instead = toy.encode(instead)[0]

    def _row(self) -> np.ndarray:
        if self.seq == self.at:
            row = np.zeros(self.n_vocab, dtype=np.float32)
            row[self.instead] = 1.0
            return row
        return super()._row()


@pytest.mark.parametrize("instead", ["}", C])
def test_calldecoder_never_ends_a_call_without_a_required_argument(instead: str) -> None:
    """A model that has never seen weather_info puts the place under `date` and would end
    the call there; `location` is required, so the decoder writes `,location:` and the
    model supplies the value (instead of a call the schema rejects)."""
    first = f"{S}call:weather_info{{date:{E}Kathmandu{E}"
    target = first + f",location:{E}Kathmandu{E}}}{C}"
    text, model, _ = _decode(target, "Kathmandu temperature tonight", (first, instead))
    assert text == target
    assert model.seq == model.target[: len(model.seq)]


def test_calldecoder_writes_a_required_key_the_model_skipped_at_the_start() -> None:
    """`{` then `}` straight away: the required key is written, not an empty call."""
    first = f"{S}call:shopping_intent{{"
    target = first + f"item:{E}socks{E}}}{C}"
    text, _, _ = _decode(target, "buy socks", (first, "}"))
    assert text == target


def test_calldecoder_leaves_an_unclosed_value_to_the_parser() -> None:
    """A value the model never closes is not patched into a call with a `,` after it."""
    text, _, _ = _decode(f"{S}call:weather_info{{date:{E}Kathmandu{C}", "Kathmandu tonight")
    assert text == f"{S}call:weather_info{{date:{E}Kathmandu{C}"


class RankedDetourModel(ScriptedModel):
    """Follows ``target``; right after ``prefix`` it ranks ``instead`` first and the
    token of its path second. Every other token is ruled out (-inf)."""

    def __init__(self, toy: ToyVocab, target: str, prefix: str, instead: str) -> None:
        super().__init__(toy, target)
        self.at = toy.encode(prefix)
        self.instead = toy.encode(instead)[0]

    def _row(self) -> np.ndarray:
        row = np.full(self.n_vocab, -np.inf, dtype=np.float32)
        if self.seq == self.at:
            row[self.target[len(self.seq)]] = 1.0
            row[self.instead] = 2.0
            return row
        plain = super()._row()
        row[int(np.argmax(plain))] = 1.0
        return row


def _decode_copied(target: str, user: str, prefix: str, instead: str, *, copied: bool
                   ) -> tuple[str, object]:
    toy = ToyVocab()
    decoder = CallDecoder(toy.vocab(), default_registry().tools())
    model = RankedDetourModel(toy, target, prefix, instead)
    result = decoder.decode(model, model.target[0], user_text=user, max_tokens=64,
                            copied=default_registry().copied() if copied else None)
    return result.text, result


def test_calldecoder_keeps_a_copied_value_to_the_message() -> None:
    """'Hollingsfield' for 'Honolulu': the model's second choice is what the message says,
    and a copied argument takes it."""
    first = f"{S}call:weather_info{{location:{E}"
    target = first + f"Honolulu{E}}}{C}"
    text, result = _decode_copied(target, "is it sunny in Honolulu?", first, "Hollingsfield",
                                  copied=True)
    assert text == target
    assert result.steered == 1  # type: ignore[attr-defined]
    # without the registry's copied arguments the model's own (invented) value stands
    text, result = _decode_copied(target, "is it sunny in Honolulu?", first, "Hollingsfield",
                                  copied=False)
    assert "Hollingsfield" in text and result.steered == 0  # type: ignore[attr-defined]


def test_calldecoder_ends_a_copied_value_that_would_run_past_the_message() -> None:
    """A model looping on '！' closes the value when the message has no more of it."""
    first = f"{S}call:sentiment_label{{text:{E}やった！"
    target = first + f"{E}}}{C}"
    text, result = _decode_copied(target, "「やった！」ってポジティブ？", first, "！", copied=True)
    assert text == target and result.steered == 1  # type: ignore[attr-defined]


def test_calldecoder_leaves_arguments_that_are_not_copied() -> None:
    """currency is not a copied argument ('USD' for '$'): the model's value stands."""
    first = f"{S}call:shopping_intent{{currency:{E}"
    target = first + f"dollars{E},item:{E}socks{E}}}{C}"
    text, result = _decode_copied(target, "socks for 5 dollars", first, "USD", copied=True)
    assert f"currency:{E}USD" in text and result.steered == 0  # type: ignore[attr-defined]


def test_calldecoder_never_takes_a_token_the_model_rules_out() -> None:
    """Nothing in the model's candidates keeps the value a piece of the message: its own
    token stands (the parser and grounding judge it), nothing ruled out is forced in."""
    first = f"{S}call:celebrity_info{{name:{E}"
    target = first + f"Zed{E}}}{C}"  # 'Zed' is not in the message either
    text, result = _decode_copied(target, "who is that actor", first, "Bob", copied=True)
    assert f"name:{E}Bob" in text and result.steered == 0  # type: ignore[attr-defined]


def test_calldecoder_copy_check_is_bounded_on_a_long_message() -> None:
    """An 8000-character message where the value so far occurs everywhere: the decoder
    looks at a bounded number of places (tokenising a short piece at each)."""
    from funcgemma.backends.steering import MAX_STARTS

    toy = ToyVocab()
    counted = {"n": 0}
    plain = toy.tokenize

    def tokenize(text: str) -> list[int]:
        counted["n"] += 1
        return plain(text)

    vocab = Vocab(tokenize=tokenize, piece=toy.piece, markers=toy.markers)
    decoder = CallDecoder(vocab, default_registry().tools())
    first = f"{S}call:celebrity_info{{name:{E}"
    target = first + f"Bo{E}}}{C}"
    model = RankedDetourModel(toy, target, first, "Zed")
    user = "Bo Bo " * 1400  # 8400 characters
    counted["n"] = 0
    result = decoder.decode(model, model.target[0], user_text=user, max_tokens=64,
                            copied=default_registry().copied())
    assert result.text == target and result.steered == 1
    assert counted["n"] <= MAX_STARTS + 2 * 64 + 16


def _decode_with_bias(target: str, user: str, bias_of: dict[str, float]
                      ) -> tuple[str, CallDecoder]:
    toy = ToyVocab()
    decoder = CallDecoder(toy.vocab(), default_registry().tools())
    model = ScriptedModel(toy, target)
    name_bias = {toy.tokenize(n)[0]: b for n, b in bias_of.items()}
    result = decoder.decode(model, model.target[0], user_text=user, max_tokens=64,
                            name_bias=name_bias)
    return result.text, decoder


def test_calldecoder_name_bias_can_overturn_the_models_name() -> None:
    """The scripted model puts logit 1 on `travel` and 0 on every other name's first token:
    a bias of -2 on `travel` hands the choice to the best of the others (ties go to the
    lowest token id), a bias of -0.5 does not."""
    target = f"{S}call:travel_guide{{destination:{E}Paris{E}}}{C}"
    user = "will it rain in Paris"
    biases = {n: 0.0 for n in default_registry().names}
    text, _ = _decode_with_bias(target, user, {**biases, "travel_guide": -0.5})
    assert text == target
    text, decoder = _decode_with_bias(target, user, {**biases, "travel_guide": -2.0,
                                                     "weather_info": 0.5})
    assert text.startswith(f"{S}call:weather_info{{")
    assert len(decoder.heads) == len(default_registry().names)  # one first token each


def test_calldecoder_name_bias_leaves_off_path_output_alone() -> None:
    """A name no declaration has is not steered into a declared one."""
    target = f"{S}call:wire_money{{to:{E}bob{E}}}{C}"
    text, _ = _decode_with_bias(target, "send bob money",
                                {n: 5.0 for n in default_registry().names})
    assert text == target
