"""The page's security headers, without the CDK: the distribution's response headers policy
(stacks/components/web_site.py) and the local page server (local/page_server.py) send the same."""

from __future__ import annotations

from collections.abc import Sequence

HSTS_MAX_AGE_S = 365 * 24 * 3600
# The scope every route requires with api_auth=cognito: only access tokens the page's sign-in gets
# carry it (an ID token has no scope; API Gateway's JWT authorizer cannot tell them apart otherwise).
SEARCH_SCOPE_SERVER, SEARCH_SCOPE_NAME = "clipsearch", "search"
SEARCH_SCOPE = f"{SEARCH_SCOPE_SERVER}/{SEARCH_SCOPE_NAME}"
# The upload routes require a scope of their own: a token with the search scope alone cannot upload
# (an app client without it, or an issuer that grants only search, gives search-only users).
UPLOAD_SCOPE_NAME = "upload"
UPLOAD_SCOPE = f"{SEARCH_SCOPE_SERVER}/{UPLOAD_SCOPE_NAME}"
PAGE_SCOPES = f"openid email {SEARCH_SCOPE} {UPLOAD_SCOPE}"  # what the page's sign-in asks for
# The page's files in web/, by suffix: all that is published (nothing an editor or Finder leaves
# there) and served locally, with their content types.
PAGE_CONTENT_TYPES = {".html": "text/html; charset=utf-8", ".css": "text/css", ".js": "text/javascript"}


def content_security_policy(*, connect: list[str], images: list[str], media: Sequence[str] = ()) -> str:
    """Scripts, styles and everything else from the page's own origin only; `connect` for fetch()
    (the API, the sign-in domain, the bucket the page uploads to); `images` for the frames
    (presigned S3 URLs), plus blob: and data: for the preview of an image query the person dropped;
    `media` for the uploaded videos a moment plays (presigned S3 URLs)."""
    directives = {
        "default-src": ["'none'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "blob:", "data:", *images],
        "media-src": ["'self'", *media],
        "connect-src": ["'self'", *connect],
        "form-action": ["'self'"],
        "base-uri": ["'none'"],
        "frame-ancestors": ["'none'"],
    }
    return "; ".join(f"{name} {' '.join(sources)}" for name, sources in directives.items())


def security_headers(csp: str) -> dict[str, str]:
    """Every header the distribution adds (HSTS only means something over HTTPS)."""
    return {
        "Content-Security-Policy": csp,
        "Strict-Transport-Security": f"max-age={HSTS_MAX_AGE_S}; includeSubDomains",
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "no-referrer",
        "X-XSS-Protection": "0",
    }
