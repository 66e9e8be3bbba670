"""The deploy path's own decisions, before it touches AWS: the image's platform, what it refuses up front."""

from __future__ import annotations

import copy
import json
import re
import subprocess
import sys
import tarfile
import zipfile

import pytest
from samtranslator.yaml_helper import yaml_parse

from dropml.errors import BadInput
from dropml.usecases import deploy_path as path
from tests.conftest import ROOT

TEMPLATE = yaml_parse((ROOT / "template.yaml").read_text())


def _request(**changes):
    base = {
        "stack": "dropml",
        "region": "us-east-1",
        "vpc_id": "vpc-1",
        "subnets": ("subnet-1",),
        "security_groups": ("sg-1",),
    }
    return path.DeployRequest(**{**base, **changes})


def test_the_image_is_built_for_the_task_definitions_platform():
    assert path.task_platform(TEMPLATE) == "linux/amd64"  # the tasks are X86_64: an arm64 laptop's default fails
    arm = copy.deepcopy(TEMPLATE)
    arm["Resources"]["TrainingTaskDefinition"]["Properties"]["RuntimePlatform"]["CpuArchitecture"] = "ARM64"
    assert path.task_platform(arm) == "linux/arm64"
    arm["Resources"]["TrainingTaskDefinition"]["Properties"]["RuntimePlatform"]["CpuArchitecture"] = "RISCV"
    with pytest.raises(BadInput, match="CpuArchitecture"):
        path.task_platform(arm)


def test_the_push_builds_logs_in_and_pushes_for_that_platform():
    machine = path.Machine()
    ran: list[list[str]] = []
    machine.run = lambda argv, **_: ran.append(argv) or ""  # type: ignore[method-assign]
    image = path.ImageBuild(ROOT, "training_job/Dockerfile", "linux/amd64", "abc", "1.dkr.ecr.r.amazonaws.com/x", "t")
    machine.push_image(image, "secret")
    assert ran[0] == ["docker", "login", "--username", "AWS", "--password-stdin", "1.dkr.ecr.r.amazonaws.com"]
    assert ran[1][:4] == ["docker", "build", "--platform", "linux/amd64"]
    assert ran[2] == ["docker", "push", "1.dkr.ecr.r.amazonaws.com/x:t"]


SAM_PARSE = """
import json, sys
from samcli.commands.deploy.command import cli
params = cli.make_context("deploy", json.loads(sys.argv[1])).params
print(json.dumps({k: list(v) if isinstance(v, tuple) else v for k, v in params.items()}, default=str))
"""


def test_sam_parses_the_deploy_command_line_as_meant():
    """The rehearsal cannot run `sam deploy` (moto has no SAM transform): SAM's own parser reads its arguments."""
    sam_python = path.TOOLS / "sam-venv" / "bin" / "python"
    parameters = {"VpcSubnetIds": "subnet-1,subnet-2", "TrainingImageUri": "1.dkr.ecr.us-east-1.amazonaws.com/x:t"}
    argv = path.SamDeploy(ROOT / "template.yaml", "dropml", "us-east-1", "b", "dropml/sam", parameters).argv("sam")
    ran = subprocess.run(
        [str(sam_python), "-c", SAM_PARSE, json.dumps(argv[2:])],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr[-2000:]
    parsed = json.loads(ran.stdout)
    assert parsed["parameter_overrides"] == parameters
    assert parsed["capabilities"] == list(path.CAPABILITIES)
    assert (parsed["stack_name"], parsed["s3_bucket"], parsed["s3_prefix"]) == ("dropml", "b", "dropml/sam")
    assert parsed["fail_on_empty_changeset"] is False
    assert parsed["confirm_changeset"] is False


def test_sam_deploy_passes_every_parameter_and_tolerates_no_change():
    argv = path.SamDeploy(ROOT / "t.yaml", "dropml", "us-east-1", "b", "dropml/sam", {"A": "1", "B": "x,y"}).argv("sam")
    assert argv[argv.index("--parameter-overrides") + 1 :] == ["A=1", "B=x,y"]
    assert "--no-fail-on-empty-changeset" in argv
    assert argv[argv.index("--capabilities") + 1 : argv.index("--capabilities") + 3] == list(path.CAPABILITIES)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"stack": "Dropml"}, "stack name"),
        ({"subnets": ()}, "--subnets"),
        ({"parameters": {"WebCodeBucket": "mine"}}, "set by deploy"),
    ],
)
def test_a_request_aws_would_refuse_is_refused_before_anything_is_made(changes, message):
    with pytest.raises(BadInput, match=message):
        _request(**changes).check()


def test_the_web_function_is_named_as_zappa_names_it():
    assert path.web_function_name(ROOT, "dev") == "dropml-web-dev"
    with pytest.raises(BadInput, match="no stage 'prod'"):
        path.web_function_name(ROOT, "prod")


def test_dropml_deploy_without_a_stack_says_what_it_needs():
    ran = subprocess.run(
        [sys.executable, "-m", "dropml.cli", "deploy", "--region", "us-east-1"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert ran.returncode == 2
    assert "needs --stack and --region" in ran.stderr


def test_a_web_package_with_the_local_worlds_code_is_refused(tmp_path):
    """dropml/local/ (the stand-in's code) never ships: not in the zip, nor in a slim handler's archive."""
    package = tmp_path / "web-dev.zip"
    with zipfile.ZipFile(package, "w") as zipped:
        zipped.writestr("dropml/scoring/predict.py", "x = 1\n")
    assert path.check_package(package, {}, None)["unzipped_bytes"] == 6
    archive = tmp_path / "project.tar.gz"
    with tarfile.open(archive, "w:gz") as tarred:
        source = tmp_path / "world.py"
        source.write_text("x = 1\n")
        tarred.add(source, arcname="./dropml/local/world.py")
    with pytest.raises(path.DeployFailed, match=r"local world's code \(\./dropml/local/world\.py"):
        path.check_package(package, {}, archive)
    with zipfile.ZipFile(package, "a") as zipped:
        zipped.writestr("dropml/local/world.py", "x = 1\n")
    with pytest.raises(path.DeployFailed, match=r"local world's code \(dropml/local/world\.py"):
        path.check_package(package, {}, None)


def test_the_images_build_context_holds_what_they_copy_and_not_the_local_world():
    """`.dockerignore` admits each Dockerfile's COPY sources and keeps out dropml/local/, venvs and caches."""
    rules = [line for line in (ROOT / ".dockerignore").read_text().splitlines() if line and not line.startswith("#")]
    assert rules[0] == "*"  # everything out, then what the images copy back in
    assert "dropml/local/" in rules[rules.index("!dropml/") :]  # a later rule wins
    admitted = {rule.removeprefix("!").rstrip("/") for rule in rules if rule.startswith("!")}
    for dockerfile in ("training_job/Dockerfile", "web/Dockerfile"):
        for line in (ROOT / dockerfile).read_text().splitlines():
            if line.startswith("COPY "):
                assert set(line.split()[1:-1]) <= admitted, (dockerfile, line)


def test_the_readme_deploy_section_lists_the_deploy_paths_steps_in_order():
    """README's "Deploy to AWS" holds exactly dropml deploy's steps, and the make deploy line it shows runs."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Deploy to AWS\n", 1)[1].split("\n## ", 1)[0]
    items = re.findall(r"^(\d+)\. (.+?)(?=^\d+\. |^\S|\Z)", section, re.M | re.S)
    assert [int(number) for number, _ in items] == list(range(1, len(path.STEPS) + 1))
    says = {  # each step's title, as the README words it
        "ECS service-linked role": "service-linked role `AWSServiceRoleForECS`",
        "deploy bucket": "deploy bucket `dropml-deploy-<account>-<region>`",
        "image repository": "ECR repository `<stack>-training`",
        "training image (linux/amd64)": "docker build --platform linux/amd64",
        "sam build + sam deploy": "`sam build`, then `sam deploy`",
        "web runtime venv": "virtualenv for the web app",
        "zappa settings from the stack": "dropml deploy zappa-settings --stack",
        "zappa package + deploy": "`zappa deploy`",
        "smoke request": "smoke request",
    }
    assert [says[title] in " ".join(text.split()) for (title, _), (_, text) in zip(path.STEPS, items, strict=True)] == [
        True
    ] * len(path.STEPS)
    make_deploy = re.search(r"^make deploy (.+)$", section, re.M).group(1)
    required = re.search(r'@test -n "\$\(STACK\)"(.+?)\|\|', (ROOT / "Makefile").read_text(), re.S).group(1)
    for variable in re.findall(r"\$\((\w+)\)", required):
        assert f"{variable}=" in make_deploy, variable
