"""Each role holds exactly the guide's statements plus the deviations listed in the README."""

from __future__ import annotations

import json
import re

import pytest

from tests.infra.conftest import CDK_CONTEXT, ROOT, Synthesized, synthesize
from tests.infra.iam_policy import (
    BUCKET_KMS_KEY_ARN,
    GUIDE,
    ROLES,
    RoleReader,
    Statement,
    readme_deviations,
)


def expected(role: str, context: dict[str, object] = CDK_CONTEXT) -> set[Statement]:
    return GUIDE[role] | readme_deviations(ROOT / "README.md", context)[role]


@pytest.mark.parametrize("role", ROLES)
def test_role_has_exactly_the_guides_statements_and_listed_deviations(any_app: Synthesized, role):
    actual = RoleReader(any_app.service).statements(role)
    wanted = expected(role, any_app.context)
    unlisted = "\n  ".join(map(str, actual - wanted))
    missing = "\n  ".join(map(str, wanted - actual))
    assert actual == wanted, f"\nnot in guide or README:\n  {unlisted}\nmissing:\n  {missing}"


def test_rows_for_an_option_apply_only_with_it():
    traced = {**CDK_CONTEXT, "tracing": True}
    xray = Statement(frozenset({"xray:PutTraceSegments", "xray:PutTelemetryRecords"}), "*")
    for role in ROLES:
        assert xray in expected(role, traced)
        assert xray not in expected(role)


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
    given = set(hard_coded_accounts(BUCKET_KMS_KEY_ARN))  # a key ARN the configuration names
    for path in any_app.template_files():
        # every other account reference is the AWS::AccountId pseudo parameter
        assert [a for a in hard_coded_accounts(path.read_text()) if a not in given] == [], path.name


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


def test_an_existing_sse_kms_bucket_gets_exactly_the_listed_key_statements(tmp_path):
    # The pipeline's own bucket, encrypted with its key: the usual case for bucket_kms_key_arn.
    app = synthesize(tmp_path, create_bucket=False, bucket_kms_key_arn=BUCKET_KMS_KEY_ARN)
    reader = RoleReader(app.service)
    for role in ROLES:
        assert reader.statements(role) == expected(role, app.context), role
    key_statements = {s for s in reader.statements("clip") if s.resource == "<bucket key>"}
    assert key_statements == {Statement(frozenset({"kms:Decrypt", "kms:GenerateDataKey"}), "<bucket key>")}
