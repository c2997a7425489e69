"""Images in: reading one image item (an `s3://` key, base64, a data URI) and decoding untrusted
bytes into RGB pixels, safely. Used by the CLIP and batch functions; imports `runtime` and `layout`."""
