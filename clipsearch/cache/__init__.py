"""The embeddings cache: its objects in S3 (`store`: per-frame `.npy`, per-video packed `.npz`),
a video's vectors in memory and the videos of one search lined up for ranking (`video_vectors`),
and the search's warm copy of them (`vector_cache`). Imports `runtime` and the foundations."""
