"""The extraction function's logic: an uploaded video file becomes the upstream's keyframes and
`videos` row (facts, frame-accurate sampling, shot cuts, WebP frames). Imports `catalog`, `runtime`
and the foundations; no other function's package."""
