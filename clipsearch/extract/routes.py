"""The HTTP API's upload routes as plain data (no AWS SDK): the extraction function answers them,
the stack declares them and the local API stand-in serves them."""

from __future__ import annotations

UPLOAD = ("POST", "/uploads")  # a presigned POST for one video file
UPLOAD_STATUS = ("GET", "/uploads")  # ?key=uploads/...: what became of it
ROUTES = (UPLOAD, UPLOAD_STATUS)
