"""Faults as an outage shows them to our code: a boto3 client's call ends in a ClientError with the
service's code and HTTP status, after botocore's own retries (a `before-call` hook answers in place
of the service, so botocore's retry loop never runs). The code under test is never patched."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class _Status:
    status_code: int
    headers: dict[str, str] = field(default_factory=dict)
    content: bytes = b""


@dataclass
class Outage:
    """Fail `operation` calls of `client` whose request path or body contains `matching`, at most
    `times` times (None: always). `calls` counts the failures served."""

    client: Any
    operation: str  # e.g. "GetObject", "Scan"
    code: str  # e.g. "InternalError", "AccessDenied", "ProvisionedThroughputExceededException"
    status: int
    matching: str = ""
    times: int | None = None
    calls: int = 0

    def __post_init__(self) -> None:
        service = self.client.meta.service_model.service_id.hyphenize()
        self.client.meta.events.register(f"before-call.{service}.{self.operation}", self._answer)

    def _answer(self, params: dict[str, Any], **_: Any) -> tuple[_Status, dict[str, Any]] | None:
        body = params.get("body", b"")
        text = params.get("url_path", "") + (body.decode(errors="replace") if isinstance(body, bytes) else "")
        if self.matching not in text or (self.times is not None and self.calls >= self.times):
            return None
        self.calls += 1
        error = {"Code": self.code, "Message": f"injected {self.code}"}
        return _Status(self.status), {"Error": error, "ResponseMetadata": {"HTTPStatusCode": self.status}}
