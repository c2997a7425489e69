"""Search's refill: ask the batch function to (re)build the cache of videos a search found missing,
damaged or incomplete, at most once per video per window per container."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from clipsearch.faults import describe


class RecentlyQueued:
    """Videos recently sent to the batch function, so that a search does not resend them every time.
    Holds at most `max_entries`; past that it forgets the oldest half."""

    def __init__(
        self, seconds: float, clock: Callable[[], float] = time.monotonic, max_entries: int = 10_000
    ):
        self.seconds = seconds
        self.clock = clock
        self.max_entries = max_entries
        self._sent: dict[str, float] = {}

    def due(self, video_id: str) -> bool:
        sent = self._sent.get(video_id)
        return sent is None or self.clock() - sent >= self.seconds

    def remember(self, video_id: str) -> None:
        if len(self._sent) >= self.max_entries:
            for old in sorted(self._sent, key=self._sent.__getitem__)[: self.max_entries // 2]:
                del self._sent[old]
        self._sent[video_id] = self.clock()

    def __len__(self) -> int:
        return len(self._sent)


class BatchRefill:
    """Sends `{"video_id": ...}` to the batch function as an asynchronous invoke (Lambda retries it
    and sends what still fails to the function's on-failure destination)."""

    def __init__(
        self,
        lambda_client: Any,
        function_name: str,
        recently: RecentlyQueued,
        *,
        log: Callable[[str, dict[str, Any]], None] = lambda message, extra: None,
    ) -> None:
        self.lambda_client = lambda_client
        self.function_name = function_name
        self.recently = recently
        self.log = log

    def queue(self, video_ids: list[str]) -> list[str]:
        """The videos actually queued now (not those queued within the window, nor failed sends:
        the next search tries those again)."""
        queued = []
        for video_id in dict.fromkeys(video_ids):
            if not self.recently.due(video_id):
                continue
            try:
                self.lambda_client.invoke(
                    FunctionName=self.function_name,
                    InvocationType="Event",
                    Payload=json.dumps({"video_id": video_id}).encode(),
                )
            except (ClientError, BotoCoreError) as error:  # the search still answers
                self.log("could not queue re-embedding", {"video_id": video_id, "error": describe(error)})
                continue
            self.recently.remember(video_id)
            queued.append(video_id)
        return queued
