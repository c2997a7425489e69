"""What starts the extraction function, as plain data (no AWS SDK): the S3 events of `uploads/` the
bucket sends the ingest queue, and the HTTP API's upload routes; the stack declares them, the
local system makes the same, the function answers them."""

from __future__ import annotations

UPLOAD = ("POST", "/uploads")  # a presigned POST for one video file
UPLOAD_STATUS = ("GET", "/uploads")  # ?key=uploads/...: what became of it
ROUTES = (UPLOAD, UPLOAD_STATUS)

# The bucket's notification on uploads/: a version created, or the object (or its current version) gone.
UPLOAD_EVENTS = ("s3:ObjectCreated:*", "s3:ObjectRemoved:*")
