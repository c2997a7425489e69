"""The search function's view of the CLIP function: one query in, one vector out (Lambda Invoke)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from clipsearch.errors import RequestError
from clipsearch.vectors import Vector, from_f16_b64


@dataclass(frozen=True)
class QueryVector:
    vector: Vector
    model: str


def _upstream(message: str) -> RequestError:
    return RequestError(502, f"the CLIP function failed: {message}")


class ClipClient:
    def __init__(self, lambda_client: Any, function_name: str) -> None:
        self.lambda_client = lambda_client
        self.function_name = function_name

    def embed(self, mode: str, item: Any) -> QueryVector:
        payload = json.dumps({"mode": mode, "items": [item], "encoding": "f16-b64"})
        try:
            response = self.lambda_client.invoke(FunctionName=self.function_name, Payload=payload.encode())
        except ClientError as error:  # throttling is retried by botocore first
            code = error.response.get("Error", {}).get("Code", "error")
            raise _upstream(f"{code}: {error.response.get('Error', {}).get('Message', '')}") from None
        except BotoCoreError as error:  # read timeout, connection refused, ...
            raise _upstream(f"{type(error).__name__}: {error}") from None
        raw = response["Payload"].read()
        if response.get("FunctionError"):
            raise _upstream(_function_error(raw))
        try:
            result = json.loads(raw)
            status, body = result["statusCode"], json.loads(result["body"])
        except (json.JSONDecodeError, KeyError, TypeError):
            raise _upstream("its response is not the CLIP contract ({statusCode, body})") from None
        if status != 200:
            message = body.get("error", "no message") if isinstance(body, dict) else str(body)
            if 400 <= status < 500:  # our query was not acceptable, e.g. an image over the limits
                raise RequestError(400, f"the query was refused by the CLIP function: {message}")
            raise _upstream(f"status {status}: {message}")
        (embedding,) = body["embeddings"]
        if embedding is None:
            (problem,) = body["errors"]
            raise RequestError(400, f"the query {mode} could not be embedded: {problem['error']}")
        return QueryVector(from_f16_b64(embedding), body["model"])


def _function_error(raw: bytes) -> str:
    """Lambda's error payload ({errorType, errorMessage}) as one line."""
    try:
        detail = json.loads(raw)
        return f"{detail.get('errorType', 'Error')}: {detail.get('errorMessage', '')}"
    except (json.JSONDecodeError, AttributeError):
        return raw.decode("utf-8", "replace")[:500]
