"""`make test` on a fresh machine (issue #25.1): what it cannot install itself is checked first, and
either installed with apt (Debian/Ubuntu, root or password-less sudo, as CI) or named in one
message with the command, before anything else runs."""

from __future__ import annotations

import subprocess
from typing import Any

import pytest

from scripts import prerequisites
from tests.ci.test_push_images import ROOT


@pytest.fixture
def bare(monkeypatch) -> dict[str, bool]:
    """A machine with Python's venv and npm but no browser; `installed` flips when apt-get ran."""
    state = {"installed": False}
    monkeypatch.setattr(
        prerequisites, "find_browser", lambda: "/usr/bin/chromium" if state["installed"] else None
    )
    monkeypatch.setattr(
        prerequisites, "find_driver", lambda: "/usr/bin/chromedriver" if state["installed"] else None
    )
    return state


def test_a_machine_with_everything_passes_at_once():
    assert prerequisites.main(["--browser"]) == 0  # this machine: .ci/run's, with Chromium


def test_without_apt_it_stops_naming_what_is_missing(bare, monkeypatch, capsys):
    monkeypatch.setattr(prerequisites, "apt_prefix", lambda: None)
    monkeypatch.setattr(
        "scripts.prerequisites.shutil.which", lambda name: None if name == "apt-get" else f"/bin/{name}"
    )
    assert prerequisites.main(["--browser"]) == 1
    err = capsys.readouterr().err
    assert "Missing: Chromium (tests/browser); chromedriver (tests/browser)." in err
    assert "brew install --cask chromium chromedriver" in err
    assert prerequisites.main([]) == 0  # make demo and make install need no browser


def test_on_debian_without_root_it_prints_the_apt_command(bare, monkeypatch, capsys):
    monkeypatch.setattr(prerequisites, "apt_prefix", lambda: None)
    assert prerequisites.main(["--browser"]) == 1
    assert (
        "Install them with:  sudo apt-get install -y --no-install-recommends chromium chromium-driver"
        in capsys.readouterr().err
    )


def test_on_debian_as_root_it_installs_them_with_apt(bare, monkeypatch):
    ran: list[list[str]] = []

    def apt(command: list[str], **_: Any) -> subprocess.CompletedProcess[str]:
        ran.append(command)
        bare["installed"] = command[:2] == ["apt-get", "install"]
        return subprocess.CompletedProcess(command, 0)

    monkeypatch.setattr(prerequisites, "apt_prefix", list)
    monkeypatch.setattr("scripts.prerequisites.subprocess.run", apt)
    assert prerequisites.main(["--browser"]) == 0
    assert ran == [
        ["apt-get", "update", "-qq"],
        ["apt-get", "install", "-y", "--no-install-recommends", "chromium", "chromium-driver"],
    ]


def test_a_failed_apt_get_stops_with_the_command(bare, monkeypatch, capsys):
    monkeypatch.setattr(prerequisites, "apt_prefix", lambda: ["sudo", "-n"])
    monkeypatch.setattr(
        "scripts.prerequisites.subprocess.run", lambda command, **_: subprocess.CompletedProcess(command, 100)
    )
    assert prerequisites.main(["--browser"]) == 1
    assert "apt-get failed: run  sudo apt-get install" in capsys.readouterr().err


def test_make_test_checks_them_before_it_installs_or_runs_anything():
    planned = subprocess.run(
        ["make", "--no-print-directory", "-n", "-B", "test"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    assert "scripts.prerequisites --browser" in planned[0], planned[:3]
    assert any("pip install" in line for line in planned)  # -B: as on a fresh clone
    assert "pytest" in planned[-1]
