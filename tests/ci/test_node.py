"""Node.js 22 everywhere: package.json, its pinned `node` devDependency, CI, the README and the docs."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import yaml

from tests.docs.pages import DEPLOY, README, documentation

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = json.loads((ROOT / "package.json").read_text())
LOCK = json.loads((ROOT / "package-lock.json").read_text())


def test_package_json_requires_and_pins_node_22():
    assert PACKAGE["engines"] == {"node": ">=22"}
    assert re.fullmatch(r"22\.\d+\.\d+", PACKAGE["devDependencies"]["node"])
    assert LOCK["packages"]["node_modules/node"]["version"] == PACKAGE["devDependencies"]["node"]
    assert LOCK["packages"][""]["devDependencies"] == PACKAGE["devDependencies"]
    # its preinstall script fetches the platform binary; npm 11 runs only approved scripts
    assert PACKAGE["allowScripts"] == {"node": True}


def test_npx_runs_the_pinned_node_and_cdk():
    node = subprocess.run(
        ["npx", "--no-install", "node", "--version"], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert node.stdout.strip() == f"v{PACKAGE['devDependencies']['node']}"
    cdk = subprocess.run(
        ["npx", "--no-install", "cdk", "--version"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "CDK_DISABLE_VERSION_CHECK": "true", "CDK_DISABLE_CLI_TELEMETRY": "true"},
    )
    assert cdk.stdout.startswith(PACKAGE["devDependencies"]["aws-cdk"])


def test_the_makefile_puts_the_pinned_node_first_on_path():
    assert "export PATH := $(CURDIR)/node_modules/.bin:$(PATH)" in (ROOT / "Makefile").read_text()


def test_ci_sets_up_node_22():
    workflow = yaml.safe_load((ROOT / ".github/workflows/ci.yml").read_text())
    versions = [
        step["with"]["node-version"]
        for job in workflow["jobs"].values()
        for step in job["steps"]
        if "setup-node" in step.get("uses", "")
    ]
    assert versions
    assert set(versions) == {"22"}


def test_the_documentation_asks_for_node_22():
    assert "Needs Python 3.11+, Node 22+" in " ".join(README.read_text().split())  # the set-up
    assert "Python 3.11+, Node 22+" in " ".join(DEPLOY.read_text().split())
    for page in documentation():
        assert "Node 20" not in page.read_text(), page.name
