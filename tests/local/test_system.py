"""The local system as users run it: every test event, the demo, the folder search."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from deployment.context import load_config, read_cdk_json_context
from local.sample_video import demo_video
from local.stack import LocalSystem, local_system

ROOT = Path(__file__).resolve().parents[2]
EVENTS = sorted((ROOT / "events").glob("*.json"))
FUNCTION_OF = {"clip": "clip", "search": "search", "batch": "batch", "extract": "extract"}


@pytest.fixture(scope="module")
def system(tiny_model_dir) -> Iterator[LocalSystem]:
    with local_system(tiny_model_dir) as running:
        for video_id in running.add_samples():
            assert json.loads(running.invoke("batch", {"video_id": video_id})["body"])["status"] == "complete"
        running.upload("uploads/demo-scenes.mp4", demo_video())  # what events/extract-upload.json names
        running.settle()
        yield running


def test_the_local_system_has_the_deployed_names_and_region(system):
    config = load_config(read_cdk_json_context(ROOT / "cdk.json"))  # what `cdk deploy` uses
    assert (system.bucket, system.table) == (config.local_bucket_name, config.physical_table_name)
    deployed = config.functions
    assert system.functions == {role: function.function_name for role, function in deployed.items()}
    for function in deployed.values():
        local = system.local.functions[function.function_name]
        assert (local.timeout_s, local.memory_mb) == (function.timeout_s, function.memory_mb)
    assert system.local.region == config.region
    assert system.lambda_client.meta.region_name == config.region
    assert system.s3.get_bucket_location(Bucket=system.bucket)["LocationConstraint"] == config.region
    # the tests' metrics namespace is kept: Powertools binds it at first import, for the whole run
    assert os.environ["POWERTOOLS_METRICS_NAMESPACE"] == "ClipFrameSearchTest"


def test_there_is_an_event_per_function_and_mode():
    names = {path.stem for path in EVENTS}
    assert {
        "clip-text",
        "clip-image",
        "batch-video",
        "search-text",
        "search-image",
        "extract-upload",
    } <= names


@pytest.mark.parametrize("event_file", EVENTS, ids=lambda path: path.stem)
def test_every_event_file_works_against_the_local_system(system, event_file):
    function = FUNCTION_OF[event_file.stem.split("-")[0]]
    response = system.invoke(function, json.loads(event_file.read_text()))
    assert response["statusCode"] == 200, response
    body = json.loads(response["body"])
    if function == "clip":
        assert all(vector is not None for vector in body["embeddings"]), body["errors"]
    elif function == "search":
        assert body.get("results") or body.get("moments")
        assert body["missing_videos"] == []
    elif function == "extract":  # the upload was extracted already (its notification): done
        assert [result["status"] for result in body["results"]] == ["done"]
    else:
        assert body["status"] == "complete"


def test_the_guide_event_is_the_console_payload():
    assert json.loads((ROOT / "events" / "clip-text.json").read_text()) == {
        "mode": "text",
        "items": ["a man riding a bicycle"],
    }


def run_tool(module: str, *args: str, model_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("AWS_ENDPOINT_URL")}
    env["MODEL_DIR"] = str(model_dir)
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.mark.parametrize("backend", ["memory", "s3vectors"])
def test_the_demo_runs_end_to_end_and_stops_everything(tiny_model_dir, backend):
    result = run_tool("local.demo", "-c", f"index_backend={backend}", model_dir=tiny_model_dir)
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    assert 'search "a man riding a bicycle" via clip-search -> clip-inference' in out
    assert out.count("packed 6 frames") == 3  # the three samples, by the stream
    # the uploaded file: notification -> extraction -> processed -> stream -> queue -> batch
    assert "clip-extract: 20 frames (1 a second), 5 scenes, row processed" in out
    assert out.count("packed 20 frames") == 1
    # with s3vectors the stream also put every frame into the index
    assert out.count("vectors in the S3 Vectors index") == (4 if backend == "s3vectors" else 0)
    assert 'search "a man riding a bicycle" in the uploaded video' in out
    assert "work queue: 0 waiting; batch failure queue: 0" in out
    assert "rank    score  video" in out
    assert "the search page: http://127.0.0.1:" in out  # served, checked, and (no terminal) closed
    # issue #25.5: what the demo says is searchable is what every search, the page's too, covers
    frames = " (38 frames)" if backend == "memory" else ""
    assert f"every search from now on, the page's too, covers all 4 videos{frames}\n" in out
    assert "HTTP API: GET /videos lists 4 videos with a token, 401 without one" in out
    assert "stopped the local servers" in out  # and the process exited: no server left behind


@pytest.fixture
def no_downloaded_model(tmp_path, monkeypatch) -> Path:
    """A machine where nothing was downloaded: an empty model folder, whatever this machine's
    .local/models holds."""
    from local import models

    monkeypatch.setattr(models, "MODELS", tmp_path)
    return tmp_path


def test_without_a_real_model_the_demo_model_says_what_it_knows(no_downloaded_model, demo_model_dir):
    from local.models import choose_model

    trained = no_downloaded_model / demo_model_dir.name  # trained once per session, not here again
    trained.symlink_to(demo_model_dir, target_is_directory=True)
    choice = choose_model({})  # no MODEL_DIR, no DOWNLOAD_MODEL
    assert choice.path == trained
    assert "DEMO MODEL" in choice.note
    assert "it knows these 5 (bicycle, boat, street, park, night) and nothing else" in choice.note


def test_a_model_downloaded_earlier_is_the_real_one(no_downloaded_model):
    from local.models import choose_model

    real = no_downloaded_model / "clip-vit-base-patch32"
    real.mkdir()
    (real / "config.json").write_text("{}")  # what choose_model looks for; never loaded here
    choice = choose_model({})
    assert choice.path == real
    assert "downloaded earlier" in choice.note


def test_a_bad_model_dir_is_a_clear_error(tmp_path):
    from local.models import choose_model

    with pytest.raises(SystemExit, match="not a save_pretrained folder"):
        choose_model({"MODEL_DIR": str(tmp_path)})


def test_invoke_prints_the_response(tiny_model_dir):
    result = run_tool("local.invoke", "clip", "events/clip-text.json", model_dir=tiny_model_dir)
    assert result.returncode == 0, result.stderr[-3000:]
    response = json.loads(result.stdout)
    assert response["statusCode"] == 200
    assert len(response["body"]["embeddings"][0]) == response["body"]["dim"]


def test_invoke_refuses_an_unknown_function(tiny_model_dir):
    result = run_tool("local.invoke", "resize", "events/clip-text.json", model_dir=tiny_model_dir)
    assert result.returncode == 2
    assert "unknown function 'resize'" in result.stderr


def test_a_folder_of_images_is_indexed_and_searched(tiny_model_dir, tmp_path):
    from tests.sample_images import encode, picture

    for index in range(3):
        (tmp_path / f"holiday-{index}.jpg").write_bytes(encode(picture(index), "JPEG"))
    (tmp_path / "notes.txt").write_text("not an image")
    result = run_tool(
        "local.folder_search", str(tmp_path), "a beach", "--top-k", "2", model_dir=tiny_model_dir
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "indexed 3 images" in result.stdout
    assert "frames are your files: holiday-" in result.stdout
