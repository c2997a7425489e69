"""What `make test` and `make demo` need beyond what they install themselves (.venv from the pinned
requirements, node_modules): checked before anything is installed, so that a missing tool stops the
run in its first seconds with the command that installs it, never at the end of a ten-minute run.
On Debian or Ubuntu as root (CI's .ci/run), or with password-less sudo, it installs what is missing
with apt, as CI does.

    python3 -m scripts.prerequisites [--browser]     (the Makefile runs it with $(PYTHON))

Standard library only: it runs before .venv exists, with the Python that will make it.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

MIN_PYTHON = (3, 11)
# The browser tests drive Chromium through its chromedriver (tests/browser/conftest.py finds them
# here): Debian's packages, or GitHub's runners' Chrome with the matching driver in $CHROMEWEBDRIVER.
BROWSER_NAMES = ("chromium", "chromium-browser", "google-chrome")
BROWSER_PATHS = ("/usr/bin/chromium", "/usr/lib/chromium/chromium")
DRIVER_NAMES = ("chromedriver",)
DRIVER_PATHS = ("/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver")


def find_browser() -> str | None:
    return _find(BROWSER_NAMES, BROWSER_PATHS)


def find_driver() -> str | None:
    webdriver = os.environ.get("CHROMEWEBDRIVER")
    return _find(DRIVER_NAMES, (*DRIVER_PATHS, *([f"{webdriver}/chromedriver"] if webdriver else [])))


def _find(names: tuple[str, ...], paths: tuple[str, ...]) -> str | None:
    for path in (*(shutil.which(name) for name in names), *paths):
        if path and Path(path).is_file():
            return path
    return None


def missing(browser: bool) -> dict[str, str]:
    """What is missing: {what it is for: the Debian package that brings it}."""
    wanted: dict[str, str] = {}
    try:
        import ensurepip  # noqa: F401  # Debian ships venv's pip apart: `python3 -m venv` fails without it
    except ImportError:
        wanted["python -m venv (with pip)"] = f"python3.{sys.version_info.minor}-venv"
    if shutil.which("npm") is None:
        wanted["npm (node_modules: the CDK CLI, Node 22)"] = "npm"
    if browser and find_browser() is None:
        wanted["Chromium (tests/browser)"] = "chromium"
    if browser and find_driver() is None:
        wanted["chromedriver (tests/browser)"] = "chromium-driver"
    return wanted


def apt_prefix() -> list[str] | None:
    """How to run apt-get here: as root, through password-less sudo, or not at all."""
    if shutil.which("apt-get") is None:
        return None
    if os.geteuid() == 0:
        return []
    sudo = shutil.which("sudo")
    if sudo and subprocess.run([sudo, "-n", "true"], capture_output=True, check=False).returncode == 0:  # noqa: S603
        return [sudo, "-n"]
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--browser", action="store_true", help="the browser tests' Chromium and driver too")
    args = parser.parse_args(argv)
    if sys.version_info < MIN_PYTHON:
        found = ".".join(map(str, sys.version_info[:3]))
        print(
            f"Python {found} is too old: {'.'.join(map(str, MIN_PYTHON))} or newer is needed "
            "(make ... PYTHON=python3.12 picks another)",
            file=sys.stderr,
        )
        return 1
    wanted = missing(args.browser)
    if not wanted:
        return 0
    packages = sorted(set(wanted.values()))
    install = ["apt-get", "install", "-y", "--no-install-recommends", *packages]
    prefix = apt_prefix()
    if prefix is None:
        print(f"Missing: {'; '.join(wanted)}.", file=sys.stderr)
        if shutil.which("apt-get"):
            print(f"Install them with:  sudo {' '.join(install)}", file=sys.stderr)
        else:
            print(
                "Install them with your package manager (macOS: brew install python@3.12 node && "
                "brew install --cask chromium chromedriver), then run make again.",
                file=sys.stderr,
            )
        return 1
    print(f"Installing {', '.join(packages)} with apt-get (for {'; '.join(wanted)})", file=sys.stderr)
    environment = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-qq"], install):
        if subprocess.run([*prefix, *command], env=environment, check=False).returncode != 0:  # noqa: S603
            print(f"apt-get failed: run  sudo {' '.join(install)}  yourself", file=sys.stderr)
            return 1
    still = missing(args.browser)
    if still:
        print(f"Still missing after apt-get: {'; '.join(still)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
