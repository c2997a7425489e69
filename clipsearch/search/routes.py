"""The HTTP API's routes and its integration timeout as plain data (no AWS SDK, no numpy): the search
function routes by them, the stack declares them and the local API stand-in serves them."""

from __future__ import annotations

SEARCH = ("POST", "/search")
VIDEOS = ("GET", "/videos")
ROUTES = (SEARCH, VIDEOS)

# API Gateway's integration timeout for HTTP APIs: 30 s at most; the stack sets 29 s (what the CDK
# construct allows) and HTTP_API_TIMEOUT_S to match, and the local API stand-in gives up after it too.
MAX_TIMEOUT_S = 30
INTEGRATION_TIMEOUT_S = 29
