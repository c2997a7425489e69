"""The HTTP API on 127.0.0.1 as API Gateway serves it, in front of the functions behind the local
Lambda Invoke endpoint: only the routes the stack declares, the search function's and (with
frame_extraction) the extraction function's uploads (else 404 {"message": "Not Found"}), each
behind the JWT authorizer's checks (signature against the issuer's JWKS, issuer, client, expiry,
not-before, the route's scope; else 401 {"message": "Unauthorized"}), CORS for the page's
origin only, the payload 2.0 event, the integration timeout (503 {"message": "Service
Unavailable"}), a request too large for the function (413 {"message": "Request Entity Too
Large"}) and the function's statusCode, headers and body. Throttling is not emulated."""

from __future__ import annotations

import base64
import json
import time
import urllib.parse
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import jwt
from botocore.exceptions import ClientError, ReadTimeoutError

from clipsearch.extract.routes import ROUTES as UPLOAD_ROUTES
from clipsearch.search.routes import ROUTES as SEARCH_ROUTES
from deployment.web_policy import SEARCH_SCOPE, UPLOAD_SCOPE
from local.http_server import QuietHandler, origin

# Lambda takes synchronous payloads up to 6 MB: the event (body and envelope) must fit.
MAX_EVENT_BYTES = 6 * 1024 * 1024
READ_CHUNK = 1 << 16


@dataclass
class JwtAuthorizer:
    """What API Gateway's JWT authorizer checks, with PyJWT: an RS256 signature by a key of the
    issuer's JWKS, `iss`, `client_id` (or `aud`) among the audience, `exp`, `nbf` and `iat` not in
    the future, and the API's scope (an ID token has none)."""

    issuer: str
    audience: list[str]
    jwks_url: str
    _keys: jwt.PyJWKClient = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._keys = jwt.PyJWKClient(self.jwks_url)

    def claims(self, authorization: str | None, scope: str = SEARCH_SCOPE) -> dict[str, Any] | None:
        """The claims of a valid token in the header (`Bearer <jwt>` or the token alone, as API
        Gateway takes it) that carries the route's `scope`; None for anything refused."""
        token = (authorization or "").removeprefix("Bearer ").strip()
        if not token:
            return None
        try:
            key = self._keys.get_signing_key_from_jwt(token)
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=["RS256"],
                issuer=self.issuer,
                options={"require": ["exp", "iss"], "verify_aud": False},
            )
        except (jwt.PyJWTError, ValueError):
            return None
        audience = claims.get("aud", claims.get("client_id"))
        if not set(audience if isinstance(audience, list) else [audience]) & set(self.audience):
            return None
        if not isinstance(claims.get("iat", 0), int) or claims.get("iat", 0) > time.time():
            return None
        if scope not in str(claims.get("scope", "")).split():
            return None
        return claims


@dataclass(frozen=True)
class Route:
    function: str  # the function behind it
    scope: str  # what the token must carry


def routes_of(search_function: str, extract_function: str | None) -> dict[tuple[str, str], Route]:
    """The routes the stack declares: the search function's, and the uploads with frame_extraction."""
    routes = {route: Route(search_function, SEARCH_SCOPE) for route in SEARCH_ROUTES}
    if extract_function:
        routes |= {route: Route(extract_function, UPLOAD_SCOPE) for route in UPLOAD_ROUTES}
    return routes


def api_handler(
    *,
    authorizer: JwtAuthorizer,
    page_url: str,
    api_url: str,
    lambda_client: Any,
    routes: dict[tuple[str, str], Route],
    requests: list[str] | None = None,
) -> type[QuietHandler]:
    """`requests`: where each request a function gets is noted (`GET /videos?limit=3`), as API
    Gateway's access log would have it."""
    page_origin = origin(page_url)

    class Api(QuietHandler):
        def cors(self) -> dict[str, str]:
            if self.headers.get("Origin") != page_origin:
                return {}
            return {"Access-Control-Allow-Origin": page_origin, "Vary": "Origin"}

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
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_EVENT_BYTES:
                self.discard(length)  # read it all: a browser still sending sees the answer
                self.send_json(413, {"message": "Request Entity Too Large"}, self.cors())
                return
            body = self.read_body()
            route = routes.get((self.command, parts.path))
            if route is None:
                self.send_json(404, {"message": "Not Found"}, self.cors())
                return
            claims = authorizer.claims(self.headers.get("Authorization"), route.scope)
            if claims is None:
                self.send_json(401, {"message": "Unauthorized"}, self.cors())
                return
            if requests is not None:
                requests.append(f"{self.command} {self.path}")
            payload = json.dumps(self.event(parts, body, claims)).encode()
            if len(payload) > MAX_EVENT_BYTES:
                self.send_json(413, {"message": "Request Entity Too Large"}, self.cors())
                return
            try:
                answer = lambda_client.invoke(FunctionName=route.function, Payload=payload)
            except ReadTimeoutError:  # the integration timeout
                self.send_json(503, {"message": "Service Unavailable"}, self.cors())
                return
            except ClientError:
                self.send_json(500, {"message": "Internal Server Error"}, self.cors())
                return
            result = json.loads(answer["Payload"].read())
            if answer.get("FunctionError") or not isinstance(result, dict) or "statusCode" not in result:
                self.send_json(500, {"message": "Internal Server Error"}, self.cors())
                return
            content = result.get("body") or ""
            data = base64.b64decode(content) if result.get("isBase64Encoded") else content.encode()
            self.send(int(result["statusCode"]), data, {**result.get("headers", {}), **self.cors()})

        def discard(self, length: int) -> None:
            while length > 0:
                chunk = self.rfile.read(min(READ_CHUNK, length))
                if not chunk:  # the client gave up
                    return
                length -= len(chunk)

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
                    "domainName": urllib.parse.urlsplit(api_url).netloc,
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
