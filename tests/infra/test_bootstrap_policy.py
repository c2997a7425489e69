"""The bootstrap's CloudFormation execution policy (deployment/bootstrap_policy.py): it covers every
resource type the deployed stacks use, with the permissions their handlers need, and nothing more."""

from __future__ import annotations

import json
import re

from deployment.bootstrap_policy import MAX_POLICY_CHARACTERS, covers, documents, resource_actions
from deployment.context import load_config
from scripts.bootstrap_actions import generate
from tests.docs.pages import DEPLOY, documentation
from tests.infra.conftest import CDK_CONTEXT, Synthesized


def deployed_types(app: Synthesized) -> set[str]:
    """What CI deploys through the bootstrap: the service and repositories stacks."""
    return {r["Type"] for t in (app.images, app.service) for r in t.to_json()["Resources"].values()}


def test_every_resource_type_the_stacks_deploy_is_covered(any_app: Synthesized):
    assert {kind for kind in deployed_types(any_app) if not covers(kind)} == set()


def test_the_actions_are_what_the_resource_schemas_say_their_handlers_need():
    """Regenerate with `python -m scripts.bootstrap_actions` after a CDK or cfn-lint bump."""
    actions = resource_actions()
    assert actions == generate(list(actions))


def test_the_policy_names_no_type_the_stacks_do_not_deploy(
    default_app, existing_app, options_app, vectors_app
):
    used = set().union(
        *(deployed_types(app) for app in (default_app, existing_app, options_app, vectors_app))
    )
    assert set(resource_actions()) - used == set()
    # the CI set-up stack is deployed with an administrator's credentials: none of its types
    assert "AWS::IAM::OIDCProvider" not in resource_actions()


def test_the_documents_fit_iam_and_scope_iam_to_the_apps_roles():
    config = load_config(CDK_CONTEXT)
    found = documents(config, "111122223333")
    assert 1 <= len(found) <= 10  # IAM's managed policies per role
    statements = [statement for document in found for statement in document["Statement"]]
    for document in found:
        assert len(json.dumps(document, separators=(",", ":"))) <= MAX_POLICY_CHARACTERS
    for statement in statements:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        if statement["Effect"] == "Allow":
            assert not any(action == "*" or action.endswith(":*") for action in actions), actions
        if any(action.startswith("iam:") for action in actions) and statement["Effect"] == "Allow":
            assert statement["Resource"] == [
                "arn:aws:iam::111122223333:role/ClipFrameSearch*",
                "arn:aws:iam::111122223333:role/aws-service-role/*",
            ]
    (deny,) = [statement for statement in statements if statement["Effect"] == "Deny"]
    assert deny["Resource"] == "arn:aws:iam::111122223333:role/ClipFrameSearch*-CiSetup-*"


def test_the_ci_set_up_stack_deploys_with_an_administrators_own_credentials(ci_app):
    manifest = json.loads((ci_app.outdir / "manifest.json").read_text())
    properties = manifest["artifacts"]["ClipFrameSearch-CiSetup"]["properties"]
    assert "assumeRoleArn" not in properties
    assert "cloudFormationExecutionRoleArn" not in properties


def test_the_documented_bootstrap_never_takes_the_accounts_default_toolkit_stack():
    """`cdk bootstrap --qualifier q` alone rewrites the account's CDKToolkit: the documented commands
    (the lines of a code block) are `make bootstrap` (CDKToolkit-<qualifier>), or name their own
    toolkit stack. Prose may name the command, as decision 0011 does to say why."""
    for page in documentation():
        blocks = re.findall(r"^```[^\n]*\n(.*?)^```", page.read_text(), re.M | re.S)
        for command in re.findall(r"^.*\bcdk bootstrap\b.*$", "".join(blocks), re.M):
            assert "--toolkit-stack-name" in command, (page.name, command)
    assert "make bootstrap" in DEPLOY.read_text()
