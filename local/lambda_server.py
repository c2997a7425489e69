"""The Lambda Invoke HTTP API on 127.0.0.1, serving handlers in this process.

Point boto3 at it with AWS_ENDPOINT_URL_LAMBDA=http://127.0.0.1:<port>: a handler's call to another
function then takes the same code path as in AWS. Supported, as Lambda does them:
RequestResponse (200 + payload), Event (202, runs in the background), DryRun (204), function errors
(200 + `X-Amz-Function-Error: Unhandled` + errorMessage/errorType), unknown functions (404
ResourceNotFoundException) and payloads over the limits (413 RequestTooLargeException).
"""

from __future__ import annotations

import io
import json
import os
import sys
import threading
import time
import traceback
import urllib.parse
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TextIO

from local.http_server import serve_in_thread

Handler = Callable[[Any, Any], Any]
SYNC_PAYLOAD_LIMIT = 6 * 1024 * 1024
ASYNC_PAYLOAD_LIMIT = 256 * 1024
_PATH_PREFIX = "/2015-03-31/functions/"
ACCOUNT = "000000000000"
_running = threading.local()  # .function: this thread is running a function's handler


def function_arn(region: str, name: str) -> str:
    return f"arn:aws:lambda:{region}:{ACCOUNT}:function:{name}"


@dataclass
class LocalFunction:
    name: str
    handler: Handler
    timeout_s: int = 900
    memory_mb: int = 3008
    # Asynchronous invocations: retried this many times after a function error (Lambda: 0-2, at
    # about 1 and 2 minutes; here at once), then the invocation record goes to `on_failure`.
    async_retries: int = 2
    on_failure: Callable[[dict[str, Any]], None] | None = None


@dataclass
class LocalContext:
    """The parts of Lambda's context object that handlers and Powertools read."""

    function_name: str
    memory_limit_in_mb: int
    timeout_s: int
    region: str
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    log_group_name: str = ""
    log_stream_name: str = "local"
    started: float = field(default_factory=time.monotonic)

    @property
    def invoked_function_arn(self) -> str:
        return function_arn(self.region, self.function_name)

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.timeout_s - (time.monotonic() - self.started)) * 1000))


class LocalLambda:
    """Functions by name; `invoke` runs one in this process and shapes the result like Lambda.

    `region` (for ARNs) is the configured one, passed in by local/stack.py; by default the region of
    this process's AWS environment, as Lambda gives its functions in AWS_REGION.
    """

    def __init__(self, functions: list[LocalFunction], *, region: str | None = None) -> None:
        region = region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
        if not region:
            raise ValueError("no region: pass region= or set AWS_REGION")
        self.region = region
        self.functions = {function.name: function for function in functions}
        # One container per function: like Lambda, a handler never runs two events at once (its
        # module-level state, caches and metrics, assumes that).
        self._containers = {function.name: threading.Lock() for function in functions}
        self._background = ThreadPoolExecutor(max_workers=4, thread_name_prefix="lambda-event")
        self._pending: list[Future[Any]] = []

    def run(self, name: str, payload: bytes) -> tuple[bytes, str | None]:
        """(response payload, function error type or None)."""
        function = self.functions[name]
        with self._containers.setdefault(name, threading.Lock()):
            return self._run_in_container(function, payload)

    def _run_in_container(self, function: LocalFunction, payload: bytes) -> tuple[bytes, str | None]:
        context = LocalContext(function.name, function.memory_mb, function.timeout_s, self.region)
        calling = getattr(_running, "function", False)
        _running.function = True
        try:
            event = json.loads(payload) if payload else {}
            result = function.handler(event, context)
            return json.dumps(result).encode(), None
        except Exception as error:  # what Lambda reports as an Unhandled function error
            body = {
                "errorMessage": str(error),
                "errorType": type(error).__name__,
                "requestId": context.aws_request_id,
                "stackTrace": traceback.format_tb(error.__traceback__),
            }
            return json.dumps(body).encode(), "Unhandled"
        finally:
            _running.function = calling

    def run_later(self, name: str, payload: bytes) -> None:
        self._pending.append(self._background.submit(self._run_async, name, payload))

    def _run_async(self, name: str, payload: bytes) -> None:
        """An Event invocation as Lambda runs it: retried after a function error, then the
        invocation record (Lambda's destination format) goes to the on-failure destination."""
        function = self.functions[name]
        attempts = function.async_retries + 1
        for _ in range(attempts):
            response, error = self.run(name, payload)
            if error is None:
                return
        if function.on_failure is not None:
            function.on_failure(
                {
                    "version": "1.0",
                    "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
                    "requestContext": {
                        "requestId": str(uuid.uuid4()),
                        "functionArn": f"{function_arn(self.region, name)}:$LATEST",
                        "condition": "RetriesExhausted",
                        "approximateInvokeCount": attempts,
                    },
                    "requestPayload": json.loads(payload) if payload else {},
                    "responseContext": {
                        "statusCode": 200,
                        "executedVersion": "$LATEST",
                        "functionError": error,
                    },
                    "responsePayload": json.loads(response),
                }
            )

    def wait_for_events(self, timeout: float = 120) -> None:
        """Block until every Event invocation so far has finished (tests, the demo)."""
        while self._pending:
            self._pending.pop().result(timeout=timeout)

    def close(self) -> None:
        self.wait_for_events()
        self._background.shutdown()


def _function_name(path: str) -> str | None:
    parsed = urllib.parse.urlparse(path)
    if not (parsed.path.startswith(_PATH_PREFIX) and parsed.path.endswith("/invocations")):
        return None
    name = urllib.parse.unquote(parsed.path[len(_PATH_PREFIX) : -len("/invocations")])
    return name.split(":function:")[-1].split(":")[0]  # a name, an ARN, or name:qualifier


def _make_handler(local: LocalLambda) -> type[BaseHTTPRequestHandler]:
    class InvokeHandler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # quiet: the handlers log
            pass

        def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            for name, value in {"Content-Type": "application/json", **(headers or {})}.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            try:
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the caller gave up waiting (its read timeout): Lambda drops the answer too

        def _error(self, status: int, kind: str, message: str) -> None:
            body = json.dumps({"Type": "User", "Message": message, "message": message}).encode()
            self._send(status, body, {"x-amzn-ErrorType": kind})

        def do_POST(self) -> None:
            name = _function_name(self.path)
            payload = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if name is None:
                self._error(404, "UnknownOperationException", f"not a Lambda Invoke path: {self.path}")
                return
            if name not in local.functions:
                arn = function_arn(local.region, name)
                self._error(404, "ResourceNotFoundException", f"Function not found: {arn}")
                return
            kind = self.headers.get("X-Amz-Invocation-Type", "RequestResponse")
            limit = ASYNC_PAYLOAD_LIMIT if kind == "Event" else SYNC_PAYLOAD_LIMIT
            if len(payload) > limit:
                self._error(
                    413,
                    "RequestTooLargeException",
                    f"{len(payload)} byte payload; the limit is {limit}",
                )
                return
            if kind == "DryRun":
                self._send(204)
            elif kind == "Event":
                local.run_later(name, payload)
                self._send(202)
            elif kind == "RequestResponse":
                body, function_error = local.run(name, payload)
                headers = {"X-Amz-Executed-Version": "$LATEST"}
                if function_error:
                    headers["X-Amz-Function-Error"] = function_error
                self._send(200, body, headers)
            else:
                self._error(400, "InvalidParameterValueException", f"unknown invocation type {kind!r}")

    return InvokeHandler


class _FunctionStdout(io.TextIOBase):
    """sys.stdout while functions run in this process: what a function prints (its EMF metrics, for
    one) goes to `logs`, as Lambda sends it to CloudWatch Logs, and never into a CLI's own output."""

    def __init__(self, console: TextIO, logs: TextIO) -> None:
        self.console, self.logs = console, logs

    def write(self, text: str) -> int:
        target = self.logs if getattr(_running, "function", False) else self.console
        return target.write(text)

    def flush(self) -> None:
        self.console.flush()
        self.logs.flush()


@contextmanager
def serve(local: LocalLambda, port: int = 0, *, function_logs: TextIO | None = None) -> Iterator[str]:
    """Serve `local` on 127.0.0.1 (a free port by default); yields the endpoint URL. With
    `function_logs`, what the functions print goes there instead of stdout."""
    server = ThreadingHTTPServer(("127.0.0.1", port), _make_handler(local))
    serve_in_thread(server, "lambda-invoke")
    console = sys.stdout
    if function_logs is not None:
        sys.stdout = _FunctionStdout(console, function_logs)
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        local.close()
        sys.stdout = console
