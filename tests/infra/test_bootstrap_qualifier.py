"""The synthesizer uses the configured bootstrap qualifier: the roles the CI role may assume."""

from __future__ import annotations

import json

from tests.infra.conftest import CI_SETUP, synthesize


def test_the_manifest_names_the_configured_qualifiers_bootstrap_roles(tmp_path):
    app = synthesize(tmp_path, cdk_qualifier="team7", **CI_SETUP)
    manifest = (tmp_path / "manifest.json").read_text()
    assert "hnb659fds" not in manifest
    assert "clipsearch" not in manifest
    artifacts = json.loads(manifest)["artifacts"]
    for stack in ("ClipFrameSearch", "ClipFrameSearch-Images"):
        properties = artifacts[stack]["properties"]
        assert "cdk-team7-deploy-role-" in properties["assumeRoleArn"]
        assert "cdk-team7-cfn-exec-role-" in properties["cloudFormationExecutionRoleArn"]
        assert properties["bootstrapStackVersionSsmParameter"] == "/cdk-bootstrap/team7/version"
    assets = (tmp_path / "ClipFrameSearch.assets.json").read_text()
    assert "hnb659fds" not in assets
    assert "cdk-team7-container-assets-" in assets
    assert "cdk-team7-image-publishing-role-" in assets
    # and the CI deploy role may assume exactly those roles
    assert app.ci_setup is not None
    assert "cdk-team7-deploy-role-" in json.dumps(app.ci_setup.to_json())


def test_the_default_qualifier_is_the_apps_own_not_the_accounts_default_bootstrap(default_app):
    """The default bootstrap (hnb659fds, CDKToolkit) is other apps' too: ours has a scoped policy."""
    manifest = json.loads((default_app.outdir / "manifest.json").read_text())
    properties = manifest["artifacts"]["ClipFrameSearch"]["properties"]
    assert "cdk-clipsearch-deploy-role-" in properties["assumeRoleArn"]
