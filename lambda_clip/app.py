"""Lambda handler of the clip function: not built yet (issue #3).

Until then it answers every invocation with 501 so that a deployed stack says so plainly.
"""

from __future__ import annotations

import json
from typing import Any


def handler(event: Any, context: Any) -> dict[str, Any]:
    message = "the clip function is not implemented yet (issue #3)"
    return {"statusCode": 501, "body": json.dumps({"error": message})}
