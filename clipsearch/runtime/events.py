"""Lambda event in, Lambda response out: direct invoke, JSON string, or API Gateway/Function URL proxy."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from clipsearch.runtime.errors import RequestError, bad_request

JSON_HEADERS = {"Content-Type": "application/json"}


def _is_proxy_event(event: dict[str, Any]) -> bool:
    # API Gateway (REST and HTTP APIs) and Function URLs all carry these two keys.
    return "body" in event and ("requestContext" in event or "isBase64Encoded" in event)


def parse_request_value(event: Any) -> Any:
    """The decoded JSON value of any supported event shape; RequestError(400) when it is not JSON."""
    if isinstance(event, dict) and _is_proxy_event(event):
        body = event.get("body")
        if body is None or body == "":
            raise bad_request("the HTTP request has no body: send a JSON object")
        if not isinstance(body, str):
            raise bad_request("the HTTP body must be a JSON string")
        if event.get("isBase64Encoded"):
            try:
                body = base64.b64decode(body, validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                raise bad_request("the HTTP body is marked base64 but is not base64 of UTF-8 JSON") from None
        event = body
    if isinstance(event, bytes):
        try:
            event = event.decode("utf-8")
        except UnicodeDecodeError:
            raise bad_request("the request is not UTF-8 text") from None
    if isinstance(event, str):
        try:
            event = json.loads(event)
        except json.JSONDecodeError as error:
            raise bad_request(
                f"the request is not valid JSON: {error.msg} at character {error.pos}"
            ) from None
    return event


def parse_request(event: Any) -> dict[str, Any]:
    """The request object of any supported event shape; RequestError(400) when it is not one."""
    request = parse_request_value(event)
    if not isinstance(request, dict):
        raise bad_request(f"the request must be a JSON object, not {type(request).__name__}")
    return request


def is_unicode(text: str) -> bool:
    """False for a string JSON can carry but UTF-8 cannot (a lone surrogate such as "\\udcff")."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def response(status: int, body: dict[str, Any]) -> dict[str, Any]:
    """The guide's shape ({statusCode, body: JSON string}), which is also a valid proxy response.
    Strict JSON: a NaN or an infinity is a bug to fail on (ValueError), never a body to send."""
    text = json.dumps(body, separators=(",", ":"), allow_nan=False)
    return {"statusCode": status, "headers": JSON_HEADERS, "body": text}


def error_response(error: RequestError) -> dict[str, Any]:
    return response(error.status, {"error": error.message})
