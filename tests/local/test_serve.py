"""`make serve`: the local system and its page stay up without a terminal until SIGTERM or Ctrl-C
(SIGINT), then stop cleanly (exit 0, no traceback); meanwhile `make invoke` and `make add-video`
use it instead of starting their own."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from local import running as running_module
from local.sample_video import Shot, boat, encode_shots
from tests.local.test_system import ROOT


def start_serving(tiny_model_dir: Path, state: Path) -> subprocess.Popen[str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("AWS_ENDPOINT_URL")}
    env |= {"MODEL_DIR": str(tiny_model_dir), "CLIPSEARCH_RUNNING_STATE": str(state)}
    return subprocess.Popen(
        [sys.executable, "-m", "local.demo", "--serve"],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,  # no terminal
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_until_serving(process: subprocess.Popen[str]) -> str:
    assert process.stdout is not None
    seen = []
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        seen.append(line)
        if line.startswith("serving until stopped"):
            return "".join(seen)
    raise AssertionError(f"make serve did not come up: {''.join(seen)}")


def test_make_serve_stays_up_without_a_terminal_serves_invoke_and_add_video_and_stops_on_sigterm(
    tiny_model_dir, tmp_path, monkeypatch
):
    state = tmp_path / "running.json"
    process = start_serving(tiny_model_dir, state)
    try:
        wait_until_serving(process)
        monkeypatch.setattr(running_module, "STATE", state)
        found = running_module.find_running()
        assert found is not None
        assert found.pid == process.pid
        # make invoke uses it: seconds, and the samples are there
        env = {**os.environ, "CLIPSEARCH_RUNNING_STATE": str(state)}
        started = time.monotonic()
        invoke = subprocess.run(
            [sys.executable, "-m", "local.invoke", "search", "events/search-text.json"],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert invoke.returncode == 0, invoke.stderr
        assert "the local system make serve keeps up" in invoke.stderr
        assert json.loads(invoke.stdout)["body"]["results"]
        assert time.monotonic() - started < 20
        # make add-video too: the upload is extracted and embedded by the running system
        video = tmp_path / "boat.mp4"
        video.write_bytes(encode_shots([Shot(boat, 30)], fps=10))
        added = subprocess.run(
            [sys.executable, "-m", "scripts.add_video", str(video)],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert added.returncode == 0, added.stdout + added.stderr
        assert "embedded: searchable" in added.stdout
    finally:
        stop_cleanly(process, signal.SIGTERM, state)


def test_make_serve_stops_cleanly_on_ctrl_c(tiny_model_dir, tmp_path):
    """As a terminal stops it (SIGINT); the test above stops it as a container or an IDE does (SIGTERM)."""
    state = tmp_path / "running.json"
    process = start_serving(tiny_model_dir, state)
    wait_until_serving(process)
    stop_cleanly(process, signal.SIGINT, state)


def stop_cleanly(process: subprocess.Popen[str], stop: signal.Signals, state: Path) -> None:
    try:
        process.send_signal(stop)
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, err
    assert "Traceback" not in err
    assert "stopped the local servers" in out
    assert not state.exists()  # the others no longer find it
