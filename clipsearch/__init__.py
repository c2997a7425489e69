"""Runtime code shared by the Lambda images (no torch import at package level)."""
