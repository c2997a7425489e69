"""The batch function's logic: a video's frames embedded into the cache resumably within a
deadline (what S3 holds of the video, the read-decode-embed pipeline, the packed object, chunks of
long videos), and the wiring from the environment. Imports everything below it; no other
function's package."""
