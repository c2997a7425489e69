"""The local system `make serve` keeps up, found by the other local tools: `make serve` writes where
its endpoints are to `.local/running.json` and removes it when it stops; `make invoke` and
`make add-video` use that system when it answers (seconds) instead of starting their own (tens of
seconds)."""

from __future__ import annotations

import json
import os
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import boto3

# Where the running system is written (a test may move it, to run one beside another).
STATE = Path(
    os.environ.get("CLIPSEARCH_RUNNING_STATE")
    or Path(__file__).resolve().parent.parent / ".local" / "running.json"
)


@dataclass(frozen=True)
class Running:
    pid: int
    region: str
    moto_url: str
    lambda_url: str
    bucket: str
    table: str
    functions: dict[str, str]
    page_url: str
    api_url: str

    def save(self) -> None:
        STATE.parent.mkdir(parents=True, exist_ok=True)
        STATE.write_text(json.dumps(asdict(self), indent=2))

    def client(self, service: str) -> Any:
        """A boto3 client of the running system (moto's server, or its Lambda Invoke endpoint)."""
        endpoint = self.lambda_url if service == "lambda" else self.moto_url
        session: Any = boto3.session.Session()
        return session.client(
            service,
            endpoint_url=endpoint,
            region_name=self.region,
            aws_access_key_id="local",
            aws_secret_access_key="local",  # noqa: S106 - moto's, not a secret
        )


def find_running() -> Running | None:
    """The system `make serve` runs, if it is up and answering; else None."""
    try:
        running = Running(**json.loads(STATE.read_text()))
    except (OSError, ValueError, TypeError):
        return None
    try:
        os.kill(running.pid, 0)
        with urllib.request.urlopen(f"{running.moto_url}/moto-api/", timeout=2):  # noqa: S310 - 127.0.0.1
            pass
    except (OSError, ValueError):
        return None
    return running


def forget(pid: int) -> None:
    """Remove the state file, if it is this process's."""
    try:
        if json.loads(STATE.read_text()).get("pid") == pid:
            STATE.unlink()
    except (OSError, ValueError):
        pass
