"""The page and the HTTP API on 127.0.0.1, as CloudFront, API Gateway and Cognito serve them in AWS.

Three local servers, three origins, as in AWS:
- the page (web/ and a config.json naming the two below), with the distribution's security headers
  (the same CSP, from deployment/web_policy.py; connect-src names the exact local origins);
- the HTTP API: `POST /search` and `GET /videos` only (else 404 {"message": "Not Found"}, as API
  Gateway answers for no route), each behind a JWT check standing in for the authorizer (signature,
  issuer, audience or client_id, expiry; else 401 {"message": "Unauthorized"}), CORS for the page's
  origin only. It sends the search function the payload 2.0 event API Gateway sends, through the
  local Lambda Invoke endpoint (boto3, the same path as every other invoke), gives up after the
  integration timeout with API Gateway's 503 {"message": "Service Unavailable"}, and answers with the
  function's statusCode, headers and body;
- a stand-in for the Cognito managed login domain: `/oauth2/authorize` (a one-button sign-in form),
  `/oauth2/token` (authorization code with PKCE, S256 checked), `/logout`. The page's sign-in code
  is the same locally and in AWS.

Local tokens are HS256 with a secret made per run (Cognito signs RS256 with its published keys; the
authorizer's checks are the same). Throttling is not emulated.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import json
import secrets
import threading
import time
import urllib.parse
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ReadTimeoutError

from clipsearch.search.routes import INTEGRATION_TIMEOUT_S, ROUTES
from deployment.web_policy import PAGE_SCOPES, SEARCH_SCOPE, content_security_policy, security_headers
from local.stack import LocalSystem

WEB_DIR = Path(__file__).resolve().parent.parent / "web"
CLIENT_ID = "local-page"
CLIENT_SCOPES = tuple(PAGE_SCOPES.split())  # what the stack's app client may ask for
TOKEN_LIFETIME_S = 3600
CODE_LIFETIME_S = 300
CONTENT_TYPES = {".html": "text/html; charset=utf-8", ".css": "text/css", ".js": "text/javascript"}


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class LocalIssuer:
    """Issues and checks the local tokens: what Cognito and the JWT authorizer do in AWS."""

    issuer: str
    client_id: str = CLIENT_ID
    secret: bytes = field(default_factory=lambda: secrets.token_bytes(32))

    def token(self, subject: str, *, lifetime_s: int = TOKEN_LIFETIME_S, **claims: Any) -> str:
        now = int(time.time())
        payload = {
            "sub": subject,
            "iss": self.issuer,
            "client_id": self.client_id,
            "token_use": "access",
            "scope": PAGE_SCOPES,
            "iat": now,
            "exp": now + lifetime_s,
            **claims,
        }
        header = _b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        body = _b64url(json.dumps(payload).encode())
        signature = hmac.new(self.secret, f"{header}.{body}".encode(), hashlib.sha256).digest()
        return f"{header}.{body}.{_b64url(signature)}"

    def claims(self, authorization: str | None) -> dict[str, Any] | None:
        """The claims of a valid JWT in the header (`Bearer <jwt>` or the token alone, as API
        Gateway takes it), None for anything API Gateway would refuse: a bad signature, issuer,
        audience, expiry or not-before, or no `clipsearch/search` scope (an ID token)."""
        if not authorization:
            return None
        parts = authorization.removeprefix("Bearer ").strip().split(".")
        if len(parts) != 3:
            return None
        try:
            header = json.loads(_b64url_decode(parts[0]))
            payload = json.loads(_b64url_decode(parts[1]))
            signature = _b64url_decode(parts[2])
        except (ValueError, UnicodeDecodeError):
            return None
        if not isinstance(header, dict) or not isinstance(payload, dict):
            return None
        expected = hmac.new(self.secret, f"{parts[0]}.{parts[1]}".encode(), hashlib.sha256).digest()
        if header.get("alg") != "HS256" or not hmac.compare_digest(signature, expected):
            return None
        audience = payload.get("aud", payload.get("client_id"))
        audiences = audience if isinstance(audience, list) else [audience]
        if payload.get("iss") != self.issuer or self.client_id not in audiences:
            return None
        now = time.time()
        if not isinstance(payload.get("exp"), int) or payload["exp"] <= now:
            return None
        if any(
            not isinstance(payload.get(claim, 0), int) or payload.get(claim, 0) > now
            for claim in ("nbf", "iat")
        ):
            return None
        if SEARCH_SCOPE not in str(payload.get("scope", "")).split():
            return None
        return dict(payload)


@dataclass
class LocalWeb:
    page_url: str  # http://127.0.0.1:<port>/
    api_url: str  # http://127.0.0.1:<port>/
    auth_url: str  # http://127.0.0.1:<port> (the managed login domain's stand-in)
    issuer: LocalIssuer

    @property
    def page_origin(self) -> str:
        return self.page_url.rstrip("/")


def _origin(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


class _Quiet(BaseHTTPRequestHandler):
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


def _site_handler(web: LocalWeb, moto_url: str, auth_mode: str) -> type[BaseHTTPRequestHandler]:
    csp = content_security_policy(connect=[_origin(web.api_url), web.auth_url], images=[_origin(moto_url)])
    auth: dict[str, str] = {"mode": auth_mode}
    if auth_mode == "cognito":
        auth |= {"domain": web.auth_url, "clientId": CLIENT_ID, "scope": PAGE_SCOPES}
    config = {"apiUrl": web.api_url, "auth": auth}

    class Site(_Quiet):
        def do_GET(self) -> None:
            path = urllib.parse.urlsplit(self.path).path
            headers = security_headers(csp)
            if path == "/config.json":
                self.send_json(200, config, headers | {"Cache-Control": "no-store"})
                return
            name = "index.html" if path == "/" else path.lstrip("/")
            file = WEB_DIR / name
            if "/" in name or not file.is_file():
                self.send(404, b"Not Found", headers | {"Content-Type": "text/plain"})
                return
            content_type = CONTENT_TYPES.get(file.suffix, "application/octet-stream")
            self.send(200, file.read_bytes(), headers | {"Content-Type": content_type})

        do_HEAD = do_GET

    return Site


def _api_handler(web: LocalWeb, lambda_client: Any, function_name: str) -> type[BaseHTTPRequestHandler]:
    routes = set(ROUTES)

    class Api(_Quiet):
        def cors(self) -> dict[str, str]:
            if self.headers.get("Origin") != web.page_origin:
                return {}
            return {"Access-Control-Allow-Origin": web.page_origin, "Vary": "Origin"}

        def do_OPTIONS(self) -> None:  # CORS preflight: API Gateway answers it, no authorizer
            headers = self.cors()
            if headers:
                headers |= {
                    "Access-Control-Allow-Methods": "GET,POST",
                    "Access-Control-Allow-Headers": "authorization,content-type",
                    "Access-Control-Max-Age": "3600",
                }
            self.send(204, b"", headers)

        def do_GET(self) -> None:
            self.route()

        def do_POST(self) -> None:
            self.route()

        def route(self) -> None:
            parts = urllib.parse.urlsplit(self.path)
            body = self.read_body()
            if (self.command, parts.path) not in routes:
                self.send_json(404, {"message": "Not Found"}, self.cors())
                return
            claims = web.issuer.claims(self.headers.get("Authorization"))
            if claims is None:
                self.send_json(401, {"message": "Unauthorized"}, self.cors())
                return
            event = self.event(parts, body, claims)
            try:
                answer = lambda_client.invoke(FunctionName=function_name, Payload=json.dumps(event).encode())
            except ReadTimeoutError:  # the integration timeout
                self.send_json(503, {"message": "Service Unavailable"}, self.cors())
                return
            payload = json.loads(answer["Payload"].read())
            if answer.get("FunctionError") or not isinstance(payload, dict) or "statusCode" not in payload:
                self.send_json(500, {"message": "Internal Server Error"}, self.cors())
                return
            content = payload.get("body") or ""
            data = base64.b64decode(content) if payload.get("isBase64Encoded") else content.encode()
            self.send(int(payload["statusCode"]), data, {**payload.get("headers", {}), **self.cors()})

        def event(
            self, parts: urllib.parse.SplitResult, body: bytes, claims: dict[str, Any]
        ) -> dict[str, Any]:
            """The HTTP API's payload format 2.0 (what the search function receives in AWS)."""
            now = datetime.now(UTC)
            route_key = f"{self.command} {parts.path}"
            event: dict[str, Any] = {
                "version": "2.0",
                "routeKey": route_key,
                "rawPath": parts.path,
                "rawQueryString": parts.query,
                "headers": {name.lower(): value for name, value in self.headers.items()},
                "requestContext": {
                    "accountId": "000000000000",
                    "apiId": "local",
                    "authorizer": {"jwt": {"claims": claims, "scopes": str(claims.get("scope", "")).split()}},
                    "domainName": urllib.parse.urlsplit(web.api_url).netloc,
                    "domainPrefix": "local",
                    "http": {
                        "method": self.command,
                        "path": parts.path,
                        "protocol": self.request_version,
                        "sourceIp": self.client_address[0],
                        "userAgent": self.headers.get("User-Agent", ""),
                    },
                    "requestId": str(uuid.uuid4()),
                    "routeKey": route_key,
                    "stage": "$default",
                    "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
                    "timeEpoch": int(now.timestamp() * 1000),
                },
                "isBase64Encoded": False,
            }
            if parts.query:
                event["queryStringParameters"] = dict(urllib.parse.parse_qsl(parts.query))
            if body:
                try:
                    event["body"] = body.decode("utf-8")
                except UnicodeDecodeError:
                    event["body"], event["isBase64Encoded"] = base64.b64encode(body).decode(), True
            return event

    return Api


SIGN_IN_FORM = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>Sign in (local)</title></head><body><main><h1>Sign in</h1>
<p>The local stand-in for the Cognito managed login page.</p>
<form method="post" action="/oauth2/authorize">{hidden}
<label for="email">Email</label> <input id="email" name="email" value="demo@example.com">
<button type="submit" id="sign-in-submit">Sign in</button></form></main></body></html>"""


def _auth_handler(web: LocalWeb) -> type[BaseHTTPRequestHandler]:
    codes: dict[str, dict[str, Any]] = {}
    lock = threading.Lock()
    redirect = web.page_url

    class Auth(_Quiet):
        def refuse(self, message: str) -> None:
            self.send_json(400, {"error": "invalid_request", "error_description": message}, self.cors())

        def cors(self) -> dict[str, str]:
            if self.headers.get("Origin") != web.page_origin:
                return {}
            return {"Access-Control-Allow-Origin": web.page_origin, "Vary": "Origin"}

        def do_GET(self) -> None:
            parts = urllib.parse.urlsplit(self.path)
            query = dict(urllib.parse.parse_qsl(parts.query))
            if parts.path == "/logout":
                if query.get("client_id") != CLIENT_ID or query.get("logout_uri") != redirect:
                    self.refuse("unknown client or logout_uri")
                    return
                self.send(302, b"", {"Location": redirect})
                return
            if parts.path != "/oauth2/authorize":
                self.send(404, b"Not Found", {"Content-Type": "text/plain"})
                return
            wanted = {"response_type": "code", "client_id": CLIENT_ID, "redirect_uri": redirect}
            if any(query.get(key) != value for key, value in wanted.items()):
                self.refuse("response_type, client_id or redirect_uri is not this client's")
                return
            if query.get("code_challenge_method") != "S256" or not query.get("code_challenge"):
                self.refuse("PKCE with S256 is required")
                return
            hidden = "".join(
                f'<input type="hidden" name="{html.escape(key)}" value="{html.escape(value)}">'
                for key, value in query.items()
            )
            headers = {
                "Content-Type": "text/html; charset=utf-8",
                # the form posts here, then is redirected to the page (form-action covers redirects)
                "Content-Security-Policy": (
                    f"default-src 'none'; form-action 'self' {web.page_origin}; frame-ancestors 'none'"
                ),
            }
            self.send(200, SIGN_IN_FORM.format(hidden=hidden).encode(), headers)

        def do_POST(self) -> None:
            path = urllib.parse.urlsplit(self.path).path
            form = dict(urllib.parse.parse_qsl(self.read_body().decode()))
            if path == "/oauth2/authorize":  # the sign-in form: a code for the page, then back to it
                code = secrets.token_urlsafe(24)
                with lock:
                    codes[code] = {
                        "challenge": form.get("code_challenge"),
                        "email": form.get("email") or "demo@example.com",
                        "expires": time.time() + CODE_LIFETIME_S,
                        # Cognito grants the scopes asked for that the client may have
                        "scope": " ".join(s for s in form.get("scope", "").split() if s in CLIENT_SCOPES),
                    }
                query = urllib.parse.urlencode({"code": code, "state": form.get("state", "")})
                self.send(302, b"", {"Location": f"{redirect}?{query}"})
                return
            if path != "/oauth2/token":
                self.send(404, b"Not Found", {"Content-Type": "text/plain"})
                return
            with lock:
                grant = codes.pop(form.get("code", ""), None)  # a code is good once
            verifier = form.get("code_verifier", "")
            if (
                form.get("grant_type") != "authorization_code"
                or form.get("client_id") != CLIENT_ID
                or form.get("redirect_uri") != redirect
                or grant is None
                or grant["expires"] < time.time()
                or _b64url(hashlib.sha256(verifier.encode()).digest()) != grant["challenge"]
            ):
                self.send_json(400, {"error": "invalid_grant"}, self.cors())
                return
            email = grant["email"]
            tokens = {
                "access_token": web.issuer.token(email, email=email, scope=grant["scope"]),
                "id_token": web.issuer.token(email, email=email, token_use="id", scope="", aud=CLIENT_ID),  # noqa: S106 - a claim, not a password
                "token_type": "Bearer",
                "expires_in": TOKEN_LIFETIME_S,
            }
            self.send_json(200, tokens, self.cors() | {"Cache-Control": "no-store"})

    return Auth


@contextmanager
def serve_web(
    *,
    lambda_endpoint: str,
    moto_url: str,
    search_function: str,
    region: str,
    ports: tuple[int, int, int] = (0, 0, 0),
    integration_timeout_s: float = INTEGRATION_TIMEOUT_S,
    auth_mode: str = "cognito",
) -> Iterator[LocalWeb]:
    """The page, the HTTP API and the sign-in stand-in on 127.0.0.1 (free ports unless `ports`),
    in front of the search function behind the local Lambda Invoke endpoint; the API gives up on the
    function after `integration_timeout_s` (the stack's integration timeout). `auth_mode` is the
    page's: `cognito` (sign in through the stand-in) or `jwt` (paste a token, as with api_auth=jwt)."""
    lambda_client = boto3.client(
        "lambda",
        endpoint_url=lambda_endpoint,
        region_name=region,
        config=Config(read_timeout=integration_timeout_s, retries={"total_max_attempts": 1}),
    )
    with ExitStack() as stack:
        # Bound first (the ports make the origins), given their handlers once the origins are known.
        servers = [ThreadingHTTPServer(("127.0.0.1", port), BaseHTTPRequestHandler) for port in ports]
        for server in servers:
            server.daemon_threads = True
            stack.callback(server.server_close)
        page, api, auth = (f"http://127.0.0.1:{server.server_address[1]}" for server in servers)
        web = LocalWeb(page_url=f"{page}/", api_url=f"{api}/", auth_url=auth, issuer=LocalIssuer(issuer=auth))
        handlers = (
            _site_handler(web, moto_url, auth_mode),
            _api_handler(web, lambda_client, search_function),
            _auth_handler(web),
        )
        for server, handler, name in zip(servers, handlers, ("page", "http-api", "sign-in"), strict=True):
            server.RequestHandlerClass = handler
            threading.Thread(target=server.serve_forever, name=f"local-{name}", daemon=True).start()
            stack.callback(server.shutdown)
        yield web


def serve_system_web(system: LocalSystem, *, auth_mode: str = "cognito") -> AbstractContextManager[LocalWeb]:
    """serve_web in front of a running local system's search function (the demo, the browser tests)."""
    return serve_web(
        lambda_endpoint=system.lambda_client.meta.endpoint_url,
        moto_url=system.s3.meta.endpoint_url,
        search_function=system.functions["search"],
        region=system.local.region,
        auth_mode=auth_mode,
    )
