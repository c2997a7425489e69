"""CDK constructs and stacks of the CLIP frame search service."""
