"""Reading the metrics a handler emitted (CloudWatch embedded metric format on stdout), as
Powertools' docs test them: parse the EMF lines and check names, values and dimensions."""

from __future__ import annotations

import json

import pytest


def emitted(capsys: pytest.CaptureFixture[str]) -> dict[str, float]:
    """Metric name -> value of every EMF document printed since the last call."""
    values: dict[str, float] = {}
    for line in capsys.readouterr().out.splitlines():
        if not line.startswith('{"_aws"'):
            continue
        document = json.loads(line)
        for directive in document["_aws"]["CloudWatchMetrics"]:
            assert directive["Namespace"] == "ClipFrameSearchTest"
            assert ["service"] in directive["Dimensions"] or "function_name" in directive["Dimensions"][0]
            for metric in directive["Metrics"]:
                value = document[metric["Name"]]
                values[metric["Name"]] = value[0] if isinstance(value, list) else value
    return values
