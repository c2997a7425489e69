"""Time left in this invocation: the batch stops between batches, search bounds its CLIP call."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


class Deadline(Protocol):
    def remaining_seconds(self) -> float: ...


@dataclass(frozen=True)
class LambdaDeadline:
    """From the Lambda context."""

    context: Any

    def remaining_seconds(self) -> float:
        return float(self.context.get_remaining_time_in_millis()) / 1000
