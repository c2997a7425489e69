"""Amazon S3 Vectors' shape and limits as plain data (no AWS SDK, no numpy): the runtime, the stack
that creates the index and the local emulation of QueryVectors all read them here."""

from __future__ import annotations

# S3 Vectors' limits (AWS's "Limitations and restrictions"; local/s3vectors.py enforces the same).
WRITE_BATCH = 500  # vectors per PutVectors, keys per DeleteVectors
GET_BATCH = 100  # keys per GetVectors
MAX_TOP_K = 100  # the candidates a search asks for (the contract's top_k maximum)
MAX_KEY_LENGTH = 1024
MAX_FILTERABLE_METADATA_BYTES = 2048
# The index's shape, fixed when it is created (the stack and the local system make it so): float32,
# S3 Vectors' only data type, and cosine, so that a hit's score is 1 - its distance.
DATA_TYPE = "float32"
DISTANCE_METRIC = "cosine"
