"""Every test is in exactly one layer (unit, integration, infra), so `make test-unit` misses none."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import LAYER_OF_FOLDER, LAYERS, layer_of

TESTS = Path(__file__).parent


def test_every_test_folder_has_a_layer():
    folders = {path.parent.relative_to(TESTS).parts[0] for path in TESTS.glob("*/**/test_*.py")}
    assert folders <= set(LAYER_OF_FOLDER), f"no layer for {sorted(folders - set(LAYER_OF_FOLDER))}"


def test_every_collected_test_has_exactly_one_layer(request: pytest.FixtureRequest):
    for item in request.session.items:
        layers = [mark.name for mark in item.iter_markers() if mark.name in LAYERS]
        assert len(layers) == 1, (item.nodeid, layers)


def test_the_folder_decides_unless_the_local_endpoint_is_used():
    assert layer_of("clip", ["clip_app", "s3"]) == "unit"
    assert layer_of("search", ["lambda_client"]) == "unit"
    # the search world serves CLIP and batch behind the local Lambda Invoke endpoint
    assert layer_of("search", ["world", "lambda_context"]) == "integration"
    assert layer_of("local", []) == "integration"
    assert layer_of("ci", []) == "infra"
    assert layer_of("infra", ["default_app"]) == "infra"


def test_an_explicit_layer_marker_wins():
    assert layer_of("clip", [], explicit=["parametrize", "integration"]) == "integration"
    with pytest.raises(pytest.UsageError, match="more than one layer marker"):
        layer_of("clip", [], explicit=["unit", "infra"])


def test_a_folder_in_no_layer_fails_the_collection():
    with pytest.raises(pytest.UsageError, match=r"tests/perf/ is in no test layer"):
        layer_of("perf", [])


def test_a_unit_test_that_starts_the_lambda_endpoint_is_told_to_be_integration():
    from local.lambda_server import LocalLambda, serve

    with (
        pytest.raises(
            RuntimeError, match=r"starts the local Lambda endpoint: mark it @pytest.mark.integration"
        ),
        serve(LocalLambda([], region="ap-southeast-1")),
    ):
        pass
