"""The batch function's handler package (in the image, app.py sits at the task root)."""
