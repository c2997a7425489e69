"""The search page on 127.0.0.1 as CloudFront serves it: the files of web/ and a config.json naming
the API and the sign-in domain, with the distribution's security headers (deployment/web_policy.py;
connect-src names the exact local origins)."""

from __future__ import annotations

import urllib.parse
from pathlib import Path
from typing import Any

from deployment.web_policy import PAGE_CONTENT_TYPES, PAGE_SCOPES, content_security_policy, security_headers
from local.http_server import QuietHandler, origin

WEB_DIR = Path(__file__).resolve().parent.parent / "web"


def page_handler(
    *,
    api_url: str,
    auth_url: str,
    client_id: str,
    moto_url: str,
    auth_mode: str,
    videos_page_size: int | None = None,
) -> type[QuietHandler]:
    """`auth_mode`: `cognito` (the page signs in through the stand-in) or `jwt` (a pasted token);
    `videos_page_size`: the page asks GET /videos for pages of this many videos (the browser tests
    page through a few; None: the API's own page size)."""
    bucket = origin(moto_url)  # the page uploads to it, shows its frames, plays its videos
    csp = content_security_policy(
        connect=[origin(api_url), auth_url, bucket], images=[bucket], media=[bucket]
    )
    auth: dict[str, str] = {"mode": auth_mode}
    if auth_mode == "cognito":
        auth |= {"domain": auth_url, "clientId": client_id, "scope": PAGE_SCOPES}
    config: dict[str, Any] = {"apiUrl": api_url, "auth": auth}
    if videos_page_size:
        config["videosPageSize"] = videos_page_size

    class Page(QuietHandler):
        def do_GET(self) -> None:
            path = urllib.parse.urlsplit(self.path).path
            headers = security_headers(csp)
            if path == "/config.json":
                self.send_json(200, config, headers | {"Cache-Control": "no-store"})
                return
            name = "index.html" if path == "/" else path.lstrip("/")
            file = WEB_DIR / name
            if "/" in name or file.suffix not in PAGE_CONTENT_TYPES or not file.is_file():
                self.send(404, b"Not Found", headers | {"Content-Type": "text/plain"})
                return
            self.send(200, file.read_bytes(), headers | {"Content-Type": PAGE_CONTENT_TYPES[file.suffix]})

        do_HEAD = do_GET

    return Page
