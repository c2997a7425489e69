"""The CLIP function's logic: texts or images in, unit vectors out (and optionally cached).
Imports `model`, `media`, `cache` and `runtime`; no other function's package."""
