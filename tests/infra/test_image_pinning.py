"""#16.3 at synth level: immutable repository tags by default, deploys pinned to image digests."""

from __future__ import annotations

import pytest

from tests.infra.conftest import EXISTING_RESOURCES_ECR, Synthesized, synthesize

DIGESTS = {
    f"{role}_image_digest": f"sha256:{char * 64}"
    for role, char in zip(("clip", "search", "batch"), "abc", strict=True)
}


def mutability(app: Synthesized) -> set[str]:
    repositories = app.images.find_resources("AWS::ECR::Repository").values()
    return {repository["Properties"]["ImageTagMutability"] for repository in repositories}


def test_repository_tags_are_immutable_by_default(default_app):
    assert mutability(default_app) == {"IMMUTABLE"}


def test_the_guides_latest_flow_may_ask_for_mutable_tags(tmp_path):
    assert mutability(synthesize(tmp_path, repository_tag_mutability="mutable")) == {"MUTABLE"}


@pytest.fixture(scope="module")
def pinned_app(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    return synthesize(tmp_path_factory.mktemp("pinned"), **EXISTING_RESOURCES_ECR, **DIGESTS)


@pytest.mark.parametrize(
    ("role", "name"), [("clip", "clip-inference"), ("search", "clip-search"), ("batch", "clip-batch-embed")]
)
def test_ecr_mode_with_digests_deploys_the_exact_images(pinned_app, role, name):
    functions = pinned_app.service.find_resources(
        "AWS::Lambda::Function", {"Properties": {"FunctionName": name}}
    )
    (function,) = functions.values()
    image = str(function["Properties"]["Code"]["ImageUri"])
    assert f"@{DIGESTS[f'{role}_image_digest']}" in image  # <repository>@sha256:...
    assert ":3f9c2a1b7d0e" not in image


def test_a_digest_must_be_a_sha256_digest():
    from deployment.config import ConfigError
    from deployment.context import load_config
    from tests.infra.conftest import CDK_CONTEXT

    with pytest.raises(ConfigError, match="clip_image_digest: String should match pattern"):
        load_config({**CDK_CONTEXT, "clip_image_digest": "3f9c2a1b7d0e"})
