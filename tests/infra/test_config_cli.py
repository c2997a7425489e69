"""`python -m deployment.cli --print`: validated values for the shell (scripts/push-images.sh, make)."""

from __future__ import annotations

import subprocess
import sys

from moto import mock_aws

from deployment.cli import main
from tests.infra.conftest import ROOT


def test_prints_values_one_a_line(capsys):
    assert main(["--print", "region", "images_stack_name", "tracing", "image_tag"]) == 0
    assert capsys.readouterr().out.splitlines() == ["ap-southeast-1", "ClipFrameSearch-Images", "false", ""]


def test_applies_overrides_like_cdk_and_ignores_other_cdk_options(capsys):
    assert main(["-c", "environment=dev", "--profile", "dev", "--print", "images_stack_name"]) == 0
    assert capsys.readouterr().out == "ClipFrameSearch-dev-Images\n"


def test_an_invalid_value_or_unknown_key_fails_naming_it(capsys):
    assert main(["-c", "region=moon", "--print", "region"]) == 1
    assert "region: String should match pattern" in capsys.readouterr().err
    assert main(["--print", "regoin"]) == 1
    assert "regoin: not a configuration key" in capsys.readouterr().err


def test_runs_as_a_module_without_loading_the_cdk():
    check = "import sys; assert 'aws_cdk' not in sys.modules"
    result = subprocess.run(
        [sys.executable, "-c", f"import deployment.cli; {check}"], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    result = subprocess.run(
        [sys.executable, "-m", "deployment.cli", "--print", "region"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.stdout == "ap-southeast-1\n"


def test_prints_a_functions_physical_names(capsys):
    assert main(["-c", "environment=dev", "--print", "clip.repository_name", "batch.function_name"]) == 0
    assert capsys.readouterr().out.splitlines() == ["lambda-clip-inference-dev", "clip-batch-embed-dev"]
    assert main(["--print", "clip.memory"]) == 1


def test_an_unknown_index_backend_fails_naming_the_key_and_the_allowed_values(capsys):
    assert main(["-c", "index_backend=opensearch", "--print", "index_backend"]) == 1
    assert "index_backend: Input should be 'memory' or 's3vectors'" in capsys.readouterr().err
    assert (
        main(["-c", "index_backend=s3vectors", "--print", "index_backend", "physical_vector_bucket_name"])
        == 0
    )
    assert capsys.readouterr().out.splitlines() == ["s3vectors", "clip-frame-vectors"]


def test_the_redeploy_context_needs_the_retained_tables_stream(capsys):
    with mock_aws():  # no table: nothing to redeploy onto, and no stream to keep the pipe with
        assert main(["--account", "111122223333", "--print", "redeploy_context"]) == 1
    assert "cannot read the stream of table videos" in capsys.readouterr().err
    assert main(["--print", "redeploy_context"]) == 1
    assert "needs --account" in capsys.readouterr().err
    given = ["-c", "create_table=false", "-c", "create_bucket=false"]
    assert main([*given, "--account", "111122223333", "--print", "redeploy_context"]) == 0
    assert "videos_stream_arn" not in capsys.readouterr().out  # a given table keeps its own settings
