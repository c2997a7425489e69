"""scripts/push-images.sh and scripts/image-digests.sh with stub `aws`, `docker` and `git` on PATH:
the commands they issue (and what make runs them with)."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "push-images.sh"
DIGESTS_SCRIPT = ROOT / "scripts" / "image-digests.sh"
REGISTRY = "111122223333.dkr.ecr.ap-southeast-1.amazonaws.com"
DIGEST = {
    "clip": "sha256:" + "a" * 64,
    "search": "sha256:" + "b" * 64,
    "batch": "sha256:" + "c" * 64,
    "extract": "sha256:" + "d" * 64,
}
# Every repository holding the tag (each test's "all pushed").
ALL_PUSHED = "lambda-clip-inference lambda-clip-search lambda-clip-batch lambda-clip-extract"
SOURCES = (
    "clipsearch requirements-model.lock requirements-export.lock requirements-torch.lock .dockerignore"
    " lambda_clip lambda_search lambda_batch lambda_extract"
)
GIT_STATUS = f"git status --porcelain --untracked-files=all -- {SOURCES}"

# Each stub appends its arguments (one line per call) to $STUB_LOG.
AWS_STUB = f"""#!/bin/sh
echo "aws $*${{AWS_PROFILE:+ [profile $AWS_PROFILE]}}" >> "$STUB_LOG"
case "$*" in
  *get-login-password*) echo secret-password ;;
  *get-caller-identity*Arn*) printf '111122223333\tarn:aws:iam::111122223333:user/admin\n' ;;
  *get-caller-identity*) echo 111122223333 ;;
  *"iam get-policy "*) [ -n "${{POLICIES_EXIST-}}" ] || exit 254 ;;
  *"iam list-policy-versions "*) echo "v1 v2" ;;
  *UserPoolId*) echo "${{USER_POOL-ap-southeast-1_Pool1}}" ;;
  *describe-user-pool*) echo 7 ;;
  *describe-repositories*) echo "${{MUTABILITY-IMMUTABLE}}" ;;
  *get-account-settings*) printf '%s\t%s\n' "${{QUOTA-1000}}" "${{UNRESERVED-1000}}" ;;
  *get-function-concurrency*) echo "${{RESERVED_NOW-None}}" ;;
  *ClipRepositoryUri*) echo "{REGISTRY}/lambda-clip-inference" ;;
  *SearchRepositoryUri*) echo "{REGISTRY}/lambda-clip-search" ;;
  *BatchRepositoryUri*) echo "${{BATCH_URI-{REGISTRY}/lambda-clip-batch}}" ;;
  *ExtractRepositoryUri*) echo "{REGISTRY}/lambda-clip-extract" ;;
  *describe-images*)
    # $PUSHED: the repositories holding the tag already
    # $PUSHED_TAGS: the tags they hold (all when unset)
    asked=$(printf '%s' "$*" | sed 's/.*imageTag=\\([^ ]*\\).*/\\1/')
    case " ${{PUSHED_TAGS-$asked}} " in *" $asked "*) ;; *) PUSHED="" ;; esac
    for repository in $PUSHED; do
      case "$*" in *"--repository-name $repository "*)
        case $repository in
          *inference*) echo "{DIGEST["clip"]}" ;;
          *search*) echo "{DIGEST["search"]}" ;;
          *extract*) echo "{DIGEST["extract"]}" ;;
          *) echo "{DIGEST["batch"]}" ;;
        esac
        exit 0 ;;
      esac
    done
    echo "An error occurred (ImageNotFoundException)" >&2; exit 254 ;;
esac
"""
GIT_STUB = """#!/bin/sh
echo "git $*" >> "$STUB_LOG"
printf '%s' "$GIT_CHANGES"
"""
DOCKER_STUB = """#!/bin/sh
if [ "$1" = login ]; then stdin=" <stdin:$(cat)>"; else stdin=""; fi
echo "docker $*$stdin" >> "$STUB_LOG"
"""


NPX_STUB = '#!/bin/sh\necho "npx $*" >> "$STUB_LOG"\n'
# Nothing to install here: the shared .venv and node_modules are there already.
INSTALLED = ["-o", ".venv/.installed", "-o", ".venv/.deploy-installed", "-o", "node_modules/.installed"]
MAKE = ["make", "--no-print-directory", *INSTALLED]
# What a deploy needs chosen (cdk.json chooses neither): make deploy refuses without them.
CHOSEN = "-c bucket_name=acme-frames -c alarm_email=ops@example.com"


def stubs(tmp_path: Path) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for name, text in (("aws", AWS_STUB), ("docker", DOCKER_STUB), ("git", GIT_STUB)):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    return bin_dir


def stub_environment(tmp_path: Path, **env: str) -> dict[str, str]:
    log = tmp_path / "calls.log"
    log.write_text("")
    environment = {
        **os.environ,
        "PATH": f"{stubs(tmp_path)}{os.pathsep}{os.environ['PATH']}",
        "STUB_LOG": str(log),
        "PUSHED": "",
        "GIT_CHANGES": "",
        **env,
    }
    environment.pop("AWS_REGION", None)
    return environment


def run(
    tmp_path: Path, *args: str, script: Path = SCRIPT, **env: str
) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    result = subprocess.run(
        ["bash", str(script), *args],
        cwd=tmp_path,
        env=stub_environment(tmp_path, **env),
        capture_output=True,
        text=True,
    )
    return result, (tmp_path / "calls.log").read_text().splitlines()


def describe_images(repository: str, tag: str, region: str = "ap-southeast-1") -> str:
    return (
        f"aws ecr describe-images --region {region} --repository-name {repository}"
        f" --image-ids imageTag={tag} --query imageDetails[0].imageDigest --output text"
    )


def describe(output: str, region: str = "ap-southeast-1", stack: str = "ClipFrameSearch-Images") -> str:
    query = f"Stacks[0].Outputs[?OutputKey=='{output}'].OutputValue"
    return (
        f"aws cloudformation describe-stacks --region {region} --stack-name {stack}"
        f" --query {query} --output text"
    )


def build(role: str, image: str, precision: str = "fp32") -> str:
    """The configured `precision` is the model images' PRECISION build argument."""
    arguments = f" --build-arg PRECISION={precision}" if role in ("clip", "batch") else ""
    return (
        f"docker build --platform linux/amd64 --provenance=false{arguments}"
        f" -f lambda_{role}/Dockerfile -t {image} ."
    )


def mutability(repository: str) -> str:
    return (
        f"aws ecr describe-repositories --region ap-southeast-1 --repository-names {repository}"
        " --query repositories[0].imageTagMutability --output text"
    )


def test_logs_in_once_then_builds_and_pushes_every_image(tmp_path):
    result, calls = run(tmp_path, "abc123")
    assert result.returncode == 0, result.stderr
    # the model images' tags carry their precision: a tag names one build
    images = {role: f"{REGISTRY}/{repo}:{tag}" for role, repo, tag in (
        ("clip", "lambda-clip-inference", "abc123-fp32"), ("search", "lambda-clip-search", "abc123"),
        ("batch", "lambda-clip-batch", "abc123-fp32"), ("extract", "lambda-clip-extract", "abc123"),
    )}  # fmt: skip
    assert calls == [
        GIT_STATUS,
        describe("ClipRepositoryUri"),
        mutability("lambda-clip-inference"),
        describe_images("lambda-clip-inference", "abc123-fp32"),
        "aws ecr get-login-password --region ap-southeast-1",
        f"docker login --username AWS --password-stdin {REGISTRY} <stdin:secret-password>",
        build("clip", images["clip"]),
        f"docker push {images['clip']}",
        describe("SearchRepositoryUri"),
        mutability("lambda-clip-search"),
        describe_images("lambda-clip-search", "abc123"),
        build("search", images["search"]),
        f"docker push {images['search']}",
        describe("BatchRepositoryUri"),
        mutability("lambda-clip-batch"),
        describe_images("lambda-clip-batch", "abc123-fp32"),
        build("batch", images["batch"]),
        f"docker push {images['batch']}",
        describe("ExtractRepositoryUri"),
        mutability("lambda-clip-extract"),
        describe_images("lambda-clip-extract", "abc123"),
        build("extract", images["extract"]),
        f"docker push {images['extract']}",
    ]
    assert "make deploy IMAGE_SOURCE=ecr IMAGE_TAG=abc123" in result.stdout


def test_region_and_stack_come_from_the_validated_config_with_the_same_overrides(tmp_path):
    result, calls = run(tmp_path, "t1", "-c", "environment=dev", "-c", "region=eu-west-1")
    assert result.returncode == 0, result.stderr
    assert calls[1] == describe("ClipRepositoryUri", region="eu-west-1", stack="ClipFrameSearch-dev-Images")
    assert "aws ecr get-login-password --region eu-west-1" in calls


def test_an_invalid_configuration_stops_before_any_aws_call(tmp_path):
    result, calls = run(tmp_path, "t1", "-c", "region=moon")
    assert result.returncode != 0
    assert "region: String should match pattern" in result.stderr
    assert calls == []


def test_a_missing_repository_output_stops_with_a_hint(tmp_path):
    result, calls = run(tmp_path, "t1", BATCH_URI="None")
    assert result.returncode != 0
    assert "make deploy-images" in result.stderr
    assert not any("lambda_batch" in call for call in calls if call.startswith("docker"))


def test_needs_a_tag(tmp_path):
    result, calls = run(tmp_path)
    assert result.returncode != 0
    assert calls == []


@pytest.mark.parametrize(
    "bash4_only",
    [
        r"\$\{\w+\^",
        r"\$\{\w+,",
        r"declare -A",
        r"\bmapfile\b",
        r"\breadarray\b",
        r"\|&",
        r"&>>",
        r"\bcoproc\b",
    ],
)
def test_portable_to_bash_3_2(bash4_only):
    assert not re.search(bash4_only, SCRIPT.read_text())


def test_never_reads_cdk_json_itself():
    assert "cdk.json" not in SCRIPT.read_text().split("set -euo pipefail", 1)[1]


def test_make_deploy_images_derives_the_stack_from_the_config(tmp_path):
    """What CI runs instead of naming the stack: a stub npx records the cdk command."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "npx").write_text('#!/bin/sh\necho "npx $*" >> "$STUB_LOG"\n')
    (bin_dir / "npx").chmod(0o755)
    log = tmp_path / "calls.log"
    environment = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "STUB_LOG": str(log)}
    installed = ["-o", ".venv/.installed", "-o", "node_modules/.installed"]  # nothing to install here
    result = subprocess.run(
        [
            "make",
            "--no-print-directory",
            *installed,
            "deploy-images",
            "APPROVAL=never",
            "CDK_ARGS=-c environment=dev",
        ],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert log.read_text().splitlines() == [
        "npx --no-install cdk --no-notices deploy ClipFrameSearch-dev-Images --require-approval never"
        " -c environment=dev"
    ]


def test_honours_the_environment_and_every_other_override_through_make(tmp_path):
    """`make images CDK_ARGS=...` hands the same -c options to the script as cdk gets (#16.2)."""
    environment = stub_environment(tmp_path)
    result = subprocess.run(
        [
            *MAKE,
            "images",
            "IMAGE_TAG=t2",
            "CDK_ARGS=-c environment=dev -c region=eu-west-1 --profile team",
        ],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    calls = (tmp_path / "calls.log").read_text().splitlines()
    stack = "ClipFrameSearch-dev-Images"
    assert calls[1] == describe("ClipRepositoryUri", region="eu-west-1", stack=stack) + " [profile team]"
    assert "aws ecr get-login-password --region eu-west-1 [profile team]" in calls


# --- #16.3: immutable tags, clean trees, pinned digests


def test_refuses_to_build_from_uncommitted_image_sources(tmp_path):
    result, calls = run(tmp_path, "abc123", GIT_CHANGES=" M clipsearch/layout.py\n?? lambda_clip/new.py\n")
    assert result.returncode != 0
    assert "not committed" in result.stderr
    assert "clipsearch/layout.py" in result.stderr
    assert calls == [GIT_STATUS]  # nothing built, nothing pushed


def test_an_immutable_tag_already_pushed_is_kept_not_rebuilt(tmp_path):
    result, calls = run(tmp_path, "abc123", PUSHED="lambda-clip-inference lambda-clip-search")
    assert result.returncode == 0, result.stderr
    assert "already pushed" in result.stdout
    builds = [call for call in calls if call.startswith("docker build")]
    assert builds == [
        build("batch", f"{REGISTRY}/lambda-clip-batch:abc123-fp32"),
        build("extract", f"{REGISTRY}/lambda-clip-extract:abc123"),
    ]


def test_a_mutable_tag_is_rebuilt_and_pushed_again_as_ecr_says_whatever_the_configuration(tmp_path):
    result, calls = run(tmp_path, "latest", PUSHED="lambda-clip-inference", MUTABILITY="MUTABLE")
    assert result.returncode == 0, result.stderr
    assert not any("describe-images" in call for call in calls)
    assert len([call for call in calls if call.startswith("docker push")]) == 4


def test_a_repository_ecr_says_is_immutable_keeps_its_tag_whatever_the_configuration(tmp_path):
    pushed = ALL_PUSHED
    args = ("abc123", "-c", "repository_tag_mutability=MUTABLE")
    result, calls = run(tmp_path, *args, PUSHED=pushed, MUTABILITY="IMMUTABLE")
    assert result.returncode == 0, result.stderr
    assert not [call for call in calls if call.startswith("docker")]


def test_another_precision_is_another_tag_so_it_is_built_not_skipped(tmp_path):
    """abc123-fp32 is pushed; int8 builds abc123-int8 (only the model images take the precision)."""
    pushed = ALL_PUSHED
    result, calls = run(
        tmp_path, "abc123", "-c", "precision=int8", PUSHED=pushed, PUSHED_TAGS="abc123-fp32 abc123"
    )
    assert result.returncode == 0, result.stderr
    assert [call for call in calls if call.startswith("docker build")] == [
        build("clip", f"{REGISTRY}/lambda-clip-inference:abc123-int8", "int8"),
        build("batch", f"{REGISTRY}/lambda-clip-batch:abc123-int8", "int8"),
    ]


def test_image_digests_resolves_the_ecr_tag_of_each_repository(tmp_path):
    ecr = ("-c", "image_source=ecr", "-c", "image_tag=abc123", "-c", "environment=dev")
    pushed = "lambda-clip-inference-dev lambda-clip-search-dev lambda-clip-batch-dev lambda-clip-extract-dev"
    result, calls = run(tmp_path, *ecr, script=DIGESTS_SCRIPT, PUSHED=pushed)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        word for role in DIGEST for word in ("-c", f"{role}_image_digest={DIGEST[role]}")
    ]
    tags = ("abc123-fp32", "abc123", "abc123-fp32", "abc123")  # the model images' tags carry their precision
    assert calls == [
        describe_images(repository, tag) for repository, tag in zip(pushed.split(), tags, strict=True)
    ]


def test_image_digests_prints_nothing_in_asset_mode(tmp_path):
    result, calls = run(tmp_path, script=DIGESTS_SCRIPT)
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert calls == []


def test_image_digests_fails_for_a_tag_never_pushed(tmp_path):
    ecr = ("-c", "image_source=ecr", "-c", "image_tag=nope")
    result, _ = run(tmp_path, *ecr, script=DIGESTS_SCRIPT, PUSHED="lambda-clip-inference")
    assert result.returncode != 0
    assert "no image lambda-clip-search:nope" in result.stderr
    (tmp_path / "calls.log").write_text("")
    result, _ = run(tmp_path, *ecr, "-c", "precision=int8", script=DIGESTS_SCRIPT, PUSHED="")
    assert "no image lambda-clip-inference:nope-int8" in result.stderr


def test_make_deploy_in_ecr_mode_deploys_the_digests(tmp_path):
    """What CI's ecr deploy runs: the stub npx records the cdk command, digests appended."""
    environment = stub_environment(tmp_path, PUSHED=ALL_PUSHED)
    (Path(environment["PATH"].split(os.pathsep)[0]) / "npx").write_text(NPX_STUB)
    (Path(environment["PATH"].split(os.pathsep)[0]) / "npx").chmod(0o755)
    result = subprocess.run(
        [*MAKE, "deploy", "IMAGE_SOURCE=ecr", "IMAGE_TAG=abc123", "APPROVAL=never", f"CDK_ARGS={CHOSEN}"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    (deploy,) = [call for call in (tmp_path / "calls.log").read_text().splitlines() if call.startswith("npx")]
    assert deploy == (
        "npx --no-install cdk --no-notices deploy ClipFrameSearch-Images ClipFrameSearch"
        " --require-approval never"
        f" -c image_source=ecr -c image_tag=abc123 {CHOSEN}"
        f" -c clip_image_digest={DIGEST['clip']} -c search_image_digest={DIGEST['search']}"
        f" -c batch_image_digest={DIGEST['batch']} -c extract_image_digest={DIGEST['extract']}"
    )


def test_make_deploy_fails_before_cdk_when_a_digest_cannot_be_resolved(tmp_path):
    environment = stub_environment(tmp_path, PUSHED="")
    (Path(environment["PATH"].split(os.pathsep)[0]) / "npx").write_text(NPX_STUB)
    (Path(environment["PATH"].split(os.pathsep)[0]) / "npx").chmod(0o755)
    result = subprocess.run(
        [*MAKE, "deploy", "IMAGE_SOURCE=ecr", "IMAGE_TAG=abc123", "APPROVAL=never", f"CDK_ARGS={CHOSEN}"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0
    assert not any(call.startswith("npx") for call in (tmp_path / "calls.log").read_text().splitlines())


@pytest.mark.parametrize("script", [SCRIPT, DIGESTS_SCRIPT], ids=lambda path: path.name)
@pytest.mark.parametrize("option", [["--profile", "team"], ["--profile=team"]])
def test_the_aws_cli_uses_the_profile_cdk_gets(tmp_path, script, option):
    args = ["t1"] if script == SCRIPT else ["-c", "image_source=ecr", "-c", "image_tag=t1"]
    pushed = ALL_PUSHED
    result, calls = run(tmp_path, *args, *option, script=script, PUSHED=pushed)
    assert result.returncode == 0, result.stderr
    aws_calls = [call for call in calls if call.startswith("aws ")]
    assert aws_calls
    assert all(call.endswith(" [profile team]") for call in aws_calls), aws_calls
