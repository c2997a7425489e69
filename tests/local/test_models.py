"""The local models' cache (.local/models): a model is built once, however many processes want it at
once on a fresh clone (the demo, `make test`'s workers and the demos its tests start)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from local.models import _build_in_place


def test_builders_of_one_model_take_turns_and_the_later_ones_find_it_built(tmp_path):
    target = tmp_path / "models" / "demo-clip"
    building, release = threading.Event(), threading.Event()
    builds: list[str] = []

    def slow(staging: Path) -> Path:
        builds.append("first")
        building.set()
        release.wait(30)
        staging.mkdir()
        (staging / "config.json").write_text("{}")
        return staging

    def again(staging: Path) -> Path:
        builds.append("again")
        staging.mkdir()
        return staging

    first = threading.Thread(target=_build_in_place, args=(target, slow))
    first.start()
    assert building.wait(30)
    later = threading.Thread(target=_build_in_place, args=(target, again))
    later.start()  # blocks on the lock while the first builds
    release.set()
    first.join(30)
    later.join(30)
    assert builds == ["first"]
    assert (target / "config.json").is_file()
    assert sorted(path.name for path in target.parent.iterdir()) == ["demo-clip", "demo-clip.lock"]


def test_a_failed_build_leaves_nothing_and_the_next_one_builds(tmp_path):
    target = tmp_path / "models" / "demo-clip"

    def broken(staging: Path) -> Path:
        staging.mkdir()
        raise RuntimeError("out of memory")

    with pytest.raises(RuntimeError):
        _build_in_place(target, broken)
    assert not target.exists()

    def working(staging: Path) -> Path:
        staging.mkdir()
        return staging

    _build_in_place(target, working)
    assert target.is_dir()
    assert sorted(path.name for path in target.parent.iterdir()) == ["demo-clip", "demo-clip.lock"]
