"""The documentation site builds strictly (`mkdocs build --strict`: a broken link, a missing anchor or
a page left out of the nav fails it, and each really does), every page is in the nav, and the README
fits a screen and links only to what exists."""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mkdocs.config import load_config

from tests.docs.pages import DOCS, FAILURES, MKDOCS_CONFIG, README, ROOT

README_MAX_LINES = 250


def build(config: Path, site: Path) -> subprocess.CompletedProcess[str]:
    """`mkdocs build --strict`, as CI's pages job runs it (Material's end-of-life notice silenced)."""
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(config), "-d", str(site)],
        cwd=config.parent,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )


def test_the_site_builds_strictly(tmp_path):
    result = build(MKDOCS_CONFIG, tmp_path / "site")
    assert result.returncode == 0, result.stdout + result.stderr
    for page in ("index.html", "operators/iam/index.html", "api/search/index.html", "decisions/index.html"):
        assert (tmp_path / "site" / page).is_file(), page


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        (("index.md", "\n[a page](operators/no-such-page.md)\n"), "no-such-page.md"),
        (("index.md", "\n[a section](operators/iam.md#no-such-section)\n"), "#no-such-section"),
        (("orphan.md", "# A page nobody links\n"), "orphan.md"),
    ],
    ids=["broken-link", "broken-anchor", "page-not-in-nav"],
)
def test_a_broken_link_or_a_page_outside_the_nav_fails_the_build(tmp_path, change, complaint):
    copy_site_sources(tmp_path)
    name, text = change
    with (tmp_path / "docs" / name).open("a") as page:
        page.write(text)
    result = build(tmp_path / MKDOCS_CONFIG.name, tmp_path / "site")
    assert result.returncode != 0
    assert complaint in result.stdout + result.stderr


def test_a_missing_bench_table_fails_the_build(tmp_path):
    copy_site_sources(tmp_path)
    (tmp_path / "bench" / "results" / "ingest.md").unlink()
    result = build(tmp_path / MKDOCS_CONFIG.name, tmp_path / "site")
    assert result.returncode != 0
    assert "bench/results/ingest.md" in result.stdout + result.stderr


def copy_site_sources(folder: Path) -> None:
    """What the site is built from: mkdocs.yml, docs/ and the benches' tables it includes."""
    shutil.copy(MKDOCS_CONFIG, folder / MKDOCS_CONFIG.name)
    shutil.copytree(DOCS, folder / "docs")
    shutil.copytree(ROOT / "bench" / "results", folder / "bench" / "results")


def nav_pages(nav: Any) -> Iterator[str]:
    """Every page file the nav names, however deeply nested."""
    if isinstance(nav, str):
        yield nav
    elif isinstance(nav, list):
        for item in nav:
            yield from nav_pages(item)
    elif isinstance(nav, dict):
        for value in nav.values():
            yield from nav_pages(value)


def test_every_page_is_in_the_nav_and_every_nav_entry_is_a_page():
    listed = list(nav_pages(load_config(str(MKDOCS_CONFIG))["nav"]))
    pages = {path.relative_to(DOCS).as_posix() for path in DOCS.rglob("*.md")}
    assert len(listed) == len(set(listed)), "a page is in the nav twice"
    assert set(listed) == pages, {"not in the nav": pages - set(listed), "no such page": set(listed) - pages}


def test_the_readme_fits_a_screen():
    lines = README.read_text().splitlines()
    assert len(lines) <= README_MAX_LINES, f"README.md has {len(lines)} lines; at most {README_MAX_LINES}"


def test_the_readme_sets_up_with_two_commands():
    set_up = README.read_text().split("## Set-up", 1)[1].split("\n## ", 1)[0]
    (block,) = re.findall(r"```bash\n(.*?)```", set_up, re.S)
    assert [line.split("#")[0].strip() for line in block.splitlines()] == ["make demo", "make test"]


def test_the_readmes_links_reach_files_that_exist():
    """MkDocs checks the site's links; the README is not part of the site, so its own are checked here."""
    links = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", README.read_text())
    local = [link for link in links if not re.match(r"[a-z]+://", link)]
    assert local
    assert [link for link in local if not (ROOT / link).exists()] == []


def test_every_test_the_failures_page_names_exists():
    """Each row of "When things fail" is a test: a renamed or deleted test must not leave a row
    pointing at nothing. A bare name is a test of the last file the row named, or of any."""
    everywhere = _test_names(*(ROOT / "tests").rglob("test_*.py"))
    named = 0
    for row in (line for line in FAILURES.read_text().splitlines() if line.startswith("| ")):
        tests = everywhere
        for reference in re.findall(r"`(tests/[\w/]+\.py(?:::\w+)?|test_\w+)`", row):
            path, _, name = reference.rpartition("::") if "::" in reference else ("", "", reference)
            if reference.startswith("tests/"):
                path = reference.partition("::")[0]
                assert (ROOT / path).is_file(), f"{path} does not exist ({row[:60]}…)"
                tests = _test_names(ROOT / path)
                name = reference.partition("::")[2]
            if name:
                assert name in tests, f"{name} does not exist where the row says ({row[:60]}…)"
                named += 1
    assert named > 50  # the page's tables were read


def _test_names(*modules: Path) -> set[str]:
    return {
        node.name
        for module in modules
        for node in ast.walk(ast.parse(module.read_text()))
        if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")
    }
