"""The base of the local page, API and sign-in servers: a request handler that logs nothing and
answers in one call, the origin of a URL (CORS and CSP name origins), and a server's thread."""

from __future__ import annotations

import json
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler
from socketserver import BaseServer
from typing import Any

# serve_forever notices shutdown() only between polls: at its default 0.5 s every local server's stop
# (and every test world's teardown) waited a quarter of a second on average.
SHUTDOWN_POLL_S = 0.02


def serve_in_thread(server: BaseServer, name: str) -> None:
    """Serve `server` on a daemon thread until `server.shutdown()`, which then returns promptly."""
    threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": SHUTDOWN_POLL_S}, name=name, daemon=True
    ).start()


def origin(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


class QuietHandler(BaseHTTPRequestHandler):
    server_version = "local"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def send_json(self, status: int, value: Any, headers: dict[str, str] | None = None) -> None:
        self.send(status, json.dumps(value).encode(), {"Content-Type": "application/json", **(headers or {})})

    def read_body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))
