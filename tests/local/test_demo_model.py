"""The demo model (local/demo_clip.py) end to end: its recall on pictures of the scenes that training
never drew, through the local system (the ONNX conversion, the runtime's tokenizer and preprocessing,
the index), so that a preprocessing, tokenization, normalisation or int8 defect shows up as lost
recall, not only as a cosine drift.

Held out: each scene 4-5 s into its shot (training draws 0-4 s), as WebP frames. Measured on this
model: every caption's and image query's recall@8 is 1.00, fp32 and int8 (int8's gate: mean cosine
0.99983, min 0.99834); the lowest score of a right frame is 0.86, the highest of a wrong one 0.35.
Each defect below drops at least two scenes to 0.00.
"""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Iterator
from itertools import takewhile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from tokenizers import Tokenizer

from clipsearch.model.export_onnx import export
from clipsearch.model.onnx_model import ImagePreprocessor, OnnxEmbedder
from local.demo_clip import CAPTIONS
from local.sample_frames import sample_videos, webp
from local.sample_video import DEMO_SHOT_SECONDS, SCENES
from local.stack import LocalSystem, local_system
from tests.local.test_system import run_tool

SCENE_NAMES = list(CAPTIONS)
HELD_OUT = 8  # frames per scene
K = HELD_OUT  # recall@K: the share of a query's top K that are its scene's frames
# Measured 1.00 for every scene (fp32 and int8): 2 of 8 frames of margin; a defect gives 0.00.
MIN_RECALL = 0.75
GUIDE_QUERY = "a man riding a bicycle"


def held_out(scene: str, *, offset: float = 0.0) -> list[bytes]:
    """The scene HELD_OUT times between 4 and 5 s into its shot, where training never drew it, as the
    WebP frames the system indexes; `offset` (a fraction of a step) for other pictures still."""
    return [webp(SCENES[scene](DEMO_SHOT_SECONDS + (index + offset) / HELD_OUT)) for index in range(HELD_OUT)]


def video_id(scene: str) -> str:
    return f"held-out-{scene}"


HELD_OUT_VIDEOS = [video_id(scene) for scene in SCENE_NAMES]


@pytest.fixture(scope="module")
def system(demo_model_dir: Path) -> Iterator[LocalSystem]:
    """The local system on the demo model, with the held-out scenes and the demo's sample videos."""
    with local_system(demo_model_dir) as running:
        for scene in SCENE_NAMES:
            running.add_video(
                video_id(scene), [(f"frame_{i:06d}.webp", f) for i, f in enumerate(held_out(scene))]
            )
        running.add_samples()
        running.settle()
        yield running


def search(system: LocalSystem, **request: Any) -> list[dict[str, Any]]:
    response = system.invoke("search", {"top_k": K, **request})
    assert response["statusCode"] == 200, response
    return list(json.loads(response["body"])["results"])


def recall(results: list[dict[str, Any]], scene: str) -> float:
    return sum(hit["video_id"] == video_id(scene) for hit in results) / K


@pytest.mark.parametrize("scene", SCENE_NAMES)
def test_each_caption_finds_its_scene(system, scene):
    recalls = {
        caption: recall(search(system, query=caption, video_ids=HELD_OUT_VIDEOS), scene)
        for caption in CAPTIONS[scene]
    }
    assert min(recalls.values()) >= MIN_RECALL, recalls


@pytest.mark.parametrize("scene", SCENE_NAMES)
def test_a_held_out_frame_finds_its_own_scene_first(system, scene):
    query = held_out(scene, offset=0.5)[HELD_OUT // 2]  # between two indexed frames: none of them
    results = search(system, image={"b64": base64.b64encode(query).decode()}, video_ids=HELD_OUT_VIDEOS)
    assert results[0]["video_id"] == video_id(scene)
    assert recall(results, scene) >= MIN_RECALL


def test_the_guide_query_ranks_the_sample_bicycle_frames_first(system):
    samples = list(sample_videos())
    results = search(system, query=GUIDE_QUERY, video_ids=samples, top_k=6)
    assert {hit["video_id"] for hit in results} == {"sample-bicycle"}  # all 6 of its frames, first


def test_the_demo_ranks_the_bicycle_frames_first(demo_model_dir):
    result = run_tool("local.demo", model_dir=demo_model_dir)
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    frames = first_table(out.split(f'search "{GUIDE_QUERY}" via')[1])
    assert [row[2] for row in frames] == ["sample-bicycle"] * 5, out  # rank, score, video, ...
    moments = first_table(out.split("the same as moments")[1])
    assert moments[0][2] == "sample-bicycle", out
    uploaded = first_table(out.split(f'search "{GUIDE_QUERY}" in the uploaded video')[1])
    assert uploaded[0][3] == "00:00–00:03", out  # rank, score, video, moment: the first shot's


def first_table(text: str) -> list[list[str]]:
    """The rows of the first results table (local/report.py's) in `text`, split into columns."""
    lines = text.splitlines()
    start = next(index for index, line in enumerate(lines) if line.startswith("rank"))
    return [
        row.split() for row in takewhile(lambda line: not line.startswith("searched"), lines[start + 1 :])
    ]


# --- the same recall from the runtime folders directly: int8, and the defects it catches ---


@pytest.fixture(scope="module")
def runtimes(demo_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The demo model exported as the images export it, fp32 and int8 (which passes its gate)."""
    folder = tmp_path_factory.mktemp("demo-runtime")
    return {
        precision: export(demo_model_dir, folder / precision, precision=precision)
        for precision in ("fp32", "int8")
    }


def scene_recalls(embedder: OnnxEmbedder) -> dict[str, float]:
    """Each scene's lowest recall@K over its captions, among all the held-out frames."""
    frames = [Image.open(io.BytesIO(frame)) for scene in SCENE_NAMES for frame in held_out(scene)]
    scenes = np.repeat(np.arange(len(SCENE_NAMES)), HELD_OUT)
    vectors = embedder.embed_images(frames)
    recalls = {}
    for index, scene in enumerate(SCENE_NAMES):
        scores = embedder.embed_texts(list(CAPTIONS[scene])) @ vectors.T
        top = np.argsort(-scores, axis=1, kind="stable")[:, :K]
        recalls[scene] = float((scenes[top] == index).mean(axis=1).min())
    return recalls


@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_the_exported_model_keeps_the_recall(runtimes, precision):
    embedder = OnnxEmbedder(runtimes[precision])
    assert embedder.precision == precision
    recalls = scene_recalls(embedder)
    assert min(recalls.values()) >= MIN_RECALL, recalls


class BGRPreprocessor(ImagePreprocessor):
    def __call__(self, image: Image.Image) -> np.ndarray:
        return super().__call__(image)[::-1].copy()


def swap_channels(embedder: OnnxEmbedder, folder: Path) -> None:
    embedder.preprocess = BGRPreprocessor(json.loads((folder / "preprocessor_config.json").read_text()))


def skip_normalisation(embedder: OnnxEmbedder, folder: Path) -> None:
    config = json.loads((folder / "preprocessor_config.json").read_text())
    embedder.preprocess = ImagePreprocessor(config | {"do_normalize": False})


def drop_merges(embedder: OnnxEmbedder, folder: Path) -> None:
    saved = json.loads((folder / "tokenizer.json").read_text())  # with its padding and truncation
    saved["model"]["merges"] = []
    embedder.tokenizer = Tokenizer.from_str(json.dumps(saved))


@pytest.mark.parametrize("defect", [swap_channels, skip_normalisation, drop_merges], ids=lambda f: f.__name__)
def test_a_defect_loses_recall(runtimes, defect):
    """The threshold is not vacuous: channels in the wrong order, pixels not normalised, or a tokenizer
    without its merges each drop some scene under it."""
    embedder = OnnxEmbedder(runtimes["fp32"])
    defect(embedder, runtimes["fp32"])
    recalls = scene_recalls(embedder)
    assert min(recalls.values()) < MIN_RECALL, recalls
