"""The layers hold: the service never imports the lab, backends never import what is built
on them, and importing the service loads neither the lab nor the training stacks."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
SERVICE = SRC / "funcgemma"
# what backends/ is built under: none of these may be imported from there
ABOVE_BACKENDS = ("funcgemma.router", "funcgemma.conversation", "funcgemma.api")
NOT_LOADED_BY_THE_SERVICE = ("funcgemma_lab", "torch", "transformers", "matplotlib")


def module_name(path: Path, root: Path = SRC) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(path: Path, root: Path = SRC) -> set[str]:
    """Every module ``path`` imports, absolute: relative imports resolved, and for
    ``from X import a`` both X and X.a (``a`` may be a submodule). TYPE_CHECKING-only
    imports count too: a layer does not name what sits above it."""
    package = module_name(path, root).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def violations(folder: Path, forbidden: tuple[str, ...], root: Path = SRC) -> list[str]:
    return sorted(f"{module_name(path, root)} imports {name}"
                  for path in folder.rglob("*.py")
                  for name in imported(path, root)
                  if any(name == f or name.startswith(f + ".") for f in forbidden))


def test_layers_scan_resolves_relative_and_absolute_imports(tmp_path: Path) -> None:
    pkg = tmp_path / "funcgemma" / "backends"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("from .. import router\n", "utf-8")
    (pkg / "one.py").write_text("from ..api.errors import X\nfrom ..types import Message\n"
                                "import funcgemma_lab.metrics\n", "utf-8")
    (pkg / "two.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                                "    from ..conversation import Conversation\n", "utf-8")
    assert violations(pkg, ABOVE_BACKENDS, tmp_path) == [
        "funcgemma.backends imports funcgemma.router",
        "funcgemma.backends.one imports funcgemma.api.errors",
        "funcgemma.backends.one imports funcgemma.api.errors.X",
        "funcgemma.backends.two imports funcgemma.conversation",
        "funcgemma.backends.two imports funcgemma.conversation.Conversation",
    ]
    assert violations(pkg, ("funcgemma_lab",), tmp_path) == [
        "funcgemma.backends.one imports funcgemma_lab.metrics"]


def test_layers_the_service_never_imports_the_lab() -> None:
    assert list(SERVICE.rglob("*.py")), "no service modules found"
    assert violations(SERVICE, ("funcgemma_lab",)) == []


def test_layers_backends_import_nothing_built_on_them() -> None:
    assert list((SERVICE / "backends").rglob("*.py")), "no backend modules found"
    assert violations(SERVICE / "backends", ABOVE_BACKENDS) == []


@pytest.mark.parametrize("module", [
    "funcgemma.api.app", "funcgemma.cli", "funcgemma.router", "funcgemma.conversation",
])
def test_layers_importing_the_service_loads_no_lab_and_no_training_stack(module: str) -> None:
    probe = (f"import json, sys\nimport {module}\n"
             f"tops = {{name.split('.')[0] for name in sys.modules}}\n"
             f"print(json.dumps(sorted(tops & {set(NOT_LOADED_BY_THE_SERVICE)!r})))\n")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []
