"""The CLIP function's logic: validate a request, gather its items, embed, optionally cache."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
from botocore.exceptions import BotoCoreError, ClientError
from PIL.Image import Image

from clipsearch.cache.store import CacheStore
from clipsearch.layout import parse_frame_key, parse_s3_uri
from clipsearch.media.image_source import ImageSource
from clipsearch.media.images import decode_image
from clipsearch.model.embedder import Embedder
from clipsearch.runtime.errors import ItemError, RequestError, bad_request
from clipsearch.runtime.events import is_unicode, response
from clipsearch.runtime.settings import positive_ints, required
from clipsearch.vectors import Vector, to_f16_b64

MODES = ("text", "image")
ENCODINGS = ("json", "f16-b64")
FIELDS = ("mode", "items", "encoding", "cache")
# Lambda refuses synchronous responses over 6 MB (6,291,556 bytes); keep room for the envelope.
MAX_RESPONSE_BYTES = 6_000_000


@dataclass(frozen=True, kw_only=True)
class ClipSettings:
    """Read once from the function's environment; every limit is configurable there."""

    bucket: str
    max_items: int = 64
    max_text_chars: int = 2_000
    max_image_bytes: int = 15_000_000
    max_image_pixels: int = 40_000_000
    s3_concurrency: int = 16

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ClipSettings:
        limits = positive_ints(
            env,
            {
                "max_items": "MAX_ITEMS",
                "max_text_chars": "MAX_TEXT_CHARS",
                "max_image_bytes": "MAX_IMAGE_BYTES",
                "max_image_pixels": "MAX_IMAGE_PIXELS",
                "s3_concurrency": "S3_CONCURRENCY",
            },
        )
        return cls(
            bucket=required(env, "BUCKET_NAME", "the bucket whose frames this function reads"), **limits
        )


@dataclass(frozen=True)
class EmbedRequest:
    mode: str
    items: list[Any]
    encoding: str
    cache: bool


def validate(request: dict[str, Any], settings: ClipSettings) -> EmbedRequest:
    unknown = sorted(set(request) - set(FIELDS))
    if unknown:
        raise bad_request(f"unknown field(s) {', '.join(unknown)}; allowed: {', '.join(FIELDS)}")
    mode = request.get("mode", "text")
    if mode not in MODES:
        raise bad_request(f"mode must be 'text' or 'image', got {mode!r}")
    items = request.get("items")
    if items is None:
        raise bad_request("items is required: a list of texts (mode 'text') or images (mode 'image')")
    if not isinstance(items, list):
        raise bad_request(f"items must be a list, got {type(items).__name__}")
    if not items:
        raise bad_request("items is empty: send at least one item")
    if len(items) > settings.max_items:
        raise bad_request(f"{len(items)} items; at most {settings.max_items} per request")
    encoding = request.get("encoding", "json")
    if encoding not in ENCODINGS:
        raise bad_request(f"encoding must be 'json' or 'f16-b64', got {encoding!r}")
    cache = request.get("cache", False)
    if not isinstance(cache, bool):
        raise bad_request(f"cache must be true or false, got {cache!r}")
    if cache and mode != "image":
        raise bad_request("cache applies to image items under frames/ only, not to mode 'text'")
    limit = settings.max_text_chars if mode == "text" else _base64_length(settings.max_image_bytes)
    for index, item in enumerate(items):
        size = _item_size(item)
        if size > limit:
            what = "characters" if mode == "text" else "characters of inline image data"
            raise bad_request(f"item {index} has {size:,} {what}; the limit is {limit:,}")
    return EmbedRequest(mode, items, encoding, cache)


def _base64_length(raw_bytes: int) -> int:
    return 4 * ((raw_bytes + 2) // 3) + len("data:image/webp;base64,")


def _item_size(item: Any) -> int:
    if isinstance(item, str):
        return len(item)
    if isinstance(item, dict) and isinstance(item.get("b64"), str):
        return len(item["b64"])
    return 0


@dataclass(frozen=True)
class Outcome:
    response: dict[str, Any]
    items: int
    failed_items: int


class ClipService:
    """Embeds requests. The embedder and the S3 client are made on first use (once per container):
    `s3` and `embedder` make them."""

    def __init__(
        self, *, settings: ClipSettings, s3: Callable[[], Any], embedder: Callable[[], Embedder]
    ) -> None:
        self.settings = settings
        self._make_s3 = s3
        self.embedder = embedder

    @functools.cached_property
    def s3(self) -> Any:
        return self._make_s3()

    @functools.cached_property
    def images(self) -> ImageSource:
        return ImageSource(self.s3, bucket=self.settings.bucket, max_bytes=self.settings.max_image_bytes)

    @functools.cached_property
    def cache(self) -> CacheStore:
        return CacheStore(self.s3, self.settings.bucket)

    def handle(self, request: dict[str, Any]) -> Outcome:
        """The whole Lambda response for a parsed request (RequestError for a bad one)."""
        embed_request = validate(request, self.settings)
        body = self.embed(embed_request)
        result = response(200, body)
        if len(result["body"]) > MAX_RESPONSE_BYTES:
            raise RequestError(
                413,
                f"the response would be {len(result['body']):,} bytes, over Lambda's 6 MB limit: "
                'send fewer items per request or use "encoding": "f16-b64"',
            )
        return Outcome(response=result, items=len(embed_request.items), failed_items=len(body["errors"]))

    def embed(self, request: EmbedRequest) -> dict[str, Any]:
        embedder = self.embedder()
        errors: dict[int, str] = {}
        vectors: dict[int, Vector] = {}
        if request.mode == "text":
            texts = {}
            for index, item in enumerate(request.items):
                if not isinstance(item, str):
                    errors[index] = f"a text item must be a string, not {type(item).__name__}"
                elif not item.strip():
                    errors[index] = "empty text"
                elif not is_unicode(item):
                    errors[index] = "not valid Unicode text (it holds a lone surrogate)"
                else:
                    texts[index] = item
            if texts:
                vectors = dict(zip(texts, embedder.embed_texts(list(texts.values())), strict=True))
        else:
            images = self._decode_all(request.items, errors)
            if images:
                vectors = dict(zip(images, embedder.embed_images(list(images.values())), strict=True))
        body: dict[str, Any] = {
            "embeddings": [self._encode(vectors.get(i), request.encoding) for i in range(len(request.items))],
            "dim": embedder.dim,
            "model": embedder.model_id,
            "encoding": request.encoding,
            "errors": [{"index": i, "error": errors[i]} for i in sorted(errors)],
        }
        if request.cache:
            body["cached"], body["cache_errors"] = self._write_cache(
                request.items, vectors, embedder.model_id
            )
        return body

    def _decode_all(self, items: list[Any], errors: dict[int, str]) -> dict[int, Image]:
        source = self.images  # made here, not by the threads at once (cached_property has no lock)

        def load(item: Any) -> Image:
            return decode_image(source.read(item), max_pixels=self.settings.max_image_pixels)

        workers = max(1, min(self.settings.s3_concurrency, len(items)))
        with ThreadPoolExecutor(max_workers=workers) as pool:
            futures = [pool.submit(load, item) for item in items]
        images = {}
        for index, future in enumerate(futures):
            try:
                images[index] = future.result()
            except ItemError as error:
                errors[index] = str(error)
        return images

    def _write_cache(
        self, items: list[Any], vectors: dict[int, Vector], model: str
    ) -> tuple[list[str | None], list[dict[str, Any]]]:
        """Write `embeddings-cache/{video_id}/{frame_id}.npy` for each embedded frames/ item."""
        cached: list[str | None] = [None] * len(items)
        problems: dict[int, str] = {}
        targets = {}
        for index, vector in vectors.items():
            item = items[index]
            if not (isinstance(item, str) and item.startswith("s3://")):
                problems[index] = "only s3:// frames under frames/ can be cached"
                continue
            try:  # the image source has checked the bucket already
                targets[index] = (parse_frame_key(parse_s3_uri(item)[1]), vector)
            except ValueError as error:
                problems[index] = str(error)

        workers = max(1, min(self.settings.s3_concurrency, len(targets)))
        cache = self.cache  # made here, not by the threads at once
        with ThreadPoolExecutor(max_workers=workers) as pool:
            futures = {
                index: pool.submit(cache.write_frame, frame, vector, model=model)
                for index, (frame, vector) in targets.items()
            }
        for index, future in futures.items():
            try:
                cached[index] = future.result()
            except (ClientError, BotoCoreError) as error:
                problems[index] = f"cache write failed: {error}"
        return cached, [{"index": i, "error": problems[i]} for i in sorted(problems)]

    @staticmethod
    def _encode(vector: Vector | None, encoding: str) -> Any:
        if vector is None:
            return None
        if encoding == "f16-b64":
            return to_f16_b64(vector)
        return np.asarray(vector, dtype=np.float32).tolist()  # Python floats: numpy's loop, not ours
