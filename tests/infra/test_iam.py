"""Each role holds exactly the guide's statements plus the deviations listed in the README."""

from __future__ import annotations

import json
import re

import pytest

from tests.infra.conftest import ROOT, Synthesized
from tests.infra.iam_policy import GUIDE, ROLES, RoleReader, Statement, readme_deviations

DEVIATIONS = readme_deviations(ROOT / "README.md")


def expected(role: str) -> set[Statement]:
    return GUIDE[role] | DEVIATIONS[role]


@pytest.mark.parametrize("role", ROLES)
def test_role_has_exactly_the_guides_statements_and_listed_deviations(any_app: Synthesized, role):
    actual = RoleReader(any_app.service).statements(role)
    unlisted = "\n  ".join(map(str, actual - expected(role)))
    missing = "\n  ".join(map(str, expected(role) - actual))
    assert actual == expected(role), f"\nnot in guide or README:\n  {unlisted}\nmissing:\n  {missing}"


def test_an_unlisted_permission_would_fail(default_app):
    # GIVEN a template whose search role gained a permission nobody listed
    template = default_app.service.to_json()
    policy = next(
        resource
        for key, resource in template["Resources"].items()
        if resource["Type"] == "AWS::IAM::Policy" and key.startswith("SearchFunctionRole")
    )
    policy["Properties"]["PolicyDocument"]["Statement"].append(
        {"Effect": "Allow", "Action": "s3:DeleteObject", "Resource": "*"}
    )
    from aws_cdk.assertions import Template

    # WHEN it is read back THEN the extra statement shows up as a difference
    actual = RoleReader(Template.from_json(template)).statements("search")
    assert actual - expected("search") == {Statement(frozenset({"s3:DeleteObject"}), "*")}


# A 12-digit AWS account id on its own (not part of a longer name or hash).
ACCOUNT_ID = re.compile(r"(?<![0-9A-Za-z])\d{12}(?![0-9A-Za-z])")


def hard_coded_accounts(template_text: str) -> list[str]:
    """Account ids and the guide's placeholder written into a template instead of AWS::AccountId."""
    return ACCOUNT_ID.findall(template_text) + re.findall("YOUR_ACCOUNT_ID", template_text)


def test_no_account_id_or_placeholder_is_hard_coded(any_app: Synthesized):
    for path in any_app.template_files():
        # every account reference is the AWS::AccountId pseudo parameter
        assert hard_coded_accounts(path.read_text()) == [], path.name


def test_a_hard_coded_account_would_fail(default_app):
    # GIVEN the search role's CLIP permission with the account written out, as the guide does
    template = default_app.service.to_json()
    arn = "arn:aws:lambda:ap-southeast-1:210987654321:function:clip-inference"
    template["Resources"]["Wrong"] = {"Type": "AWS::IAM::Policy", "Properties": {"Resource": arn}}
    # WHEN the template is checked THEN the account id is found
    assert hard_coded_accounts(json.dumps(template)) == ["210987654321"]
    assert hard_coded_accounts('"arn:aws:logs:ap-southeast-1:YOUR_ACCOUNT_ID:*"') == ["YOUR_ACCOUNT_ID"]


def test_search_invokes_the_real_clip_function_not_the_guides_misnamed_one(default_app):
    text = json.dumps(default_app.service.to_json())
    assert "function:lambda-clip-inference" not in text
