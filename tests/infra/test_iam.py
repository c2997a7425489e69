"""Each role holds exactly the guide's statements plus the deviations listed on the IAM page."""

from __future__ import annotations

import json
import re

import pytest

from tests.docs.pages import IAM
from tests.infra.conftest import CDK_CONTEXT, Synthesized, synthesize
from tests.infra.iam_policy import (
    BUCKET_KMS_KEY_ARN,
    GUIDE,
    ROLES,
    SERVICE_ROLES,
    RoleReader,
    Statement,
    documented_deviations,
)


def expected(role: str, context: dict[str, object] = CDK_CONTEXT) -> set[Statement]:
    return GUIDE.get(role, set()) | documented_deviations(IAM, context)[role]


def role_exists(role: str, context: dict[str, object]) -> bool:
    """The pipe reads a created table's stream or videos_stream_arn; the schedule is sweep_schedule;
    the extraction function is frame_extraction."""
    if role == "pipe":
        return bool(context["create_table"] or context["videos_stream_arn"])
    if role == "schedule":
        return bool(context["sweep_schedule"])
    if role == "extract":
        return bool(context["frame_extraction"])
    return True


@pytest.mark.parametrize("role", [*ROLES, *SERVICE_ROLES])
def test_role_has_exactly_the_guides_statements_and_listed_deviations(any_app: Synthesized, role):
    reader = RoleReader(any_app.service)
    if role in SERVICE_ROLES:
        assert (reader.service_role_id(role) is not None) == role_exists(role, any_app.context)
    actual = reader.statements(role)
    wanted = expected(role, any_app.context) if role_exists(role, any_app.context) else set()
    unlisted = "\n  ".join(map(str, actual - wanted))
    missing = "\n  ".join(map(str, wanted - actual))
    assert actual == wanted, f"\nnot in the guide or the IAM page:\n  {unlisted}\nmissing:\n  {missing}"


def test_rows_for_an_option_apply_only_with_it():
    traced = {**CDK_CONTEXT, "tracing": True}
    xray = Statement(frozenset({"xray:PutTraceSegments", "xray:PutTelemetryRecords"}), "*")
    for role in ROLES:
        assert xray in expected(role, traced)
        assert xray not in expected(role)


def test_rows_for_a_value_apply_only_with_that_value():
    vectors = {**CDK_CONTEXT, "index_backend": "s3vectors"}
    query = Statement(frozenset({"s3vectors:QueryVectors", "s3vectors:GetVectors"}), "<vector index>")
    assert query in expected("search", vectors)
    assert query not in expected("search")  # index_backend=memory


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


# Configuration values that are ARNs of the user's own resources: accounts there are theirs, not ours.
CONFIGURED_ARNS = ("bucket_kms_key_arn", "videos_stream_arn")


def test_no_account_id_or_placeholder_is_hard_coded(any_app: Synthesized):
    for path in any_app.template_files():
        text = path.read_text()
        for key in CONFIGURED_ARNS:
            if any_app.context.get(key):
                text = text.replace(str(any_app.context[key]), "<configured>")
        # every other account reference is the AWS::AccountId pseudo parameter
        assert hard_coded_accounts(text) == [], path.name


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
