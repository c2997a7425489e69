"""The `videos` table's shape as plain data (no AWS SDK): its key, the statuses a row moves
through, and the index on `original_key` the stack gives a table it creates (the extraction
function finds an upload's videos with it). The stack, the local system and the runtime share it."""

from __future__ import annotations

KEY = "video_id"
PROCESSING, PROCESSED, FAILED = "processing", "processed", "failed"
# The extraction function's own: an uploaded video whose upload changed or went, while its frames,
# cache and index entries go (search lists `processed` rows only; the row goes last).
REMOVING = "removing"
ORIGINAL_KEY_INDEX = "by-original-key"
