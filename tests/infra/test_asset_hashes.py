"""Stable image asset hashes: the Docker assets hold exactly the files the images need.

Synthesizing imports `clipsearch` (bytecode), `make test` leaves `.pyc` files, editors and Finder
leave their own: none of it may change an asset hash, or every deploy rebuilds all three images.
The app is synthesized in a copy of the repository, as a user runs it (`python app.py`, bytecode on).
"""

from __future__ import annotations

import compileall
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.infra.conftest import ROOT

SOURCES = (
    "app.py",
    "cdk.json",
    ".dockerignore",
    "requirements-model.lock",
    "requirements-export.lock",
    "requirements-torch.lock",
    "stacks",
    "deployment",
    "clipsearch",
    "web",  # the page's files (a file asset, not an image)
)
FUNCTIONS = ("lambda_clip", "lambda_search", "lambda_batch", "lambda_extract")
JUNK = (
    ".DS_Store",
    "clipsearch/.DS_Store",
    "clipsearch/__pycache__/stale.cpython-311.pyc",
    "clipsearch/layout.pyc",
    "clipsearch/.layout.py.swp",
    "clipsearch/layout.py~",
    "clipsearch/#layout.py#",
    "lambda_clip/.DS_Store",
    "lambda_search/app.py.orig",
    "lambda_batch/.app.py.swo",
    ".idea/workspace.xml",
)


def copy_repository(destination: Path) -> Path:
    junk = shutil.ignore_patterns("__pycache__", "*.pyc", ".DS_Store")
    destination.mkdir()
    for name in (*SOURCES, *FUNCTIONS):
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, destination / name, ignore=junk)
        else:
            shutil.copy2(source, destination / name)
    return destination


def synthesize_checkout(checkout: Path, outdir: Path, **context: object) -> None:
    """`python app.py` in `checkout` (writing bytecode), with `-c` values as the CLI passes them."""
    unset = ("PYTHONDONTWRITEBYTECODE", "PYTHONPATH")
    env = {key: value for key, value in os.environ.items() if key not in unset}
    env.update(CDK_OUTDIR=str(outdir), CDK_DISABLE_CLI_TELEMETRY="true", CDK_CONTEXT_JSON=json.dumps(context))
    result = subprocess.run(
        [sys.executable, "app.py"], cwd=checkout, env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr[-3000:]


def image_hashes(checkout: Path, outdir: Path) -> dict[str, str]:
    """Synthesize in `checkout`; display name -> image asset hash."""
    synthesize_checkout(checkout, outdir)
    hashes = {}
    for manifest in outdir.glob("*.assets.json"):
        for asset_hash, asset in json.loads(manifest.read_text()).get("dockerImages", {}).items():
            hashes[asset["displayName"]] = asset_hash
    assert len(hashes) == len(FUNCTIONS), hashes
    return hashes


@pytest.fixture(scope="module")
def clean_checkout(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """A copy of the repository synthesized once (so with bytecode beside its sources), and its hashes."""
    folder = tmp_path_factory.mktemp("clean")
    checkout = copy_repository(folder / "checkout")
    hashes = image_hashes(checkout, folder / "out")
    assert list((checkout / "clipsearch").glob("__pycache__/*.pyc")), "synth imported clipsearch"
    return checkout, hashes


def copy_checkout(clean: Path, destination: Path) -> Path:
    shutil.copytree(clean, destination, symlinks=True)
    return destination


def test_bytecode_editor_and_finder_files_never_change_an_image_hash(clean_checkout, tmp_path):
    clean, before = clean_checkout
    checkout = copy_checkout(clean, tmp_path / "checkout")

    for name in JUNK:
        (checkout / name).parent.mkdir(parents=True, exist_ok=True)
        (checkout / name).write_bytes(b"junk")
    for folder in ("clipsearch", *FUNCTIONS):  # what `make test` leaves
        assert compileall.compile_dir(checkout / folder, quiet=1)
    after = image_hashes(checkout, tmp_path / "out")

    assert after == before


def test_an_edit_the_image_copies_changes_only_that_images_hash(clean_checkout, tmp_path):
    clean, before = clean_checkout
    checkout = copy_checkout(clean, tmp_path / "checkout")
    with (checkout / "lambda_search" / "app.py").open("a") as app:
        app.write("\n# an edit\n")
    after = image_hashes(checkout, tmp_path / "out")
    changed = {name for name in before if before[name] != after[name]}
    assert changed == {"SearchFunction/Function/AssetImage"}


def test_the_page_and_the_lifecycle_handler_publish_only_their_own_files(tmp_path):
    """Finder, editor and bytecode files beside them never reach the page's bucket or the zip."""
    checkout = copy_repository(tmp_path / "checkout")
    shutil.copytree(ROOT / "stacks", checkout / "stacks", dirs_exist_ok=True)
    for name in ("web/.DS_Store", "web/.app.js.swp", "web/index.html~", "web/notes.txt",
                 "stacks/lifecycle_rule_handler/.DS_Store",
                 "stacks/lifecycle_rule_handler/__pycache__/index.cpython-311.pyc"):  # fmt: skip
        (checkout / name).parent.mkdir(parents=True, exist_ok=True)
        (checkout / name).write_bytes(b"junk")
    outdir = tmp_path / "out"
    # an existing bucket: the lifecycle rule's custom resource (and its handler's zip) is deployed
    synthesize_checkout(checkout, outdir, create_bucket="false", create_table="false")
    handler = (ROOT / "stacks" / "lifecycle_rule_handler" / "index.py").read_bytes()
    staged = [path for path in outdir.glob("asset.*") if path.is_dir()]

    def files(path: Path) -> list[str]:
        return sorted(str(file.relative_to(path)) for file in path.rglob("*") if file.is_file())

    page = [files(path) for path in staged if (path / "index.html").exists()]
    ours = [
        files(path)
        for path in staged
        if (path / "index.py").exists() and (path / "index.py").read_bytes() == handler
    ]
    assert page == [["app.css", "app.js", "index.html"]]
    assert ours == [["index.py"]]
