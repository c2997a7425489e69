"""The page, the HTTP API and the sign-in stand-in started together on 127.0.0.1, three servers
and three origins as in AWS (CloudFront, API Gateway, Cognito's managed login domain)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
from botocore.config import Config

from clipsearch.search.routes import INTEGRATION_TIMEOUT_S
from local.api_gateway import JwtAuthorizer, api_handler, routes_of
from local.http_server import serve_in_thread
from local.page_server import page_handler
from local.sign_in import LocalUserPool, sign_in_handler
from local.stack import LocalSystem


@dataclass
class LocalWeb:
    page_url: str  # http://127.0.0.1:<port>/
    api_url: str  # http://127.0.0.1:<port>/
    auth_url: str  # http://127.0.0.1:<port> (the managed login domain's stand-in)
    user_pool: LocalUserPool  # signs tokens (tests make their own with it)
    authorizer: JwtAuthorizer  # the API's token check
    requests: list[str] = field(default_factory=list)  # what the API passed to the function, in order

    @property
    def page_origin(self) -> str:
        return self.page_url.rstrip("/")


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
    extract_function: str | None = None,
    videos_page_size: int | None = None,
) -> Iterator[LocalWeb]:
    """The three servers on 127.0.0.1 (free ports unless `ports`), in front of the search function
    behind the local Lambda Invoke endpoint, with a user pool in moto's Cognito at `moto_url`; the
    API gives up on the function after `integration_timeout_s` (the stack's integration timeout).
    `auth_mode` is the page's: `cognito` (sign in through the stand-in) or `jwt` (paste a token, as
    with api_auth=jwt); with `extract_function` (frame_extraction) the upload routes go to it;
    `videos_page_size` the pages of GET /videos it asks for (None: the API's)."""
    lambda_client = boto3.client(
        "lambda",
        endpoint_url=lambda_endpoint,
        region_name=region,
        config=Config(read_timeout=integration_timeout_s, retries={"total_max_attempts": 1}),
    )
    cognito = boto3.client("cognito-idp", endpoint_url=moto_url, region_name=region)
    with ExitStack() as stack:
        # Bound first (the ports make the origins), given their handlers once the origins are known.
        servers = [ThreadingHTTPServer(("127.0.0.1", port), BaseHTTPRequestHandler) for port in ports]
        for server in servers:
            server.daemon_threads = True
            stack.callback(server.server_close)
        page, api, auth = (f"http://127.0.0.1:{server.server_address[1]}" for server in servers)
        page_url, api_url = f"{page}/", f"{api}/"
        pool = LocalUserPool.create(cognito, page_url=page_url, moto_url=moto_url)
        authorizer = JwtAuthorizer(issuer=pool.issuer, audience=[pool.client_id], jwks_url=pool.jwks_url)
        web = LocalWeb(page_url, api_url, auth, pool, authorizer)
        handlers = (
            page_handler(
                api_url=api_url,
                auth_url=auth,
                client_id=pool.client_id,
                moto_url=moto_url,
                auth_mode=auth_mode,
                videos_page_size=videos_page_size,
            ),
            api_handler(
                authorizer=authorizer,
                page_url=page_url,
                api_url=api_url,
                lambda_client=lambda_client,
                routes=routes_of(search_function, extract_function),
                requests=web.requests,
            ),
            sign_in_handler(pool, page_url=page_url),
        )
        for server, handler, name in zip(servers, handlers, ("page", "http-api", "sign-in"), strict=True):
            server.RequestHandlerClass = handler
            serve_in_thread(server, f"local-{name}")
            stack.callback(server.shutdown)
        yield web


def serve_system_web(
    system: LocalSystem, *, auth_mode: str = "cognito", videos_page_size: int | None = None
) -> AbstractContextManager[LocalWeb]:
    """serve_web in front of a running local system's search function (the demo, the browser tests)."""
    return serve_web(
        lambda_endpoint=system.lambda_client.meta.endpoint_url,
        moto_url=system.s3.meta.endpoint_url,
        search_function=system.functions["search"],
        region=system.local.region,
        auth_mode=auth_mode,
        extract_function=system.functions.get("extract"),
        videos_page_size=videos_page_size,
    )
