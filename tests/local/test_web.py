"""The local page, HTTP API and sign-in stand-in (local/web.py) on their own, in front of a stub
function and moto's Cognito: what API Gateway's authorizer, router, CORS, payload limit and
integration timeout answer, and what the managed login hands the page."""

from __future__ import annotations

import base64
import hashlib
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
from moto.server import ThreadedMotoServer

from deployment.web_policy import PAGE_SCOPES
from local.lambda_server import LocalFunction, LocalLambda, serve
from local.sign_in import LocalUserPool
from local.stack import free_port
from local.web import LocalWeb, serve_web

REGION = "ap-southeast-1"


def echo(event: Any, context: Any) -> dict[str, Any]:
    """A stand-in search function: answers with the event it was sent."""
    if json.loads(event.get("body") or "{}").get("sleep"):
        time.sleep(2)
    return {"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": json.dumps(event)}


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    """moto's server, for Cognito (the user pool, its token signing and its JWKS)."""
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture(scope="module")
def web(moto_url: str) -> Iterator[LocalWeb]:
    local = LocalLambda(
        [LocalFunction("clip-search", echo, timeout_s=60), LocalFunction("clip-extract", echo, timeout_s=60)],
        region=REGION,
    )
    with (
        serve(local) as endpoint,
        serve_web(
            lambda_endpoint=endpoint,
            moto_url=moto_url,
            search_function="clip-search",
            extract_function="clip-extract",
            region=REGION,
            integration_timeout_s=1,
        ) as running,
    ):
        yield running


def call(
    url: str, *, method: str = "GET", body: Any = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_the_function_gets_the_payload_2_event_with_the_claims(web: LocalWeb):
    token = web.user_pool.token("someone@example.com", email="someone@example.com")
    status, _, body = call(web.api_url + "search", method="POST", body={"query": "a"}, headers=bearer(token))
    assert status == 200
    event = json.loads(body)
    assert (event["version"], event["routeKey"], event["rawPath"]) == ("2.0", "POST /search", "/search")
    assert event["requestContext"]["http"]["method"] == "POST"
    claims = event["requestContext"]["authorizer"]["jwt"]["claims"]
    assert (claims["email"], claims["client_id"]) == ("someone@example.com", web.user_pool.client_id)
    assert json.loads(event["body"]) == {"query": "a"}
    assert event["headers"]["authorization"].startswith("Bearer ")


@pytest.mark.parametrize(
    "case", ["none", "not bearer", "garbage", "forged", "expired", "other issuer", "other client"]
)
def test_the_authorizer_stand_in_refuses(web: LocalWeb, moto_url: str, case: str):
    pool = web.user_pool
    # Another pool of the same moto signs with the same key: only its issuer differs.
    other_pool = LocalUserPool.create(pool.cognito, page_url=web.page_url, moto_url=moto_url)
    tokens = {
        "none": None,
        "not bearer": f"Basic {base64.b64encode(b'a:b').decode()}",
        "garbage": "Bearer abc.def",
        "forged": "Bearer " + pool.token("x@example.com").rsplit(".", 1)[0] + ".AAAA",
        "expired": "Bearer " + pool.token("x@example.com", lifetime_s=-5),
        "other issuer": "Bearer " + other_pool.token("x@example.com"),
        "other client": "Bearer " + pool.token("x@example.com", client_id="other"),
    }
    token = tokens[case]
    headers = {"Authorization": token} if token else {}
    status, _, body = call(web.api_url + "videos", headers=headers)
    assert (status, json.loads(body)) == (401, {"message": "Unauthorized"})


def test_no_route_is_a_404_before_the_authorizer(web: LocalWeb):
    for method, path in (("GET", "search"), ("POST", "videos"), ("GET", "admin")):
        status, _, body = call(web.api_url + path, method=method, body={} if method == "POST" else None)
        assert (status, json.loads(body)) == (404, {"message": "Not Found"}), (method, path)


def test_cors_only_for_the_page(web: LocalWeb):
    preflight = {"Origin": web.page_origin, "Access-Control-Request-Method": "POST"}
    status, headers, _ = call(web.api_url + "search", method="OPTIONS", headers=preflight)
    assert status == 204
    assert headers["Access-Control-Allow-Origin"] == web.page_origin
    assert headers["Access-Control-Allow-Headers"] == "authorization,content-type"
    other = {"Origin": "http://127.0.0.1:1", "Access-Control-Request-Method": "POST"}
    _, headers, _ = call(web.api_url + "search", method="OPTIONS", headers=other)
    assert "Access-Control-Allow-Origin" not in headers


def test_a_body_over_lambdas_payload_limit_is_api_gateways_413(web: LocalWeb):
    token = web.user_pool.token("x@example.com")
    body = {"image": "A" * (6 * 1024 * 1024)}
    status, _, answer = call(web.api_url + "search", method="POST", body=body, headers=bearer(token))
    assert (status, json.loads(answer)) == (413, {"message": "Request Entity Too Large"})
    # the connection is answered, not dropped, and the API goes on serving
    assert call(web.api_url + "videos", headers=bearer(token))[0] == 200


def test_the_integration_timeout_is_api_gateways_503(web: LocalWeb):
    token = web.user_pool.token("x@example.com")
    status, _, body = call(web.api_url + "search", method="POST", body={"sleep": True}, headers=bearer(token))
    assert (status, json.loads(body)) == (503, {"message": "Service Unavailable"})


def test_the_page_has_the_distributions_headers_and_its_config(web: LocalWeb):
    status, headers, _ = call(web.page_url)
    assert status == 200
    assert "connect-src 'self' " + web.api_url.rstrip("/") in headers["Content-Security-Policy"]
    assert headers["X-Frame-Options"] == "DENY"
    _, _, config = call(web.page_url + "config.json")
    assert json.loads(config) == {
        "apiUrl": web.api_url,
        "auth": {
            "mode": "cognito",
            "domain": web.auth_url,
            "clientId": web.user_pool.client_id,
            "scope": PAGE_SCOPES,
        },
    }
    assert call(web.page_url + "../cdk.json")[0] == 404


def pkce() -> tuple[str, str]:
    verifier = "v" * 50
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def sign_in(web: LocalWeb, challenge: str, scope: str = PAGE_SCOPES) -> str:
    """Post the sign-in form; the code from the redirect to the page."""
    form = {"code_challenge": challenge, "state": "s1", "email": "a@example.com", "scope": scope}

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any) -> None:
            return None

    opener = urllib.request.build_opener(NoRedirect)
    request = urllib.request.Request(
        web.auth_url + "/oauth2/authorize", data=urllib.parse.urlencode(form).encode(), method="POST"
    )
    with pytest.raises(urllib.error.HTTPError) as redirected:
        opener.open(request)
    location = redirected.value.headers["Location"]
    assert location.startswith(web.page_url + "?")
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(location).query))
    assert query["state"] == "s1"
    return query["code"]


def exchange(web: LocalWeb, code: str, verifier: str) -> tuple[int, dict[str, Any]]:
    form = {
        "grant_type": "authorization_code",
        "client_id": web.user_pool.client_id,
        "code": code,
        "redirect_uri": web.page_url,
        "code_verifier": verifier,
    }
    request = urllib.request.Request(
        web.auth_url + "/oauth2/token", data=urllib.parse.urlencode(form).encode(), method="POST"
    )
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_sign_in_checks_pkce_and_a_code_is_good_once(web: LocalWeb):
    verifier, challenge = pkce()
    code = sign_in(web, challenge)
    assert exchange(web, code, "wrong verifier") == (400, {"error": "invalid_grant"})
    code = sign_in(web, challenge)
    status, tokens = exchange(web, code, verifier)
    assert status == 200
    claims = web.authorizer.claims(f"Bearer {tokens['access_token']}")
    assert claims is not None
    assert claims["scope"].split() == PAGE_SCOPES.split()
    identity = jwt.decode(tokens["id_token"], options={"verify_signature": False})
    assert identity["email"] == "a@example.com"
    assert exchange(web, code, verifier)[0] == 400  # used
    # the ID token, and an access token without the API's scope, are refused as API Gateway would
    assert web.authorizer.claims(f"Bearer {tokens['id_token']}") is None
    _, unscoped = exchange(web, sign_in(web, challenge, scope="openid email"), verifier)
    assert web.authorizer.claims(f"Bearer {unscoped['access_token']}") is None


def test_the_token_check_refuses_what_api_gateway_refuses(web: LocalWeb):
    pool, authorizer = web.user_pool, web.authorizer
    good = pool.token("someone@example.com")
    assert authorizer.claims(good) is not None  # the token alone, without "Bearer ", as API Gateway takes it
    _, body, _ = good.split(".")
    not_an_object = base64.urlsafe_b64encode(b"[]").rstrip(b"=").decode()
    assert authorizer.claims(f"Bearer {not_an_object}.{body}.x") is None  # not a crash
    later = int(time.time()) + 600
    assert authorizer.claims(pool.token("someone@example.com", nbf=later)) is None
    assert authorizer.claims(pool.token("someone@example.com", iat=later)) is None
    assert authorizer.claims(pool.token("someone@example.com", lifetime_s=-1)) is None


def test_the_authorize_page_refuses_another_redirect_or_no_pkce(web: LocalWeb):
    base = {"response_type": "code", "client_id": web.user_pool.client_id, "redirect_uri": web.page_url}
    _, challenge = pkce()
    good = base | {"code_challenge": challenge, "code_challenge_method": "S256"}
    assert call(f"{web.auth_url}/oauth2/authorize?{urllib.parse.urlencode(good)}")[0] == 200
    evil = good | {"redirect_uri": "http://127.0.0.1:1/"}
    assert call(f"{web.auth_url}/oauth2/authorize?{urllib.parse.urlencode(evil)}")[0] == 400
    assert call(f"{web.auth_url}/oauth2/authorize?{urllib.parse.urlencode(base)}")[0] == 400


def test_uploads_go_to_the_extraction_function_and_need_the_upload_scope(web: LocalWeb):
    search_only = web.user_pool.token("s@example.com", scope="openid email clipsearch/search")
    both = web.user_pool.token("u@example.com")  # the page's scopes: search and upload
    status, _, body = call(
        web.api_url + "uploads", method="POST", body={"name": "a.mp4"}, headers=bearer(both)
    )
    assert status == 200
    assert json.loads(body)["routeKey"] == "POST /uploads"  # the extraction function got it (an echo here)
    for method in ("GET", "POST"):
        status, _, body = call(
            web.api_url + "uploads",
            method=method,
            body={} if method == "POST" else None,
            headers=bearer(search_only),
        )
        assert (status, json.loads(body)) == (401, {"message": "Unauthorized"})
    assert call(web.api_url + "videos", headers=bearer(search_only))[0] == 200
