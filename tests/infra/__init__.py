"""Infrastructure tests. jsii runs on the pinned Node 22 of node_modules when it is installed
(`make` puts it first on PATH; a bare `pytest` gets it through JSII_NODE here)."""

import os
from pathlib import Path

_PINNED_NODE = Path(__file__).resolve().parents[2] / "node_modules" / ".bin" / "node"
if _PINNED_NODE.exists():
    os.environ.setdefault("JSII_NODE", str(_PINNED_NODE))
