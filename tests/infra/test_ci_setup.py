"""The optional CI set-up stack: GitHub OIDC provider and a deploy role for main's production only."""

from __future__ import annotations

import json

from stacks.ci_setup_stack import github_subject
from tests.infra.conftest import synthesize

SUBJECT = "repo:acme/clip-frame-search:environment:production:ref:refs/heads/main"


def deploy_role(template):
    (role,) = template.find_resources("AWS::IAM::Role").values()
    return role


def ci_template(app):
    assert app.ci_setup is not None, "the CI set-up stack was not synthesized"
    return app.ci_setup


def test_off_by_default(default_app):
    assert default_app.ci_setup is None
    assert not list(default_app.outdir.glob("*CiSetup*"))


def test_github_oidc_provider_for_sts(ci_app):
    (provider,) = ci_template(ci_app).find_resources("AWS::IAM::OIDCProvider").values()
    assert provider["Properties"]["Url"] == "https://token.actions.githubusercontent.com"
    assert provider["Properties"]["ClientIdList"] == ["sts.amazonaws.com"]


def test_trust_is_this_repository_production_environment_on_main_only(ci_app):
    (statement,) = deploy_role(ci_template(ci_app))["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert statement["Effect"] == "Allow"
    assert statement["Principal"]["Federated"] == {"Fn::GetAtt": ["GitHubOidcProvider", "Arn"]}
    assert statement["Condition"] == {
        "StringEquals": {
            "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
            "token.actions.githubusercontent.com:sub": SUBJECT,
        }
    }
    assert (
        github_subject(repository="acme/clip-frame-search", environment="production", branch="main")
        == SUBJECT
    )


def test_the_role_may_only_assume_the_cdk_bootstrap_roles(tmp_path):
    # GIVEN the default CI set-up (the role does not push images itself)
    app = synthesize(tmp_path, ci_setup=True, github_repository="acme/clip-frame-search")
    (policy,) = ci_template(app).find_resources("AWS::IAM::Policy").values()
    (statement,) = policy["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Action"] == "sts:AssumeRole"
    rendered = json.dumps(statement["Resource"])
    for kind in ("deploy", "file-publishing", "image-publishing", "lookup"):
        assert f"role/cdk-clipsearch-{kind}-role-" in rendered
    assert len(statement["Resource"]) == 4
    assert "ManagedPolicyArns" not in deploy_role(ci_template(app))["Properties"]


def test_image_push_is_limited_to_our_repositories(ci_app):
    (policy,) = ci_template(ci_app).find_resources("AWS::IAM::Policy").values()
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    push = next(s for s in statements if "ecr:PutImage" in s["Action"])
    assert "ecr:DescribeImages" in push["Action"]  # make images and make deploy resolve digests
    rendered = json.dumps(push["Resource"])
    for name in ("lambda-clip-inference", "lambda-clip-search", "lambda-clip-batch"):
        assert f"repository/{name}" in rendered
    token = next(s for s in statements if s["Action"] == "ecr:GetAuthorizationToken")
    assert token["Resource"] == "*"


def test_without_create_github_oidc_provider_the_role_trusts_the_accounts_provider(tmp_path):
    app = synthesize(tmp_path, ci_setup=True, github_repository="acme/clip-frame-search")
    assert ci_template(app).find_resources("AWS::IAM::OIDCProvider") == {}
    (statement,) = deploy_role(ci_template(app))["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert "oidc-provider/token.actions.githubusercontent.com" in json.dumps(statement["Principal"])
