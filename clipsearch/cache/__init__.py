"""The embeddings cache: its objects in S3 (`store`: per-frame `.npy`, per-video packed `.npz`),
a video's vectors in memory and many stacked for ranking (`video_vectors`), and the search's warm
copy of them (`vector_cache`). Imports `runtime`, `layout` and `vectors`."""
