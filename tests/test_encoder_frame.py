"""A dictated text read as its frame (funcgemma.encoder.frame): which part is left out,
and how the encoder's rows blend (a raw encoder scripted by hand: the arithmetic is ours;
the real encoder's use is in tests/test_encoder.py)."""

from __future__ import annotations

import numpy as np
import pytest

from funcgemma.encoder.decide import Policy
from funcgemma.encoder.frame import frame
from funcgemma.encoder.models import with_kana
from funcgemma.errors import ConfigurationError


@pytest.mark.parametrize(("text", "expected"), [
    ("note: call the insurer about the windshield", "note: …"),
    ("post to insta: best ramen ever", "post to insta: …"),
    ('translate "good morning" into French', 'translate "…" into French'),
    ("「ありがとう」をメモして", "「…」をメモして"),
    ("メモ：牛乳と卵を買う", "メモ：…"),
    ("Q: what is love and why", "Q: …"),
    ("it said 'lovely hedge' and 'nice' twice", "it said '…' and '…' twice"),
])
def test_frame_leaves_out_the_dictated_part(text: str, expected: str) -> None:
    assert frame(text) == expected


@pytest.mark.parametrize("text", [
    "remind me at 6:30 to call mom",  # a time
    "open https://example.com/a b c",  # an address
    "what's the weather in Kyoto tomorrow?",  # nothing dictated
    "fix: it",  # a one-word tail
    "one two three four five six seven eight nine: ten eleven",  # a long head
    "",
])
def test_frame_is_none_where_nothing_is_dictated(text: str) -> None:
    assert frame(text) is None


def _scripted(rows: dict[str, list[float]]):
    def raw(texts):
        out = np.array([rows[t] for t in texts], dtype=np.float32)
        return out / np.linalg.norm(out, axis=1, keepdims=True)
    return raw


def test_with_kana_blends_or_replaces_a_texts_row_with_its_frame() -> None:
    raw = _scripted({"note: buy milk now": [1.0, 0.0], "note: …": [0.0, 1.0],
                     "hello there": [0.6, 0.8]})
    texts = ["note: buy milk now", "hello there"]
    off = with_kana(raw, texts)
    assert np.allclose(off, [[1, 0], [0.6, 0.8]])
    blend = with_kana(raw, texts, frame="blend")
    assert np.allclose(blend[0], [2 ** -0.5, 2 ** -0.5]) and np.allclose(blend[1], off[1])
    replace = with_kana(raw, texts, frame="replace")
    assert np.allclose(replace, [[0, 1], [0.6, 0.8]])


def test_policy_keeps_its_frame_through_json() -> None:
    assert Policy.from_json({"new_margin": 0.1}).frame == "off"
    assert Policy.from_json(Policy(frame="blend").to_json()).frame == "blend"


def test_an_unknown_frame_mode_is_a_configuration_error() -> None:
    from funcgemma.encoder.models import load

    with pytest.raises(ConfigurationError, match="frame mode 'sideways'"):
        load("use", frame="sideways")


@pytest.mark.llamacpp
def test_the_real_encoder_reads_a_dictated_text_nearer_its_kind() -> None:
    """USE itself: with the frame blended in, two notes about unrelated things sit nearer
    each other than as typed, a text with nothing dictated reads the same, and the
    index's cache key tells the modes apart."""
    from funcgemma.encoder.index import Exemplar, ExemplarIndex
    from funcgemma.encoder.models import load

    plain, blend = load("use"), load("use", frame="blend")
    notes = ["new note: call the insurer about the cracked windshield",
             "new note: grandma's birthday cake needs more sugar"]
    a, b = plain.encode(notes)
    c, d = blend.encode(notes)
    assert float(c @ d) > float(a @ b) + 0.05
    same = "what's the weather in Kyoto tomorrow?"
    assert np.allclose(plain.encode([same]), blend.encode([same]), atol=1e-6)
    exemplars = [Exemplar("create_note", notes[0]), Exemplar(None, "hello")]
    assert ExemplarIndex(plain, exemplars).key != ExemplarIndex(blend, exemplars).key
