"""Running the system on one machine: a Lambda Invoke endpoint and the demo (never in an image)."""
