"""ggufcheck: a model or adapter file llama.cpp would choke on is refused in one line
before it is loaded (a bad adapter used to start fine and kill the process with SIGSEGV
at the first request)."""

from __future__ import annotations

import io
import os
import random
import shutil
import socket
import struct
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from funcgemma import cli, weights
from funcgemma.backends import ggufcheck
from funcgemma.diagnose import unusable
from funcgemma.errors import ConfigurationError
from funcgemma.settings import Settings

F32 = 0
Tensors = dict[str, tuple[tuple[int, ...], int]]  # name -> (ggml shape, ggml type)


def _string(text: str) -> bytes:
    raw = text.encode()
    return struct.pack("<Q", len(raw)) + raw


def _kv(key: str, value: Any) -> bytes:
    if isinstance(value, str):
        return _string(key) + struct.pack("<I", 8) + _string(value)
    if isinstance(value, float):
        return _string(key) + struct.pack("<If", 6, value)
    if isinstance(value, list):  # of strings, like tokenizer.ggml.tokens
        return (
            _string(key)
            + struct.pack("<IIQ", 9, 8, len(value))
            + b"".join(_string(v) for v in value)
        )
    return _string(key) + struct.pack("<II", 4, value)


def gguf_bytes(meta: dict[str, Any], tensors: Tensors, *, version: int = 3) -> bytes:
    """A GGUF file as llama.cpp writes it: header, tensor table, then each tensor's data
    at an offset aligned to 32 bytes (the data of the last one ends the file)."""
    head = b"GGUF" + struct.pack("<IQQ", version, len(tensors), len(meta))
    head += b"".join(_kv(k, v) for k, v in meta.items())
    data = b""
    for name, (shape, gtype) in tensors.items():
        data += b"\0" * (-len(data) % 32)
        head += _string(name) + struct.pack(
            f"<I{len(shape)}QIQ", len(shape), *shape, gtype, len(data)
        )
        block, size = ggufcheck.GGML_TYPES.get(gtype, (1, 4))
        n = 1
        for d in shape:
            n *= d
        data += b"\x01" * (n // block * size)
    return head + b"\0" * (-len(head) % 32) + data


BASE_TENSORS: Tensors = {
    "token_embd.weight": ((8, 16), F32),  # ne = [n_embd, n_vocab]
    "blk.0.attn_norm.weight": ((8,), F32),
    "blk.0.attn_q.weight": ((8, 8), F32),
    "blk.0.ffn_up.weight": ((8, 12), F32),  # 8 in, 12 out
}
BASE_META: dict[str, Any] = {
    "general.architecture": "gemma3",
    "general.type": "model",
    "tokenizer.ggml.tokens": [f"t{i}" for i in range(16)],
}
LORA_TENSORS: Tensors = {
    "token_embd.weight.lora_a": ((2, 16), F32),  # token embeddings: stored flipped
    "token_embd.weight.lora_b": ((2, 8), F32),
    "blk.0.attn_q.weight.lora_a": ((8, 2), F32),
    "blk.0.attn_q.weight.lora_b": ((2, 8), F32),
    "blk.0.ffn_up.weight.lora_a": ((8, 2), F32),
    "blk.0.ffn_up.weight.lora_b": ((2, 12), F32),
}
LORA_META: dict[str, Any] = {
    "general.architecture": "gemma3",
    "general.type": "adapter",
    "adapter.type": "lora",
    "adapter.lora.alpha": 16.0,
}


def _adapter(
    meta: dict[str, Any] | None = None, tensors: Tensors | None = None, **changes: Any
) -> bytes:
    m = dict(LORA_META if meta is None else meta)
    for key, value in changes.items():
        key = key.replace("__", ".")
        if value is None:
            m.pop(key, None)
        else:
            m[key] = value
    return gguf_bytes(m, LORA_TENSORS if tensors is None else tensors)


def _retyped(name: str, shape: tuple[int, ...], gtype: int = F32) -> Tensors:
    return {**LORA_TENSORS, name: (shape, gtype)}


def _without(name: str) -> Tensors:
    return {k: v for k, v in LORA_TENSORS.items() if k != name}


VALID = _adapter()


def _with_version(version: int) -> bytes:
    return VALID[:4] + struct.pack("<I", version) + VALID[8:]


@pytest.fixture
def base(tmp_path: Path) -> Path:
    path = tmp_path / "base.gguf"
    path.write_bytes(gguf_bytes(BASE_META, BASE_TENSORS))
    return path


BAD_ADAPTERS: list[tuple[str, Callable[[], bytes], str]] = [
    (
        "not_gguf",
        lambda: b"127.0.0.1 localhost\n::1 localhost\n",
        "is not a GGUF file (no GGUF magic)",
    ),
    ("empty", lambda: b"", "is not a GGUF file (no GGUF magic)"),
    ("magic_only", lambda: b"GGUF", "cut short in the version"),
    ("truncated_header", lambda: VALID[:60], "not a valid GGUF file: the tensor count says 6"),
    (
        "gguf_junk",
        lambda: b"GGUF" + bytes(random.Random(7).randrange(256) for _ in range(500)),
        "not a valid GGUF file",
    ),
    ("gguf_v3_junk", lambda: b"GGUF\x03\0\0\0" + b"\xff" * 200, "more than the file holds"),
    ("version_1", lambda: _with_version(1), "GGUF version 1, not 2 or 3"),
    ("big_endian", lambda: _with_version(3 << 24), "big-endian"),
    (
        "not_an_adapter",
        lambda: _adapter(general__type="model"),
        "general.type is 'model', not 'adapter'",
    ),
    ("no_general_type", lambda: _adapter(general__type=None), "general.type is None"),
    (
        "not_lora",
        lambda: _adapter(adapter__type="control_vector"),
        "adapter.type is 'control_vector', not 'lora'",
    ),
    (
        "wrong_architecture",
        lambda: _adapter(general__architecture="llama"),
        "made for 'llama', the model is 'gemma3'",
    ),
    (
        "tensor_not_in_base",
        lambda: _adapter(
            tensors={
                **LORA_TENSORS,
                "blk.9.attn_q.weight.lora_a": ((8, 2), F32),
                "blk.9.attn_q.weight.lora_b": ((2, 8), F32),
            }
        ),
        "'blk.9.attn_q.weight' is not a tensor of the model",
    ),
    (
        "input_dim_mismatch",
        lambda: _adapter(tensors=_retyped("blk.0.ffn_up.weight.lora_a", (16, 2))),
        "'blk.0.ffn_up.weight': lora_a",
    ),
    (
        "output_dim_mismatch",
        lambda: _adapter(tensors=_retyped("blk.0.ffn_up.weight.lora_b", (2, 8))),
        "do not fit the model's (8, 12, 1, 1)",
    ),
    (
        "rank_mismatch",
        lambda: _adapter(tensors=_retyped("blk.0.attn_q.weight.lora_b", (3, 8))),
        "ranks of lora_a",
    ),
    (
        "embd_mismatch",
        lambda: _adapter(tensors=_retyped("token_embd.weight.lora_a", (2, 32))),
        "'token_embd.weight': lora_a",
    ),
    (
        "half_a_pair",
        lambda: _adapter(tensors=_without("blk.0.attn_q.weight.lora_b")),
        "'blk.0.attn_q.weight' has no .lora_b tensor",
    ),
    (
        "odd_tensor",
        lambda: _adapter(tensors={**LORA_TENSORS, "output.weight": ((8, 16), F32)}),
        "'output.weight' is not a .lora_a or .lora_b tensor",
    ),
    ("no_tensors", lambda: _adapter(tensors={}), "it has no LoRA tensors"),
    (
        "unknown_tensor_type",
        lambda: _adapter(tensors=_retyped("blk.0.attn_q.weight.lora_b", (2, 8), 99)),
        "unknown type 99",
    ),
    (
        "bad_block",
        lambda: _adapter(tensors=_retyped("blk.0.attn_q.weight.lora_b", (2, 8), 8)),
        "impossible shape",
    ),  # Q8_0 rows of 32
    ("truncated_data", lambda: VALID[:-4], "lies outside the file (truncated?)"),
    (
        "duplicate_key",
        lambda: VALID.replace(_string("adapter.type"), _string("general.type")),
        "appears twice",
    ),
    ("bad_alignment", lambda: _adapter(general__alignment=24), "not a power of two"),
    (
        "long_name",
        lambda: _adapter(tensors={**LORA_TENSORS, "x" * 70 + ".lora_a": ((8, 2), F32)}),
        "has too long a name",
    ),
]


@pytest.mark.parametrize(
    ("case", "make", "expected"), BAD_ADAPTERS, ids=[c[0] for c in BAD_ADAPTERS]
)
def test_check_adapter_refuses_in_one_line(
    tmp_path: Path, base: Path, case: str, make: Callable[[], bytes], expected: str
) -> None:
    path = tmp_path / f"{case}.gguf"
    path.write_bytes(make())
    model = ggufcheck.check_model(base, "the model")
    with pytest.raises(ConfigurationError) as info:
        ggufcheck.check_adapter(path, f"FUNCGEMMA_ROUTER_LORA={path}", model, "the model")
    message = info.value.message
    assert message.startswith(f"FUNCGEMMA_ROUTER_LORA={path} is not ")
    assert expected in message
    assert "\n" not in message


def test_check_adapter_names_from_the_file_stay_on_one_line(tmp_path: Path) -> None:
    path = tmp_path / "nl.gguf"
    path.write_bytes(b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + _string("bad\nkey") + b"\4\0\0\0")
    with pytest.raises(ConfigurationError) as info:
        ggufcheck.check_adapter(path, "x", None, "b")
    assert info.value.message == (
        "x is not a valid GGUF file: cut short in metadata 'bad\\nkey', at byte 43"
    )


def test_check_adapter_accepts_a_fitting_adapter(tmp_path: Path, base: Path) -> None:
    path = tmp_path / "ok.gguf"
    path.write_bytes(VALID)
    header = ggufcheck.check_adapter(path, "x", ggufcheck.check_model(base, "b"), "b")
    assert header.architecture == "gemma3"
    assert header.tensors["blk.0.ffn_up.weight.lora_b"].shape == (2, 12, 1, 1)
    assert header.metadata["adapter.lora.alpha"] == 16.0


def test_check_adapter_without_base_checks_the_adapter_alone(tmp_path: Path) -> None:
    path = tmp_path / "a.gguf"
    path.write_bytes(_adapter(general__architecture="llama"))
    assert ggufcheck.check_adapter(path, "x", None, "b").architecture == "llama"
    path.write_bytes(_adapter(tensors=_retyped("blk.0.attn_q.weight.lora_b", (3, 8))))
    with pytest.raises(ConfigurationError, match="ranks"):
        ggufcheck.check_adapter(path, "x", None, "b")


@pytest.mark.slow
def test_read_header_refuses_every_truncation(tmp_path: Path) -> None:
    """Every prefix of a valid file is refused with Malformed: no struct.error,
    IndexError or any other exception from a file that ends too soon."""
    path = tmp_path / "cut.gguf"
    for n in range(len(VALID)):
        path.write_bytes(VALID[:n])
        with pytest.raises(ggufcheck.Malformed):
            ggufcheck.read_header(path)


def test_read_header_survives_corrupted_bytes(tmp_path: Path) -> None:
    """Random damage to a valid file gives a header or Malformed, never another error."""
    rng = random.Random(3)
    path = tmp_path / "flipped.gguf"
    refused = 0
    for _ in range(300):
        data = bytearray(VALID)
        for _ in range(rng.randint(1, 4)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        path.write_bytes(bytes(data))
        try:
            ggufcheck.read_header(path)
        except ggufcheck.Malformed:
            refused += 1
    assert refused > 30  # the damage reached the header often enough to matter


@pytest.mark.parametrize(
    ("meta", "expected"),
    [
        ({"general.type": "model"}, "is not a model GGUF (no general.architecture)"),
        (LORA_META, "is a LoRA adapter, not a model"),
    ],
)
def test_check_model_refuses_what_is_not_a_model(
    tmp_path: Path, meta: dict[str, Any], expected: str
) -> None:
    path = tmp_path / "m.gguf"
    path.write_bytes(gguf_bytes(meta, BASE_TENSORS))
    with pytest.raises(ConfigurationError) as info:
        ggufcheck.check_model(path, "FUNCGEMMA_CHAT_GGUF=m")
    assert info.value.message == f"FUNCGEMMA_CHAT_GGUF=m {expected}"


def test_check_model_refuses_a_truncated_model(tmp_path: Path) -> None:
    path = tmp_path / "m.gguf"
    path.write_bytes(gguf_bytes(BASE_META, BASE_TENSORS)[:-1])
    with pytest.raises(
        ConfigurationError,
        match=r"^FUNCGEMMA_CHAT_GGUF=m is not a valid GGUF "
        r"file: tensor 'blk.0.ffn_up.weight' lies outside the file",
    ):
        ggufcheck.check_model(path, "FUNCGEMMA_CHAT_GGUF=m")


@pytest.mark.training
def test_read_header_agrees_with_gguf_writer(tmp_path: Path) -> None:
    """A file written by llama.cpp's own writer (gguf-py) reads back as written, and our
    type table matches gguf-py's."""
    gguf = pytest.importorskip("gguf")
    import numpy as np

    path = tmp_path / "w.gguf"
    writer = gguf.GGUFWriter(str(path), "gemma3")
    writer.add_type("adapter")
    writer.add_string("adapter.type", "lora")
    writer.add_tensor("blk.0.attn_q.weight.lora_a", np.ones((2, 8), dtype=np.float32))
    writer.add_tensor("blk.0.attn_q.weight.lora_b", np.ones((8, 2), dtype=np.float16))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    header = ggufcheck.read_header(path)
    assert header.architecture == "gemma3"
    assert header.tensors["blk.0.attn_q.weight.lora_a"].shape == (8, 2, 1, 1)
    assert header.tensors["blk.0.attn_q.weight.lora_b"].nbytes == 2 * 8 * 2
    sizes = {int(t): v for t, v in gguf.GGML_QUANT_SIZES.items()}
    assert {t: sizes[t] for t in ggufcheck.GGML_TYPES} == ggufcheck.GGML_TYPES


def _settings(tmp_path: Path, base: Path, lora_bytes: bytes) -> Settings:
    lora = tmp_path / "lora.gguf"
    lora.write_bytes(lora_bytes)
    return Settings(router_gguf=base, chat_gguf=base, router_lora=lora)


def test_weights_checked_names_the_setting(tmp_path: Path, base: Path) -> None:
    settings = _settings(tmp_path, base, b"GGUF" + b"\x07" * 64)
    with pytest.raises(ConfigurationError) as info:
        weights.checked(settings)
    assert info.value.message.startswith(
        f"FUNCGEMMA_ROUTER_LORA={tmp_path / 'lora.gguf'} is not a valid GGUF file: GGUF version"
    )
    ok = _settings(tmp_path, base, VALID)
    assert weights.checked(ok) == (base, tmp_path / "lora.gguf", base)


def test_weights_describe_reports_a_bad_adapter(tmp_path: Path, base: Path) -> None:
    settings = _settings(tmp_path, base, b"127.0.0.1 localhost\n")
    report = weights.describe(settings)
    assert report["router"]["architecture"] == "gemma3"
    assert report["router_lora"] == {
        "error": f"FUNCGEMMA_ROUTER_LORA={tmp_path / 'lora.gguf'} "
        "is not a GGUF file (no GGUF magic)"
    }
    problem = unusable("llamacpp", {}, {"installed": True, "weights": report})
    assert problem is not None and "FUNCGEMMA_ROUTER_LORA" in problem


def test_weights_describe_names_a_bad_default_adapter(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, base: Path
) -> None:
    """The shipped adapter is checked too, and the fix offered is to go without it."""
    fake = tmp_path / "shipped.gguf"
    fake.write_bytes(_adapter(general__architecture="llama"))
    monkeypatch.setattr(weights, "router_lora", lambda settings: fake)
    report = weights.describe(Settings(router_gguf=base, chat_gguf=base))
    assert report["router_lora"]["error"] == (
        f"the shipped router adapter {fake} is not a LoRA adapter for "
        f"FUNCGEMMA_ROUTER_GGUF={base}: it was made for 'llama', the model is 'gemma3' "
        "(reinstall funcgemma, or set FUNCGEMMA_USE_DEFAULT_ADAPTER=false)"
    )


def test_cli_route_refuses_a_bad_adapter_before_loading(
    tmp_path: Path, base: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.0.1 localhost\n")
    monkeypatch.setenv("FUNCGEMMA_ROUTER_GGUF", str(base))
    monkeypatch.setenv("FUNCGEMMA_ROUTER_LORA", str(hosts))
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(["--backend", "llamacpp", "route", "hi"], stdout=out, stderr=err)
    assert code == 1
    assert err.getvalue() == (
        f"funcgemma: FUNCGEMMA_ROUTER_LORA={hosts} is not a GGUF file (no GGUF magic)\n"
    )
    assert out.getvalue() == ""


# -- the real weights and the real process ---------------------------------------------


@pytest.mark.llamacpp
def test_check_adapter_accepts_the_shipped_adapter_on_the_real_model() -> None:
    base_path = weights.router_gguf(Settings())
    base = ggufcheck.check_model(base_path, "router")
    adapter = ggufcheck.check_adapter(weights.DEFAULT_ADAPTER, "shipped", base, "router")
    assert adapter.architecture == base.architecture == "gemma3"
    assert len(adapter.tensors) > 10
    ggufcheck.check_model(weights.chat_gguf(Settings()), "chat")


FUNCGEMMA = str(Path(sys.executable).with_name("funcgemma"))


def _run(args: list[str], lora: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FUNCGEMMA_")}
    env.update(
        FUNCGEMMA_ROUTER_LORA=str(lora),
        FUNCGEMMA_DATA_DIR=str(lora.parent / "data"),
        FUNCGEMMA_OLLAMA_HOST="http://127.0.0.1:9",
    )
    return subprocess.run(
        [FUNCGEMMA, "--backend", "llamacpp", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _bad_files(tmp_path: Path) -> list[Path]:
    junk = tmp_path / "junk.gguf"
    junk.write_bytes(b"GGUF" + bytes(random.Random(1).randrange(256) for _ in range(4096)))
    hosts = Path("/etc/hosts")
    if not hosts.is_file():
        hosts = tmp_path / "hosts"
        shutil.copyfile(__file__, hosts)
    return [hosts, junk]


@pytest.mark.slow
@pytest.mark.llamacpp
def test_cli_route_with_a_bad_adapter_exits_with_one_line(tmp_path: Path) -> None:
    for lora in _bad_files(tmp_path):
        proc = _run(["route", "hi"], lora)
        assert proc.returncode == 1, (proc.returncode, proc.stderr)  # not -11 (SIGSEGV)
        assert proc.stdout == ""
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and f"FUNCGEMMA_ROUTER_LORA={lora} is not " in lines[0]


@pytest.mark.slow
@pytest.mark.llamacpp
def test_cli_doctor_with_a_bad_adapter_exits_1(tmp_path: Path) -> None:
    lora = _bad_files(tmp_path)[1]
    proc = _run(["doctor"], lora)
    assert proc.returncode == 1, proc.stderr
    assert f"no usable backend: FUNCGEMMA_ROUTER_LORA={lora} is not a valid GGUF" in proc.stdout


@pytest.mark.slow
@pytest.mark.llamacpp
def test_cli_serve_with_a_bad_adapter_exits_at_start(tmp_path: Path) -> None:
    """It exits by itself (a TimeoutExpired here would mean it went on to serve)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = _run(["serve", "--port", str(port)], _bad_files(tmp_path)[0], timeout=60)
    assert proc.returncode == 1, proc.stderr
    assert "FUNCGEMMA_ROUTER_LORA=" in proc.stderr and "listening" not in proc.stderr
