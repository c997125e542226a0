"""Check a GGUF file before llama.cpp loads it.

llama-cpp-python can take the whole process down natively on a file that is not what it
expects (a LoRA adapter that is not one was accepted at start and crashed the first
request with SIGSEGV), so every model and adapter is read here first and refused with
one line that names the setting. Only the header and the tensor table are read, through
a read-only mmap: tensor data is never touched, and a 250 MB model takes a fraction of a
second. Pure functions, nothing cached. The rules are llama.cpp's own (gguf.cpp and
llama-adapter.cpp), written out so that what llama.cpp would refuse is refused here.
"""

from __future__ import annotations

import mmap
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigurationError

MAGIC = b"GGUF"
VERSIONS = (2, 3)  # what llama.cpp reads (version 1 had 32-bit counts)
MAX_DIMS = 4
MAX_NAME = 64  # GGML_MAX_NAME, with its terminating NUL

# ggml type id -> (elements per block, bytes per block), as gguf-py's GGML_QUANT_SIZES
# fmt: off
GGML_TYPES: dict[int, tuple[int, int]] = {
    0: (1, 4), 1: (1, 2), 2: (32, 18), 3: (32, 20), 6: (32, 22), 7: (32, 24), 8: (32, 34),
    9: (32, 40), 10: (256, 84), 11: (256, 110), 12: (256, 144), 13: (256, 176),
    14: (256, 210), 15: (256, 292), 16: (256, 66), 17: (256, 74), 18: (256, 98),
    19: (256, 50), 20: (32, 18), 21: (256, 110), 22: (256, 82), 23: (256, 136), 24: (1, 1),
    25: (1, 2), 26: (1, 4), 27: (1, 8), 28: (1, 8), 29: (256, 56), 30: (1, 2),
    34: (256, 54), 35: (256, 66), 39: (32, 17),
}
# GGUF value type id -> struct format of a scalar (8 is a string, 9 an array)
_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?",
            10: "<Q", 11: "<q", 12: "<d"}
# fmt: on
_U64 = struct.Struct("<Q")


class Malformed(ValueError):
    """What is wrong with a file, in a few words on one line (the caller names the file):
    names read from the file are shown with repr, which escapes line breaks."""


class NotGGUF(Malformed):
    """The file does not start with the GGUF magic."""


@dataclass(frozen=True)
class Tensor:
    shape: tuple[int, int, int, int]  # ggml order: ne[0] (a row's length) first
    nbytes: int


@dataclass(frozen=True)
class Header:
    metadata: dict[str, Any]  # scalars and strings; arrays are read past, kept as None
    tensors: dict[str, Tensor]

    @property
    def architecture(self) -> str | None:
        arch = self.metadata.get("general.architecture")
        return arch if isinstance(arch, str) else None


class _Reader:
    def __init__(self, buf: mmap.mmap) -> None:
        self.buf, self.pos, self.end = buf, 0, len(buf)

    def skip(self, n: int, what: str) -> int:
        if n > self.end - self.pos:
            raise Malformed(f"cut short in {what}, at byte {self.pos}")
        self.pos += n
        return self.pos - n

    def unpack(self, fmt: str, what: str) -> Any:
        return struct.unpack_from(fmt, self.buf, self.skip(struct.calcsize(fmt), what))[0]

    def string(self, what: str) -> str:
        n = self.unpack("<Q", what)
        start = self.skip(n, what)
        try:
            return self.buf[start : start + n].decode("utf-8")
        except UnicodeDecodeError as exc:
            raise Malformed(f"{what} is not UTF-8") from exc

    def count(self, least_bytes: int, what: str) -> int:
        """A count of items of at least ``least_bytes`` each, refused at once when the
        rest of the file cannot hold them (junk must not make us loop for long)."""
        n = int(self.unpack("<Q", what))
        if n * least_bytes > self.end - self.pos:
            raise Malformed(f"{what} says {n} items, more than the file holds")
        return n

    def value(self, vtype: int, key: str) -> Any:
        """A metadata value (``key``: the key as shown in errors); arrays skipped, None."""
        if vtype in _SCALARS:
            return self.unpack(_SCALARS[vtype], key)
        if vtype == 8:
            return self.string(key)
        if vtype != 9:
            raise Malformed(f"{key} has unknown value type {vtype}")
        etype = self.unpack("<I", key)
        if etype in _SCALARS:
            self.skip(
                self.count(struct.calcsize(_SCALARS[etype]), key)
                * struct.calcsize(_SCALARS[etype]),
                key,
            )
        elif etype == 8:  # strings: only their lengths are read (262k tokens in Gemma's)
            n, pos, buf, end = self.count(8, key), self.pos, self.buf, self.end
            for _ in range(n):
                if pos + 8 > end:
                    raise Malformed(f"cut short in {key}, at byte {pos}")
                pos += 8 + _U64.unpack_from(buf, pos)[0]
            self.skip(pos - self.pos, key)
        else:
            raise Malformed(f"{key} is an array of unsupported type {etype}")
        return None


def _parse(buf: mmap.mmap) -> Header:
    r = _Reader(buf)
    if r.end < 4 or buf[:4] != MAGIC:
        raise NotGGUF("no GGUF magic")
    r.skip(4, "the magic")
    version = r.unpack("<I", "the version")
    if version not in VERSIONS:
        swapped = int.from_bytes(version.to_bytes(4, "little"), "big")
        raise Malformed(
            "a big-endian GGUF, which llama.cpp here does not read"
            if swapped in VERSIONS
            else f"GGUF version {version}, not 2 or 3"
        )
    n_tensors = r.count(24, "the tensor count")  # header counts read before the kv pairs
    n_kv = r.count(13, "the metadata count")
    metadata: dict[str, Any] = {}
    for _ in range(n_kv):
        key = r.string("a metadata key")
        if key in metadata:
            raise Malformed(f"metadata key {key!r} appears twice")
        what = f"metadata {key!r}"
        metadata[key] = r.value(r.unpack("<I", what), what)
    infos: dict[str, tuple[tuple[int, int, int, int], int, int]] = {}
    for _ in range(n_tensors):
        name = r.string("a tensor name")
        what = f"tensor {name[:MAX_NAME]!r}"
        n_dims = r.unpack("<I", what)
        if len(name.encode()) >= MAX_NAME:
            raise Malformed(f"{what}... has too long a name")
        if n_dims > MAX_DIMS:
            raise Malformed(f"{what} has {n_dims} dimensions")
        ne = struct.unpack_from(f"<{n_dims}Q", buf, r.skip(8 * n_dims, what)) + (1,) * (
            MAX_DIMS - n_dims
        )
        gtype, offset = r.unpack("<I", what), r.unpack("<Q", what)
        if name in infos:
            raise Malformed(f"tensor {name!r} appears twice")
        infos[name] = ((ne[0], ne[1], ne[2], ne[3]), gtype, offset)
    alignment = metadata.get("general.alignment", 32)
    if (
        isinstance(alignment, bool)
        or not isinstance(alignment, int)
        or alignment <= 0
        or (alignment & (alignment - 1))
    ):
        raise Malformed(f"general.alignment {alignment!r} is not a power of two")
    data_start = -(-r.pos // alignment) * alignment
    tensors = {}
    for name, (ne, gtype, offset) in infos.items():
        if gtype not in GGML_TYPES:
            raise Malformed(f"tensor {name!r} has unknown type {gtype}")
        block, size = GGML_TYPES[gtype]
        if ne[0] % block or max(ne) >= 1 << 63 or ne[0] * ne[1] * ne[2] * ne[3] >= 1 << 63:
            raise Malformed(f"tensor {name!r} has an impossible shape {ne}")
        nbytes = ne[0] // block * size * ne[1] * ne[2] * ne[3]
        if offset % alignment or data_start + offset + nbytes > r.end:
            raise Malformed(f"tensor {name!r} lies outside the file (truncated?)")
        tensors[name] = Tensor(ne, nbytes)
    return Header(metadata, tensors)


def read_header(path: Path) -> Header:
    """The header of the GGUF at ``path``; Malformed or OSError when it cannot be read."""
    with path.open("rb") as fh:
        if path.stat().st_size < 4:  # mmap refuses an empty file
            raise NotGGUF("no GGUF magic")
        with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as buf:
            return _parse(buf)


def _read(path: Path, label: str) -> Header:
    try:
        return read_header(path)
    except NotGGUF as exc:
        raise ConfigurationError(f"{label} is not a GGUF file (no GGUF magic)") from exc
    except Malformed as exc:
        raise ConfigurationError(f"{label} is not a valid GGUF file: {exc}") from exc
    except OSError as exc:
        raise ConfigurationError(f"{label} cannot be read: {exc.strerror or exc}") from exc


def check_model(path: Path, label: str) -> Header:
    """Refuse (ConfigurationError naming ``label``, e.g. "FUNCGEMMA_CHAT_GGUF=/x.gguf") a
    file llama.cpp could not load as a model."""
    header = _read(path, label)
    if header.metadata.get("general.type") == "adapter":
        raise ConfigurationError(f"{label} is a LoRA adapter, not a model")
    if header.architecture is None:
        raise ConfigurationError(f"{label} is not a model GGUF (no general.architecture)")
    return header


def lora_mismatch(adapter: Header, base: Header | None) -> str | None:
    """Why the adapter's tensors do not fit ``base`` (None: they do). Without a base only
    what the adapter says of itself is checked: names, pairs and ranks."""
    pairs: dict[str, dict[str, Tensor]] = {}
    for name, tensor in adapter.tensors.items():
        stem, _, part = name.rpartition(".lora_")
        if stem and part in ("a", "b"):
            pairs.setdefault(stem, {})[part] = tensor
        elif not name.endswith("_norm.weight"):  # llama.cpp skips norms, refuses the rest
            return f"tensor {name!r} is not a .lora_a or .lora_b tensor"
    if not pairs:
        return "it has no LoRA tensors"
    for target, pair in sorted(pairs.items()):
        if len(pair) < 2:
            return f"{target!r} has no .lora_{'b' if 'a' in pair else 'a'} tensor"
        a, b = pair["a"].shape, pair["b"].shape
        embd = target == "token_embd.weight"  # stored flipped (llama.cpp's llm_build_inp_embd)
        if (a[0] != b[0]) if embd else (a[1] != b[0] or a[2:] != b[2:]):
            return f"{target!r}: the ranks of lora_a {a} and lora_b {b} differ"
        if base is None:
            continue
        if target not in base.tensors:
            return f"{target!r} is not a tensor of the model"
        w = base.tensors[target].shape
        if (
            (w[0] != b[1] or w[1] != a[1])
            if embd
            else (w[0] != a[0] or w[1] != b[1] or w[2:] != a[2:])
        ):
            return f"{target!r}: lora_a {a} and lora_b {b} do not fit the model's {w}"
    return None


def check_adapter(path: Path, label: str, base: Header | None, base_label: str) -> Header:
    """Refuse a file that is not a LoRA adapter for ``base`` (read with check_model;
    None when the base itself could not be read: the adapter is then checked alone)."""
    header = _read(path, label)
    meta = header.metadata

    def refuse(why: str) -> ConfigurationError:
        return ConfigurationError(f"{label} is not a LoRA adapter for {base_label}: {why}")

    if meta.get("general.type") != "adapter":
        raise refuse(f"general.type is {meta.get('general.type')!r}, not 'adapter'")
    if meta.get("adapter.type") != "lora":
        raise refuse(f"adapter.type is {meta.get('adapter.type')!r}, not 'lora'")
    if base is not None and header.architecture != base.architecture:
        raise refuse(f"it was made for {header.architecture!r}, the model is {base.architecture!r}")
    problem = lora_mismatch(header, base)
    if problem:
        raise refuse(problem)
    return header
