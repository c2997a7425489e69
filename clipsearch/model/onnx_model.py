"""The CLIP model at run time: ONNX Runtime towers, `tokenizers`, and CLIP's preprocessing in
Pillow + numpy (no torch, no transformers). Reads the runtime folder `clipsearch.model.export_onnx`
writes; load it once per container with `load_embedder`.

The towers come already optimised (the export saved ONNX Runtime's graph optimisations, with the
weights in a file of their own that the session maps rather than parses), so a session opens them
with optimisation off: a cold start does not redo at every start what the build did once."""

from __future__ import annotations

import functools
import json
import os
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
from PIL import Image
from tokenizers import Tokenizer

from clipsearch.vectors import Vector

IMAGE_BATCH = 32  # bounds memory; larger batches gain little on CPU
PRECISIONS = ("fp32", "int8")
# 2: towers saved optimised, weights in `<tower>.onnx.data`, opened with optimisation off (1: as
# exported, optimised at every session start). A folder of another format is converted again.
RUNTIME_FORMAT = 2


def available_cpus() -> int:
    """The vCPUs this process may use (Lambda: about one per 1,769 MB of memory)."""
    return len(os.sched_getaffinity(0))


class ImagePreprocessor:
    """CLIPImageProcessor's steps, from its saved config: convert to RGB (transparency composited
    onto white), resize the shortest side
    (bicubic by default, on 8-bit pixels as Pillow does), centre crop (zero padding if smaller),
    rescale, normalise; channels first, float32."""

    def __init__(self, config: dict[str, Any]) -> None:
        size = config.get("size") or {}
        crop = config.get("crop_size") or {}
        self.shortest_edge: int | None = size.get("shortest_edge")
        self.resize_to: tuple[int, int] | None = (
            (int(size["height"]), int(size["width"])) if "height" in size and "width" in size else None
        )
        self.do_resize = bool(config.get("do_resize", True))
        self.do_center_crop = bool(config.get("do_center_crop", True))
        self.crop = (int(crop.get("height", 224)), int(crop.get("width", 224)))
        self.resample = Image.Resampling(int(config.get("resample", Image.Resampling.BICUBIC)))
        self.do_rescale = bool(config.get("do_rescale", True))
        self.rescale_factor = float(config.get("rescale_factor", 1 / 255))
        self.do_normalize = bool(config.get("do_normalize", True))
        self.mean = np.asarray(config.get("image_mean", [0.48145466, 0.4578275, 0.40821073]), np.float32)
        self.std = np.asarray(config.get("image_std", [0.26862954, 0.26130258, 0.27577711]), np.float32)
        # Each channel's 256 possible values, rescaled and normalised exactly as below: one lookup
        # per pixel instead of float64 arithmetic on every one (same numbers, a third of the time).
        self._values = np.stack(
            [self._rescale_normalize(np.arange(256, dtype=np.uint8), channel) for channel in range(3)]
        )

    def _target_size(self, width: int, height: int) -> tuple[int, int]:
        """(height, width) after the resize, as transformers computes it."""
        if self.resize_to:
            return self.resize_to
        assert self.shortest_edge is not None
        short, long = (width, height) if width <= height else (height, width)
        new_short, new_long = self.shortest_edge, int(self.shortest_edge * long / short)
        return (new_long, new_short) if width <= height else (new_short, new_long)

    def __call__(self, image: Image.Image) -> np.ndarray:
        image = _rgb(image)
        if self.do_resize:
            height, width = self._target_size(image.width, image.height)
            image = image.resize((width, height), resample=self.resample)
        pixels = np.asarray(image, dtype=np.uint8).transpose(2, 0, 1)  # channels first
        if self.do_center_crop:
            pixels = _center_crop(pixels, *self.crop)
        return np.stack([self._values[channel][pixels[channel]] for channel in range(3)])

    def _rescale_normalize(self, pixels: np.ndarray, channel: int) -> np.ndarray:
        """transformers' steps on 8-bit values of one channel: rescale (in float64), normalise."""
        values = pixels.astype(np.float32)
        if self.do_rescale:
            values = (pixels.astype(np.float64) * self.rescale_factor).astype(np.float32)
        if self.do_normalize:
            values = (values - self.mean[channel]) / self.std[channel]
        return values.astype(np.float32)


def _rgb(image: Image.Image) -> Image.Image:
    if image.mode == "RGB":
        return image
    if "A" in image.getbands() or image.info.get("transparency") is not None:
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return image.convert("RGB")


def _center_crop(pixels: np.ndarray, height: int, width: int) -> np.ndarray:
    _, orig_height, orig_width = pixels.shape
    if orig_height < height or orig_width < width:  # pad with zeros around, as transformers does
        new_height, new_width = max(height, orig_height), max(width, orig_width)
        padded = np.zeros((pixels.shape[0], new_height, new_width), pixels.dtype)
        top, left = -(-(new_height - orig_height) // 2), -(-(new_width - orig_width) // 2)
        padded[:, top : top + orig_height, left : left + orig_width] = pixels
        pixels, orig_height, orig_width = padded, new_height, new_width
    top, left = (orig_height - height) // 2, (orig_width - width) // 2
    return pixels[:, top : top + height, left : left + width]


class OnnxEmbedder:
    """L2-normalised CLIP embeddings in float32 from the runtime folder. Load it once per container.

    `calls_at_once` > 1 is for throughput (the batch function): that many image batches run side by
    side, each on its own vCPUs' share of ONNX Runtime threads (one each when it equals the vCPUs),
    instead of one batch at a time on all of them. Operators split across threads wait for the
    slowest, so one busy core (S3, decoding) stalls every thread; single-threaded calls have no such
    barrier, and the model alone runs faster too (bench_batch). One session serves every call."""

    def __init__(self, model_dir: str | Path, *, threads: int | None = None, calls_at_once: int = 1) -> None:
        folder = Path(model_dir)
        runtime = json.loads((folder / "runtime.json").read_text())
        if runtime.get("format") != RUNTIME_FORMAT:
            raise ValueError(
                f"{folder} is a runtime folder of format {runtime.get('format')}, not {RUNTIME_FORMAT}: "
                "convert the model again (python -m clipsearch.model.export_onnx)"
            )
        self.model_id: str = str(runtime["model_id"])
        self.dim: int = int(runtime["dim"])
        self.max_tokens: int = int(runtime["max_tokens"])
        self.precision: str = str(runtime["precision"])
        options = ort.SessionOptions()
        self.calls_at_once = calls_at_once
        self.threads = threads or max(1, available_cpus() // calls_at_once)
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL  # done at export
        self._folder, self._options = folder, options
        # Each tower opened by its first call: a cold container answering a text query never waits
        # for the larger vision tower, nor one embedding images (the batch function) for the text one.
        self._towers: dict[str, ort.InferenceSession] = {}
        self._towers_lock = threading.Lock()
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        # Truncate at the model's window, pad to the longest item of a call (not to the window).
        self.tokenizer.enable_truncation(max_length=self.max_tokens)
        padding = self.tokenizer.padding or {}
        self.tokenizer.enable_padding(
            pad_id=int(runtime["pad_token_id"]), pad_token=str(padding.get("pad_token", "<|endoftext|>"))
        )
        self.preprocess = ImagePreprocessor(json.loads((folder / "preprocessor_config.json").read_text()))

    def _session(self, name: str) -> ort.InferenceSession:
        return ort.InferenceSession(
            str(self._folder / name), self._options, providers=["CPUExecutionProvider"]
        )

    @property
    def text(self) -> ort.InferenceSession:
        return self._tower("text")

    @property
    def vision(self) -> ort.InferenceSession:
        return self._tower("vision")

    def _tower(self, name: str) -> ort.InferenceSession:
        # Under a lock: the batch function's first calls_at_once calls arrive together, and
        # functools.cached_property has no lock since Python 3.12 (each would build a session).
        with self._towers_lock:
            if name not in self._towers:
                self._towers[name] = self._session(f"{name}.onnx")
            return self._towers[name]

    def tokenize(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        encodings = self.tokenizer.encode_batch(list(texts))
        ids = np.asarray([encoding.ids for encoding in encodings], dtype=np.int64)
        mask = np.asarray([encoding.attention_mask for encoding in encodings], dtype=np.int64)
        return ids, mask

    def embed_texts(self, texts: Sequence[str]) -> Vector:
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        ids, mask = self.tokenize(texts)
        (vectors,) = self.text.run(None, {"input_ids": ids, "attention_mask": mask})
        return np.asarray(vectors, dtype=np.float32)

    def embed_images(self, images: Sequence[Image.Image]) -> Vector:
        if self.threads == 1 or len(images) < 2:
            return self.embed_prepared([self.prepare_image(image) for image in images])
        # On the model's threads: Pillow's resize and numpy's lookups release the GIL, and the model
        # waits for every image of a batch (serial, a tenth of an int8 batch's time on 2 vCPUs).
        with ThreadPoolExecutor(self.threads) as preparers:
            return self.embed_prepared(list(preparers.map(self.prepare_image, images)))

    def prepare_image(self, image: Image.Image) -> np.ndarray:
        """The image's pixel values (3, height, width): CPU work any thread may do ahead of the model."""
        return self.preprocess(image)

    def embed_prepared(self, prepared: Sequence[np.ndarray]) -> Vector:
        chunks = []
        for start in range(0, len(prepared), IMAGE_BATCH):
            pixels = np.stack(prepared[start : start + IMAGE_BATCH])
            (vectors,) = self.vision.run(None, {"pixel_values": pixels})
            chunks.append(np.asarray(vectors, dtype=np.float32))
        return np.concatenate(chunks) if chunks else np.zeros((0, self.dim), np.float32)


@functools.cache
def load_embedder(model_dir: str, *, calls_at_once: int = 1) -> OnnxEmbedder:
    """This container's model, loaded once on first use: not at import, because Lambda gives the
    init phase only 10 s and restarts it inside the invocation when it runs over."""
    return OnnxEmbedder(model_dir, calls_at_once=calls_at_once)
