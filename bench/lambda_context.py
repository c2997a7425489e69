"""What a handler reads of Lambda's context object, for a bench calling a handler in its own process.
Standard library only: bench_clip's child process imports it before its clocks start."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LambdaContext:
    function_name: str
    memory_limit_in_mb: int
    remaining_ms: int  # what get_remaining_time_in_millis answers: the function's timeout
    aws_request_id: str = "bench"

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:ap-southeast-1:123456789012:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms
