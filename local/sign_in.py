"""The Cognito managed login domain's stand-in on 127.0.0.1, over a user pool in moto's Cognito:
`/oauth2/authorize` (a one-button sign-in form), `/oauth2/token` (authorization code with PKCE,
S256 checked) and `/logout`. moto holds the pool, its app client and the API's resource server,
signs the tokens (RS256) and serves their public keys (JWKS), as Cognito does; the page's sign-in
code is the same locally and in AWS."""

from __future__ import annotations

import base64
import hashlib
import html
import secrets
import threading
import time
import urllib.parse
import uuid
from dataclasses import dataclass, field
from typing import Any

from moto.cognitoidp.models import cognitoidp_backends
from moto.core.models import DEFAULT_ACCOUNT_ID

from deployment.web_policy import PAGE_SCOPES, SEARCH_SCOPE_NAME, SEARCH_SCOPE_SERVER
from local.http_server import QuietHandler, origin

TOKEN_LIFETIME_S = 3600
CODE_LIFETIME_S = 300


@dataclass(frozen=True)
class LocalUserPool:
    """A user pool and the page's app client in moto's Cognito (what the stack's SignIn makes)."""

    cognito: Any = field(repr=False)  # a cognito-idp client of moto's server
    pool_id: str
    client_id: str
    moto_url: str

    @property
    def region(self) -> str:
        return str(self.cognito.meta.region_name)

    @classmethod
    def create(cls, cognito: Any, *, page_url: str, moto_url: str) -> LocalUserPool:
        pool_id = cognito.create_user_pool(PoolName="clip-frame-search-users", UsernameAttributes=["email"])[
            "UserPool"
        ]["Id"]
        cognito.create_resource_server(
            UserPoolId=pool_id,
            Identifier=SEARCH_SCOPE_SERVER,
            Name="Frame search API",
            Scopes=[{"ScopeName": SEARCH_SCOPE_NAME, "ScopeDescription": "Search video frames"}],
        )
        client_id = cognito.create_user_pool_client(
            UserPoolId=pool_id,
            ClientName="page",
            GenerateSecret=False,
            AllowedOAuthFlows=["code"],
            AllowedOAuthFlowsUserPoolClient=True,
            AllowedOAuthScopes=PAGE_SCOPES.split(),
            CallbackURLs=[page_url],
            LogoutURLs=[page_url],
            SupportedIdentityProviders=["COGNITO"],
        )["UserPoolClient"]["ClientId"]
        return cls(cognito, pool_id, client_id, moto_url)

    @property
    def issuer(self) -> str:
        """The `iss` of the pool's tokens: what the API's JWT authorizer is configured with."""
        return f"https://cognito-idp.{self.region}.amazonaws.com/{self.pool_id}"

    @property
    def jwks_url(self) -> str:
        """Where moto serves the pool's signing keys (Cognito: `<issuer>/.well-known/jwks.json`)."""
        return f"{self.moto_url}/{self.pool_id}/.well-known/jwks.json"

    def _pool(self) -> Any:
        """moto's own pool: it signs with the pool's key (InitiateAuth's tokens carry only Cognito's
        own scope, not the API's resource server scope a managed login grants)."""
        return cognitoidp_backends[DEFAULT_ACCOUNT_ID][self.region].user_pools[self.pool_id]

    def sign_up(self, email: str) -> None:
        """The user, created on first sign-in (the stand-in asks for no password)."""
        try:
            self.cognito.admin_get_user(UserPoolId=self.pool_id, Username=email)
        except self.cognito.exceptions.UserNotFoundException:
            self.cognito.admin_create_user(
                UserPoolId=self.pool_id,
                Username=email,
                UserAttributes=[{"Name": "email", "Value": email}],
                MessageAction="SUPPRESS",
            )

    def token(
        self,
        user: str,
        *,
        scope: str = PAGE_SCOPES,
        lifetime_s: int = TOKEN_LIFETIME_S,
        client_id: str | None = None,
        **claims: Any,
    ) -> str:
        """An access token as Cognito issues it to `user` (an email) after a sign-in that granted
        `scope`, signed by moto (tests pass `claims` to make the tokens an authorizer must refuse)."""
        self.sign_up(user)
        extra = {"scope": scope, "origin_jti": str(uuid.uuid4()), **claims}
        token, _ = self._pool().create_jwt(
            client_id or self.client_id, user, "access", expires_in=lifetime_s, extra_data=extra
        )
        return str(token)

    def id_token(self, email: str) -> str:
        """An ID token (no scope: the API must refuse it)."""
        self.sign_up(email)
        token, _ = self._pool().create_jwt(self.client_id, email, "id", extra_data={"email": email})
        return str(token)


SIGN_IN_FORM = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>Sign in (local)</title></head><body><main><h1>Sign in</h1>
<p>The local stand-in for the Cognito managed login page.</p>
<form method="post" action="/oauth2/authorize">{hidden}
<label for="email">Email</label> <input id="email" name="email" value="demo@example.com">
<button type="submit" id="sign-in-submit">Sign in</button></form></main></body></html>"""


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def sign_in_handler(pool: LocalUserPool, *, page_url: str) -> type[QuietHandler]:
    """The managed login domain for the page at `page_url` (its only callback and logout URL)."""
    codes: dict[str, dict[str, Any]] = {}
    lock = threading.Lock()
    page_origin = origin(page_url)
    client_scopes = PAGE_SCOPES.split()  # what the app client may ask for

    class SignIn(QuietHandler):
        def cors(self) -> dict[str, str]:
            if self.headers.get("Origin") != page_origin:
                return {}
            return {"Access-Control-Allow-Origin": page_origin, "Vary": "Origin"}

        def refuse(self, message: str) -> None:
            self.send_json(400, {"error": "invalid_request", "error_description": message}, self.cors())

        def do_GET(self) -> None:
            parts = urllib.parse.urlsplit(self.path)
            query = dict(urllib.parse.parse_qsl(parts.query))
            if parts.path == "/logout":
                if query.get("client_id") != pool.client_id or query.get("logout_uri") != page_url:
                    self.refuse("unknown client or logout_uri")
                    return
                self.send(302, b"", {"Location": page_url})
                return
            if parts.path != "/oauth2/authorize":
                self.send(404, b"Not Found", {"Content-Type": "text/plain"})
                return
            wanted = {"response_type": "code", "client_id": pool.client_id, "redirect_uri": page_url}
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
                    f"default-src 'none'; form-action 'self' {page_origin}; frame-ancestors 'none'"
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
                        "scope": " ".join(s for s in form.get("scope", "").split() if s in client_scopes),
                    }
                query = urllib.parse.urlencode({"code": code, "state": form.get("state", "")})
                self.send(302, b"", {"Location": f"{page_url}?{query}"})
                return
            if path != "/oauth2/token":
                self.send(404, b"Not Found", {"Content-Type": "text/plain"})
                return
            with lock:
                grant = codes.pop(form.get("code", ""), None)  # a code is good once
            verifier = form.get("code_verifier", "")
            if (
                form.get("grant_type") != "authorization_code"
                or form.get("client_id") != pool.client_id
                or form.get("redirect_uri") != page_url
                or grant is None
                or grant["expires"] < time.time()
                or _b64url(hashlib.sha256(verifier.encode()).digest()) != grant["challenge"]
            ):
                self.send_json(400, {"error": "invalid_grant"}, self.cors())
                return
            email = grant["email"]
            tokens = {
                "access_token": pool.token(email, scope=grant["scope"]),
                "id_token": pool.id_token(email),
                "token_type": "Bearer",
                "expires_in": TOKEN_LIFETIME_S,
            }
            self.send_json(200, tokens, self.cors() | {"Cache-Control": "no-store"})

    return SignIn
