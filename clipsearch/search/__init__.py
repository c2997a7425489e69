"""The search function's logic: the request, the CLIP call for the query vector, the catalog, the
backend's best frames, the HTTP API routes and presigned frame URLs, and the wiring from the
environment. Imports everything below it; no other function's package."""
