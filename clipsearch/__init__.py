"""Runtime code the Lambda images share, in packages by concern (no torch, no CDK).

Each package's docstring says what it owns and what it may import; `.importlinter` enforces it
(higher layers import lower ones, never the reverse), and docs/developers/architecture.md draws it.
Two modules sit below every package: `layout` (every S3 key format) and `vectors` (vector encodings).
"""
