"""The frame pipeline's model calls side by side (calls_at_once): never more at once than the
embedder asks for, every vector with its own frame, and a deadline that lets the batches already
in the model finish and be written."""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np
import pytest
from PIL import Image

from clipsearch.batch.pipeline import Pipeline
from clipsearch.cache.store import CacheStore
from clipsearch.layout import Frame
from clipsearch.vectors import Vector
from tests.conftest import BUCKET

VIDEO = "side-by-side"


class SlowModel:
    """A fake model whose calls take a while and remember their sizes and how many ran at once;
    its first calls_at_once calls wait for each other (so they must have been given at once). Each
    frame's vector points at the frame's number, so that a vector given to the wrong frame shows."""

    dim = 8
    model_id = "slow-fake"

    def __init__(self, calls_at_once: int, *, fail_call: int | None = None) -> None:
        self.calls_at_once = calls_at_once
        self.fail_call = fail_call
        self.sizes: list[int] = []
        self.running = self.most_at_once = 0
        self.lock = threading.Lock()
        self.first_calls = threading.Barrier(calls_at_once)

    def prepare_image(self, image: Image.Image) -> Any:
        return image.getpixel((0, 0))  # the frame's number

    def embed_prepared(self, prepared: list[Any]) -> Vector:
        with self.lock:
            call = len(self.sizes)
            self.sizes.append(len(prepared))
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
        if call < self.calls_at_once:
            self.first_calls.wait(timeout=10)
        time.sleep(0.02)
        with self.lock:
            self.running -= 1
        if call == self.fail_call:
            raise RuntimeError("the model failed")
        return np.eye(self.dim, dtype=np.float32)[[int(number) % self.dim for number in prepared]]

    def embed_texts(self, texts: list[str]) -> Vector:
        raise NotImplementedError

    def embed_images(self, images: list[Any]) -> Vector:
        raise NotImplementedError


class Checks:
    """Plenty of time for the first `plenty` looks at the clock, then almost none."""

    def __init__(self, plenty: int) -> None:
        self.plenty = plenty

    def remaining_seconds(self) -> float:
        self.plenty -= 1
        return 600.0 if self.plenty >= 0 else 1.0


def frames(count: int) -> list[Frame]:
    return [Frame(VIDEO, f"frame_{n:06d}", f"frames/{VIDEO}/frame_{n:06d}.webp") for n in range(count)]


def pipeline(s3: Any, *, batch_size: int = 2, write_frames: bool = True) -> Pipeline:
    return Pipeline(
        load=lambda frame: Image.new("L", (1, 1), int(frame.frame_id.removeprefix("frame_"))),
        cache=CacheStore(s3, BUCKET),
        write_frames=write_frames,
        batch_size=batch_size,
        prefetch=4,
        concurrency=4,
        reserve_seconds=10.0,
        log=lambda message, extra: None,
    )


@pytest.mark.parametrize("calls_at_once", [1, 3])
def test_batches_run_side_by_side_up_to_the_embedder_s_calls_and_keep_their_frames(s3, calls_at_once):
    model = SlowModel(calls_at_once)
    done = pipeline(s3).run(frames(13), model, Checks(plenty=100), VIDEO)
    assert model.most_at_once == calls_at_once
    assert sorted(done.vectors) == [frame.frame_id for frame in frames(13)]
    for frame_id, (key, vector) in done.vectors.items():
        number = int(frame_id.removeprefix("frame_"))
        assert key == f"frames/{VIDEO}/{frame_id}.webp"
        assert int(np.argmax(vector)) == number % SlowModel.dim
    cached = s3.list_objects_v2(Bucket=BUCKET, Prefix=f"embeddings-cache/{VIDEO}/")["KeyCount"]
    assert cached == 13
    assert (done.remaining, done.failed, done.rejected) == ([], [], [])


def test_near_the_deadline_the_batches_in_the_model_finish_and_the_rest_is_left(s3):
    # GIVEN time for three batches to go in, three at once
    model = SlowModel(calls_at_once=3)
    done = pipeline(s3).run(frames(13), model, Checks(plenty=3), VIDEO)
    # THEN those three batches are embedded and written, and every other frame is left for later
    embedded = sorted(done.vectors)
    assert embedded == [frame.frame_id for frame in frames(6)]
    assert done.remaining == [frame.key for frame in frames(13)[6:]]
    cached = s3.list_objects_v2(Bucket=BUCKET, Prefix=f"embeddings-cache/{VIDEO}/")["KeyCount"]
    assert cached == 6


def test_without_frame_files_the_vectors_are_returned_and_nothing_is_written(s3):
    # frame_cache=packed: the caller's packed object keeps them, also those done before a deadline
    done = pipeline(s3, write_frames=False).run(
        frames(13), SlowModel(calls_at_once=3), Checks(plenty=3), VIDEO
    )
    assert sorted(done.vectors) == [frame.frame_id for frame in frames(6)]
    assert done.remaining == [frame.key for frame in frames(13)[6:]]
    assert s3.list_objects_v2(Bucket=BUCKET, Prefix="embeddings-cache/")["KeyCount"] == 0


def test_a_short_video_is_split_so_that_every_call_has_a_share(s3):
    model = SlowModel(calls_at_once=3)
    done = pipeline(s3, batch_size=32).run(frames(7), model, Checks(plenty=100), VIDEO)
    assert model.sizes == [3, 2, 2]  # not one batch of 7 on one vCPU
    assert len(done.vectors) == 7


def test_the_slowest_batch_of_an_earlier_run_predicts_the_first_of_the_next(s3):
    # GIVEN a container whose earlier run timed its batches (about 0.02 s each)
    runs = pipeline(s3)
    runs.run(frames(4), SlowModel(calls_at_once=1), Checks(plenty=100), VIDEO)
    assert runs.slowest.seconds >= 0.02

    # WHEN the next run starts with less than the reserve + 1.5 batches left
    class JustOverTheReserve:
        def remaining_seconds(self) -> float:
            return 10.0 + runs.slowest.seconds

    done = runs.run(frames(4), SlowModel(calls_at_once=1), JustOverTheReserve(), VIDEO)
    # THEN no batch goes in: every frame is left for the next invocation
    assert (done.vectors, done.remaining) == ({}, [frame.key for frame in frames(4)])


def test_a_failing_model_call_fails_the_run_while_others_are_in_the_model(s3):
    model = SlowModel(calls_at_once=3, fail_call=1)
    with pytest.raises(RuntimeError, match="the model failed"):
        pipeline(s3).run(frames(13), model, Checks(plenty=100), VIDEO)
