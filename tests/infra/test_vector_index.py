"""The S3 Vectors index (index_backend=s3vectors, stacks/components/vector_index.py)."""

from __future__ import annotations

from typing import Any

from aws_cdk import App, Stack
from aws_cdk import aws_iam as iam
from aws_cdk.assertions import Template

from deployment.runtime_env import EMBEDDING_DIM
from stacks.components.vector_index import VectorIndex
from tests.infra.conftest import CDK_CONTEXT, Synthesized
from tests.infra.iam_policy import BUCKET_KMS_KEY_ARN


def resources(app: Synthesized, kind: str) -> list[Any]:
    return list(app.service.find_resources(kind).values())


def test_the_memory_backend_creates_no_vector_index(default_app):
    assert not resources(default_app, "AWS::S3Vectors::VectorBucket")
    assert not resources(default_app, "AWS::S3Vectors::Index")


def test_one_retained_index_of_the_models_dimension_cosine_float32(vectors_app):
    (index,) = resources(vectors_app, "AWS::S3Vectors::Index")
    (bucket_id,) = vectors_app.service.find_resources("AWS::S3Vectors::VectorBucket")
    assert EMBEDDING_DIM == 512  # openai/clip-vit-base-patch32
    assert index["Properties"] == {
        "IndexName": "frames",
        "Dimension": EMBEDDING_DIM,
        "DistanceMetric": "cosine",
        "DataType": "float32",
        # video_id, frame_index and time_s stay filterable (the search's video_ids and time_range)
        "MetadataConfiguration": {"NonFilterableMetadataKeys": ["frame_key", "model"]},
        "VectorBucketArn": {"Fn::GetAtt": [bucket_id, "VectorBucketArn"]},
    }
    assert (index["DeletionPolicy"], index["UpdateReplacePolicy"]) == ("Retain", "Retain")


def test_the_vector_bucket_is_retained_and_uses_the_frame_buckets_kms_key(vectors_app):
    (bucket,) = resources(vectors_app, "AWS::S3Vectors::VectorBucket")
    assert bucket["Properties"] == {
        "VectorBucketName": "clip-frame-vectors",
        "EncryptionConfiguration": {"SseType": "aws:kms", "KmsKeyArn": BUCKET_KMS_KEY_ARN},
    }
    assert (bucket["DeletionPolicy"], bucket["UpdateReplacePolicy"]) == ("Retain", "Retain")


def component_template(**overrides: object) -> tuple[Template, Stack]:
    """The component alone in a bare stack (no functions, no images: no full synth)."""
    stack = Stack(App(context=CDK_CONTEXT), "Bare", env={"region": "ap-southeast-1"})  # the app's flags
    arguments = {"vector_bucket_name": "vectors", "index_name": "frames", "dimension": 512, "create": True}
    index = VectorIndex(stack, "VectorIndex", **{**arguments, **overrides})  # type: ignore[arg-type]
    role = iam.Role(stack, "Reader", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
    index.grant_query(role)
    return Template.from_stack(stack), stack


def test_without_a_kms_key_the_vector_bucket_uses_sse_s3():
    template, _ = component_template()
    (bucket,) = template.find_resources("AWS::S3Vectors::VectorBucket").values()
    assert bucket["Properties"]["EncryptionConfiguration"] == {"SseType": "AES256"}


def test_an_existing_index_is_granted_by_its_arn_and_not_created():
    template, _ = component_template(create=False)
    assert not template.find_resources("AWS::S3Vectors::VectorBucket")
    assert not template.find_resources("AWS::S3Vectors::Index")
    (policy,) = template.find_resources("AWS::IAM::Policy").values()
    (statement,) = policy["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Action"] == ["s3vectors:QueryVectors", "s3vectors:GetVectors"]
    assert statement["Resource"] == {
        "Fn::Join": [
            "",
            ["arn:aws:s3vectors:ap-southeast-1:", {"Ref": "AWS::AccountId"}, ":bucket/vectors/index/frames"],
        ]
    }
