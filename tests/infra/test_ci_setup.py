"""The optional CI set-up stack: GitHub OIDC provider and a deploy role for main's production only."""

from __future__ import annotations

import json

from stacks.ci_setup_stack import github_subject
from tests.infra.conftest import synthesize

SUBJECT = "repo:acme/clip-frame-search:environment:production:ref:refs/heads/main"


def roles(template):
    found = template.find_resources("AWS::IAM::Role")
    return {key.removeprefix("GitHub").split("Role")[0].lower(): value for key, value in found.items()}


def deploy_role(template):
    return roles(template)["deploy"]


def statements_of(template, role: str):
    policies = template.find_resources("AWS::IAM::Policy").values()
    (policy,) = [p for p in policies if p["Properties"]["Roles"][0]["Ref"].startswith(f"GitHub{role}Role")]
    return policy["Properties"]["PolicyDocument"]["Statement"]


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


def test_the_deploy_role_assumes_the_bootstrap_roles_and_reads_what_make_deploy_checks(ci_app):
    statements = {json.dumps(s["Action"]): s for s in statements_of(ci_template(ci_app), "Deploy")}
    assume = statements['"sts:AssumeRole"']
    rendered = json.dumps(assume["Resource"])
    for kind in ("deploy", "file-publishing", "image-publishing", "lookup"):
        assert f"role/cdk-clipsearch-{kind}-role-" in rendered
    assert len(assume["Resource"]) == 4
    assert set(statements) == {
        '"sts:AssumeRole"',
        '"ecr:DescribeImages"',
        '"lambda:GetFunctionConcurrency"',
        '"lambda:GetAccountSettings"',
    }
    assert "ManagedPolicyArns" not in deploy_role(ci_template(ci_app))["Properties"]
    assert not any("PutImage" in json.dumps(s) for s in statements.values())  # it pushes nothing


def test_the_image_role_pushes_to_our_repositories_only_from_the_images_environment(ci_app):
    template = ci_template(ci_app)
    statements = statements_of(template, "Image")
    push = next(s for s in statements if "ecr:PutImage" in s["Action"])
    assert {"ecr:DescribeImages", "ecr:DescribeRepositories"} <= set(push["Action"])
    rendered = json.dumps(push["Resource"])
    for name in ("lambda-clip-inference", "lambda-clip-search", "lambda-clip-batch"):
        assert f"repository/{name}" in rendered
    token = next(s for s in statements if s["Action"] == "ecr:GetAuthorizationToken")
    assert token["Resource"] == "*"
    assert not any("sts:AssumeRole" in json.dumps(s) for s in statements)  # it deploys nothing
    (statement,) = roles(template)["image"]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    subject = statement["Condition"]["StringEquals"]["token.actions.githubusercontent.com:sub"]
    assert subject == "repo:acme/clip-frame-search:environment:production-images:ref:refs/heads/main"


def test_without_create_github_oidc_provider_the_role_trusts_the_accounts_provider(tmp_path):
    app = synthesize(tmp_path, ci_setup=True, github_repository="acme/clip-frame-search")
    assert ci_template(app).find_resources("AWS::IAM::OIDCProvider") == {}
    (statement,) = deploy_role(ci_template(app))["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert "oidc-provider/token.actions.githubusercontent.com" in json.dumps(statement["Principal"])
