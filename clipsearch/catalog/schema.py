"""The `videos` table's shape as plain data (no AWS SDK): its key, the statuses a row moves
through, and the index on `original_key` the stack gives a table it creates (the extraction
function finds an upload's videos with it). The stack, the local system and the runtime share it."""

from __future__ import annotations

KEY = "video_id"
PROCESSING, PROCESSED, FAILED = "processing", "processed", "failed"
ORIGINAL_KEY_INDEX = "by-original-key"
