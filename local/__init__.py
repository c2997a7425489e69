"""Running the system on one machine: a Lambda Invoke endpoint and the demo (never in an image)."""

import os

# Before transformers is imported anywhere: no progress bars in the command-line tools' output.
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
