"""The docs: README's links resolve, the MkDocs site builds strictly, the README stays short."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from markdown.extensions.toc import slugify

from funcgemma.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
# the Markdown files outside docs/ whose links are checked (docs/ is checked by mkdocs)
LINKED = ("README.md", "experiments/README.md")
_LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
_FENCE = re.compile(r"^\s*(```|~~~)")


def _outside_code(text: str) -> list[str]:
    lines, fenced = [], False
    for line in text.splitlines():
        if _FENCE.match(line):
            fenced = not fenced
        elif not fenced:
            lines.append(re.sub(r"`[^`]*`", "", line))  # inline code is not a link
    return lines


def links(text: str) -> list[str]:
    """Every link target in Markdown text, outside code."""
    return [m.group(1) for line in _outside_code(text) for m in _LINK.finditer(line)]


def anchors(text: str) -> set[str]:
    """The heading ids MkDocs gives a page (its toc extension's slugify)."""
    ids = set()
    fenced = False
    for line in text.splitlines():
        if _FENCE.match(line):
            fenced = not fenced
        elif not fenced and (m := re.match(r"#{1,6}\s+(.+?)\s*#*\s*$", line)):
            title = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", m.group(1)).replace("`", "")
            ids.add(slugify(title, "-"))
    return ids


def broken_links(page: Path) -> list[str]:
    """The relative links of `page` whose file is missing or whose #anchor is no heading."""
    problems = []
    for target in links(page.read_text(encoding="utf-8")):
        if re.match(r"[a-z][a-z0-9+.-]*:", target, re.I):
            continue  # https:, mailto:
        path_part, _, anchor = target.partition("#")
        path = (page.parent / path_part).resolve() if path_part else page
        if not path.exists():
            problems.append(f"{target}: no such file")
        elif anchor and (path.suffix != ".md"
                         or anchor not in anchors(path.read_text(encoding="utf-8"))):
            problems.append(f"{target}: no heading #{anchor} in {path.name}")
    return problems


@pytest.mark.parametrize("name", LINKED)
def test_docs_every_relative_link_resolves(name: str) -> None:
    page = ROOT / name
    assert links(page.read_text(encoding="utf-8")), f"{name} has no links to check"
    assert broken_links(page) == []


def test_docs_link_check_finds_a_missing_file_and_a_missing_anchor(tmp_path: Path) -> None:
    (tmp_path / "other.md").write_text("# Title\n\n## The `/route` call\n", encoding="utf-8")
    page = tmp_path / "page.md"
    page.write_text("# Page\n[ok](other.md#the-route-call) [ok](#page) [web](https://x.org)\n"
                    "[gone](missing.md) [no anchor](other.md#nowhere) `[code](missing2.md)`\n"
                    "```\n[fenced](missing3.md)\n```\n", encoding="utf-8")
    assert broken_links(page) == ["missing.md: no such file",
                                  "other.md#nowhere: no heading #nowhere in other.md"]


def test_docs_readme_is_at_most_200_lines() -> None:
    lines = (ROOT / "README.md").read_text(encoding="utf-8").count("\n")
    assert lines <= 200, f"README.md has {lines} lines; move detail into docs/"


def test_docs_settings_page_names_every_setting() -> None:
    page = (ROOT / "docs" / "settings.md").read_text(encoding="utf-8")
    missing = [f"FUNCGEMMA_{name.upper()}" for name in Settings.model_fields
               if f"`FUNCGEMMA_{name.upper()}`" not in page]
    assert missing == [], f"docs/settings.md does not list {missing}"


def _mkdocs_build(config: Path, site: Path) -> subprocess.CompletedProcess[str]:
    # not -q: with it mkdocs stops counting warnings, and --strict passes broken links
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(config),
         "-d", str(site)], capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.slow
def test_docs_site_builds_strictly(tmp_path: Path) -> None:
    result = _mkdocs_build(ROOT / "mkdocs.yml", tmp_path / "site")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "site" / "http-api" / "index.html").is_file()


@pytest.mark.slow
def test_docs_strict_build_fails_on_a_broken_anchor(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "docs", tmp_path / "docs")
    shutil.copy(ROOT / "mkdocs.yml", tmp_path / "mkdocs.yml")
    with (tmp_path / "docs" / "index.md").open("a", encoding="utf-8") as f:
        f.write("\n[broken](settings.md#no-such-heading)\n")
    result = _mkdocs_build(tmp_path / "mkdocs.yml", tmp_path / "site")
    assert result.returncode != 0
    assert "no-such-heading" in result.stderr
