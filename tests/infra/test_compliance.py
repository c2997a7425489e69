"""cdk-nag, cfn-lint and hadolint over what the app synthesizes and the images it builds."""

from __future__ import annotations

import fnmatch
import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.infra.conftest import ROOT, Synthesized

BIN = Path(sys.executable).parent
DOCKERFILES = sorted(ROOT.glob("lambda_*/Dockerfile"))


def test_cdk_nag_has_no_unacknowledged_findings(any_app: Synthesized):
    report = any_app.nag_report
    assert report["pluginName"] == "AwsSolutions"
    assert report["violations"] == []
    assert report["conclusion"] == "success"


def test_every_acknowledgement_names_one_finding_with_a_reason_on_a_narrow_scope(any_app: Synthesized):
    report = any_app.nag_report
    for suppressed in report["suppressedViolations"]:
        assert len(suppressed["reason"]) > 30, suppressed["ruleName"]
        # Never the whole stack or app: the construct that has the finding, or its parent.
        assert suppressed["acknowledgedAt"].count("/") >= 1, suppressed["acknowledgedAt"]
        for violating in suppressed["violatingConstructs"]:
            assert violating["constructPath"].startswith(suppressed["acknowledgedAt"] + "/")
        if suppressed["ruleName"].startswith("AwsSolutions-IAM5"):
            # one resource or one action (CDK's own grants), never the whole rule
            assert "[Resource::" in suppressed["ruleName"] or "[Action::" in suppressed["ruleName"]


def test_cfn_lint_passes_every_template(any_app: Synthesized):
    result = subprocess.run(
        [BIN / "cfn-lint", "--ignore-checks", "W3005", "--", *map(str, any_app.template_files())],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda path: path.parent.name)
def test_hadolint_passes(dockerfile: Path):
    result = subprocess.run(
        [BIN / "hadolint", "--failure-threshold", "info", str(dockerfile)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def dockerfile_instructions(dockerfile: Path) -> list[tuple[str, str]]:
    joined = re.sub(r"\\\n", " ", dockerfile.read_text())
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1])
        for line in joined.splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda path: path.parent.name)
def test_image_contract_without_docker(dockerfile: Path):
    """CMD names a module and function that exist in the image; every COPY source exists (in the
    build context, or in an earlier stage for COPY --from)."""
    instructions = dockerfile_instructions(dockerfile)
    copied: dict[str, Path] = {}  # path in the image (relative to the task root) -> source
    stages: list[str] = []
    for keyword, argument in instructions:
        if keyword == "FROM":
            stages.append(argument.split(" AS ")[-1] if " AS " in argument else "")
        if keyword == "COPY" and argument.startswith("--from="):
            stage = argument.split()[0].removeprefix("--from=")
            assert stage in stages[:-1], f"{dockerfile}: COPY --from={stage} names no earlier stage"
        elif keyword == "COPY":
            *sources, target = shlex.split(argument)
            for source in sources:
                assert (ROOT / source).exists(), f"{dockerfile}: COPY {source} does not exist"
                if target.startswith("${LAMBDA_TASK_ROOT}"):
                    name = Path(source.rstrip("/")).name
                    copied[name] = ROOT / source
    (cmd,) = [argument for keyword, argument in instructions if keyword == "CMD"]
    (handler,) = json.loads(cmd)  # exec form, e.g. ["app.handler"]
    assert len(stages) in (1, 2), stages  # the model images: an export stage, then the runtime
    module, function = handler.rsplit(".", 1)
    handler_file = copied[f"{module}.py"]
    assert re.search(rf"^def {function}\(event.*, context", handler_file.read_text(), re.M), handler
    froms = [argument for keyword, argument in instructions if keyword == "FROM"]
    assert all(base.startswith("public.ecr.aws/lambda/python:3.1") for base in froms)


def test_images_pin_the_torch_the_tests_run():
    """The CPU torch baked into the model images is the version the test suite exercised."""
    (dev_pin,) = re.findall(r"^torch==(\S+)$", (ROOT / "requirements-dev.txt").read_text(), re.M)
    (image_pin,) = re.findall(
        r"^torch==(\S+)\+cpu --hash=sha256:[0-9a-f]{64}$", lock_text("requirements-torch.lock"), re.M
    )
    assert image_pin == dev_pin


def lock_text(name: str) -> str:
    return (ROOT / name).read_text()


def pins(text: str) -> dict[str, str]:
    """name -> version of `name==version` lines (comments, options and hashes aside)."""
    found = {}
    for line in text.splitlines():
        match = re.match(r"^([A-Za-z0-9_.-]+)==(\S+)", line)
        if match:
            found[match[1].lower().replace("_", "-")] = match[2]
    return found


@pytest.mark.parametrize(
    ("lock", "source"),
    [
        ("requirements-model.lock", "requirements-model.txt"),
        ("requirements-export.lock", "requirements-export.txt"),
        ("lambda_search/requirements.lock", "lambda_search/requirements.txt"),
    ],
)
def test_every_image_install_is_hash_locked_to_the_pins_the_tests_run(lock, source):
    """The images install the locks (--require-hashes, --no-deps); the tests install the .txt pins:
    a lock pins exactly those versions (python -m scripts.lock_requirements regenerates it)."""
    text = lock_text(lock)
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert lines
    assert all(re.fullmatch(r"\S+==\S+ --hash=sha256:[0-9a-f]{64}", line) for line in lines)
    sources = [source, *re.findall(r"^-r (\S+)$", lock_text(source), re.M)]
    pinned = {name: version for path in sources for name, version in pins(lock_text(path)).items()}
    assert {name: pins(text)[name] for name in pinned} == pinned


def test_every_pip_install_in_the_images_requires_hashes_and_every_base_image_a_digest():
    bases = set()
    for dockerfile in DOCKERFILES:
        for keyword, argument in dockerfile_instructions(dockerfile):
            if keyword == "FROM":
                image = argument.split()[0]
                assert re.fullmatch(r"\S+:\S+@sha256:[0-9a-f]{64}", image), (dockerfile, image)
                bases.add(image)
            if keyword == "RUN" and "pip install" in argument:
                for install in argument.split("pip install")[1:]:
                    assert "--require-hashes" in install, (dockerfile, install)
                    assert "--no-deps" in install, (dockerfile, install)
    assert len(bases) == 1  # one base, bumped everywhere at once (make bump-base-image)


def test_the_batch_image_is_the_clip_image_with_another_handler():
    """Both run the same model stack; the Dockerfiles may differ only in which handler they copy."""

    def without_handler(dockerfile: str) -> list[str]:
        lines = (ROOT / dockerfile).read_text().splitlines()
        return [line for line in lines[3:] if not re.match(r"COPY lambda_\w+/app\.py ", line)]

    assert without_handler("lambda_batch/Dockerfile") == without_handler("lambda_clip/Dockerfile")


def copy_sources(dockerfile: Path) -> set[str]:
    """What the Dockerfile copies from the build context (not from another stage)."""
    return {
        source
        for keyword, argument in dockerfile_instructions(dockerfile)
        if keyword == "COPY" and not argument.startswith("--from=")
        for source in shlex.split(argument)[:-1]
    }


def ignore_file_includes(path: Path) -> tuple[list[str], set[str]]:
    lines = [line for line in path.read_text().splitlines() if line and not line.startswith("#")]
    return lines, {line[1:] for line in lines if line.startswith("!")}


def covered(source: str, includes: set[str]) -> bool:
    """A COPY source (file, or folder ending in /) is what an include pattern lets in."""

    def lets_in(include: str) -> bool:
        if "*" in include:  # clipsearch/**/*.py lets in clipsearch/ and clipsearch/model/fetch_model.py
            folder = include.split("*", 1)[0]
            return source == folder or fnmatch.fnmatch(source, include.replace("**/", ""))
        return source == include or source.startswith(include)

    return any(lets_in(include) for include in includes if include)


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda path: path.parent.name)
def test_each_build_context_sends_only_what_its_dockerfile_copies(dockerfile: Path):
    """BuildKit reads lambda_x/Dockerfile.dockerignore for `docker build -f lambda_x/Dockerfile .`."""
    lines, includes = ignore_file_includes(dockerfile.with_name("Dockerfile.dockerignore"))
    assert lines[0] == "*"  # everything out, then only what the image copies back in
    sources = copy_sources(dockerfile)
    assert all(covered(source, includes) for source in sources), sources
    unused = {include for include in includes if not any(covered(s, {include}) for s in sources)}
    assert not unused, f"{dockerfile}: sends {unused} that it never copies"
    other_functions = {path.parent.name for path in DOCKERFILES} - {dockerfile.parent.name}
    assert not any(include.split("/")[0] in other_functions for include in includes)


def test_the_root_dockerignore_is_the_union_for_the_legacy_builder():
    _, root_includes = ignore_file_includes(ROOT / ".dockerignore")
    union = set().union(
        *(ignore_file_includes(d.with_name("Dockerfile.dockerignore"))[1] for d in DOCKERFILES)
    )
    assert root_includes == union


def test_the_model_images_share_one_requirements_file():
    for role in ("clip", "batch"):
        assert {"requirements-model.lock", "requirements-export.lock"} <= copy_sources(
            ROOT / f"lambda_{role}" / "Dockerfile"
        )
    assert not (ROOT / "lambda_clip" / "requirements.txt").exists()
    assert not (ROOT / "lambda_batch" / "requirements.txt").exists()
    # the test environment installs the same pins: dev -> export (build stage) -> model (runtime)
    assert "-r requirements-export.txt" in (ROOT / "requirements-dev.txt").read_text().splitlines()
    assert "-r requirements-model.txt" in (ROOT / "requirements-export.txt").read_text().splitlines()


def stage_instructions(dockerfile: Path) -> list[list[tuple[str, str]]]:
    stages: list[list[tuple[str, str]]] = []
    for keyword, argument in dockerfile_instructions(dockerfile):
        if keyword == "FROM":
            stages.append([])
        stages[-1].append((keyword, argument))
    return stages


@pytest.mark.parametrize("role", ["clip", "batch"])
def test_the_model_images_export_in_a_build_stage_and_run_without_torch(role):
    """Build stage: torch + transformers fetch and convert (export_onnx, the configured precision);
    final stage: the pinned runtime only (--no-deps), the runtime folder copied from the build stage."""
    export, final = stage_instructions(ROOT / f"lambda_{role}" / "Dockerfile")
    assert export[0][1].endswith(" AS export")
    runs = " ".join(argument for keyword, argument in export if keyword == "RUN")
    assert "-r /build/requirements-torch.lock" in runs
    assert "-r /build/requirements-export.lock" in runs
    assert "python -m clipsearch.model.fetch_model" in runs
    assert 'python -m clipsearch.model.export_onnx /build/saved /opt/model --precision "${PRECISION}"' in runs
    assert ("ARG", "PRECISION=fp32") in export
    final_text = " ".join(argument for _, argument in final).replace("onnxruntime/transformers", "")
    assert "torch" not in final_text
    assert "transformers" not in final_text
    assert "export" not in final_text.replace("--from=export", "")
    (install,) = [argument for keyword, argument in final if keyword == "RUN"]
    assert install.startswith(
        "pip install --no-cache-dir --no-deps --require-hashes -r /tmp/requirements.txt "
    )
    from bench.bench_clip import TRIMMED  # what the bench leaves out of the installed size

    assert sorted(re.findall(r'"\$site"/(\S+)', install)) == sorted(TRIMMED)
    assert ("COPY", "--from=export /opt/model /opt/model") in final
    assert ("ENV", "MODEL_DIR=/opt/model") in final


def test_the_runtime_requirements_are_a_complete_closure_without_torch():
    """The final stage installs requirements-model.txt with --no-deps: every dependency a listed
    package needs at run time is listed too (huggingface-hub, tokenizers' download helper, on purpose
    not), and nothing of the export stage is."""
    from importlib import metadata

    from packaging.requirements import Requirement

    pins = {
        Requirement(line.split("#")[0]).name.lower()
        for line in (ROOT / "requirements-model.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert not pins & {"torch", "transformers", "onnx", "huggingface-hub"}
    for name in pins:
        for line in metadata.distribution(name).requires or []:
            requirement = Requirement(line)
            if requirement.marker and not requirement.marker.evaluate({"extra": ""}):
                continue
            if requirement.name.lower() == "huggingface-hub":
                continue
            assert requirement.name.lower() in pins, f"{name} needs {requirement.name}"
