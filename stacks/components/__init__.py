"""One construct per component; the stacks wire them together with grants."""
