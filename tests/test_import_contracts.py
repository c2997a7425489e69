"""The house rules in .importlinter hold, and `lint-imports` really fails when one is broken."""

from __future__ import annotations

import configparser
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
PACKAGES = (
    "clipsearch",
    "lambda_clip",
    "lambda_search",
    "lambda_batch",
    "lambda_extract",
    "deployment",
    "stacks",
    "local",
    "scripts",
)


def contracts() -> configparser.ConfigParser:
    parser = configparser.ConfigParser()
    parser.read(ROOT / ".importlinter")
    return parser


def lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), str(tree / ".importlinter"), "--no-cache"],
        cwd=tree,
        env={**os.environ, "PYTHONPATH": str(tree)},
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.fixture
def tree_copy(tmp_path: Path) -> Path:
    """The repository's Python packages (sources only) and the contracts, in a folder of their own."""
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / ".importlinter", tmp_path / ".importlinter")
    return tmp_path


def test_the_copied_tree_keeps_every_contract(tree_copy: Path):
    result = lint_imports(tree_copy)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("module", "source", "broken"),
    [
        (
            "clipsearch/index/probe.py",
            "from clipsearch.search import service\n",
            "clipsearch: each function's logic on top",
        ),
        ("clipsearch/clip/probe.py", "from clipsearch.batch import service\n", "clipsearch: each function"),
        ("lambda_search/probe.py", "from clipsearch.index import memory\n", "lambda_search uses only"),
        ("clipsearch/cache/probe.py", "import aws_cdk\n", "clipsearch (the images' code)"),
        ("local/probe.py", "from stacks import search_stack\n", "deployment, local and scripts never"),
    ],
)
def test_a_deliberate_violation_breaks_its_contract(tree_copy: Path, module: str, source: str, broken: str):
    (tree_copy / module).write_text(source)
    result = lint_imports(tree_copy)
    assert result.returncode != 0
    _, _, report = result.stdout.partition("Broken contracts")
    assert broken in report, result.stdout  # that contract is the one broken, and it says where
    assert module.removesuffix(".py").replace("/", ".") in report


def test_each_handler_is_kept_from_every_package_but_its_own_and_the_plumbing():
    """A new clipsearch package is forbidden to the handlers until a contract says otherwise."""
    packages = {
        f"clipsearch.{p.name}" for p in (ROOT / "clipsearch").iterdir() if (p / "__init__.py").exists()
    }
    modules = {f"clipsearch.{p.stem}" for p in (ROOT / "clipsearch").glob("*.py") if p.stem != "__init__"}
    for function in ("clip", "search", "batch", "extract"):
        forbidden = set(contracts()[f"importlinter:contract:{function}-handler"]["forbidden_modules"].split())
        assert forbidden == (packages | modules) - {f"clipsearch.{function}", "clipsearch.runtime"}, function


def test_the_architecture_page_is_drawn_from_the_code_as_it_is():
    from scripts.architecture import main

    assert main(["--check"]) == 0, "run: python -m scripts.architecture"


def test_importing_every_local_tool_loads_no_cdk():
    """The static contract above, seen at run time: no local tool starts jsii's Node process."""
    tools = sorted(f"local.{path.stem}" for path in (ROOT / "local").glob("*.py") if path.stem != "__init__")
    code = (
        f"import {', '.join(tools)}, sys\n"
        "cdk = ('aws_cdk', 'jsii', 'constructs', 'stacks')\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in cdk)\n"
        "print(loaded)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
