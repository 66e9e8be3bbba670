"""The deploy path: the README's "Deploy to AWS" steps as code, run by ``make deploy`` and ``dropml deploy``.

:func:`deploy` runs :data:`STEPS` in order, each one idempotent, so running it again updates what is there:

1. the ECS service-linked role (``AWSServiceRoleForECS``): a new account has none, and the first ECS cluster
   CloudFormation creates can fail with "Unable to assume the service linked role";
2. the deploy bucket ``dropml-deploy-<account>-<region>``: ``sam deploy``'s artifacts and Zappa's package;
3. the image repository ``<stack>-training`` in ECR;
4. the training image, built for the task definition's platform (linux/amd64) and pushed;
5. ``sam build`` and ``sam deploy`` with the stack's parameters;
6. the web app's runtime: a virtualenv of the Zappa stage's Python with ``.[web]`` and Zappa;
7. the Zappa stage from the stack's outputs (``dropml deploy zappa-settings --stack``), in a staged copy of
   the web app's files (the repository root holds venvs and caches Zappa would pack);
8. ``zappa package``, checked against Lambda's limits, uploaded, then ``zappa deploy`` (``update`` once
   deployed) from that upload;
9. a smoke request through the API's URL.

The machine-facing actions (running a command, ``sam deploy``, building and pushing an image, the smoke
request) go through a :class:`Machine`; the local world rehearses this same path with one that points them at
its stand-in (:mod:`dropml.local.rehearsal`).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from dropml import aws
from dropml import aws_names as names
from dropml.errors import BadInput, DropmlError
from dropml.stacks import stack_outputs
from dropml.usecases import deploy as zappa_settings

ROOT = Path(__file__).resolve().parents[2]
TOOLS = ROOT / ".cache"  # this checkout's SAM CLI (make sam) and the web runtime's venvs
WEB_FILES = ("dropml", "web", "config.json", "zappa_settings.json", "pyproject.toml")  # what the web package holds
LOCAL_WORLD = "dropml/local/"  # the local world's code: never staged, never in a cloud package
CAPABILITIES = ("CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND")
LAMBDA_UNZIPPED_BYTES = 262_144_000  # Lambda: function code and layers, unzipped (250 MB)
PLATFORMS = {"X86_64": "linux/amd64", "ARM64": "linux/arm64"}  # ECS RuntimePlatform -> docker --platform
SMOKE_PATH = "/api/v1/health"
SMOKE_SECONDS = 120.0


class DeployFailed(DropmlError):
    """A step of the deploy failed; the message names the step and what AWS or the tool said."""

    code = "deploy_failed"
    http_status = 500
    deployment: Deployment | None = None


@dataclass(frozen=True)
class DeployRequest:
    """What one deploy is asked to do: the stack, where its tasks run, and the template's other parameters."""

    stack: str
    region: str
    vpc_id: str
    subnets: tuple[str, ...]
    security_groups: tuple[str, ...]
    assign_public_ip: bool = True
    parameters: dict[str, str] = field(default_factory=dict)  # any other template parameter, e.g. NotificationEmail
    stage: str = "dev"  # the zappa_settings.json stage
    image_tag: str = "latest"
    root: Path = ROOT
    workdir: Path = ROOT / ".dropml" / "deploy"

    def check(self) -> None:
        """Refuse what AWS would refuse later, before anything is created.

        Raises:
            BadInput: a bad stack name, no subnet or security group, or an unknown parameter.
        """
        names.check_stack_name(self.stack)
        if not (self.vpc_id and self.subnets and self.security_groups):
            raise BadInput("network", None, "the tasks need --vpc-id, --subnets and --security-groups (comma lists)")
        reserved = {"TrainingImageUri", "VpcId", "VpcSubnetIds", "SecurityGroupIds", "AssignPublicIp", "WebCodeBucket"}
        if reserved & set(self.parameters):
            raise BadInput("--parameter", sorted(reserved & set(self.parameters)), "these parameters are set by deploy")


@dataclass(frozen=True)
class SamDeploy:
    """One ``sam deploy`` of the built template."""

    template: Path  # sam build's output template
    stack: str
    region: str
    bucket: str
    prefix: str
    parameters: dict[str, str]
    capabilities: tuple[str, ...] = CAPABILITIES

    def argv(self, sam: str) -> list[str]:
        """The command line (``--no-fail-on-empty-changeset``: running deploy again with no change is fine)."""
        overrides = [f"{key}={value}" for key, value in self.parameters.items()]
        return [
            sam, "deploy", "--template-file", str(self.template), "--stack-name", self.stack,
            "--region", self.region, "--s3-bucket", self.bucket, "--s3-prefix", self.prefix,
            "--capabilities", *self.capabilities, "--no-confirm-changeset", "--no-fail-on-empty-changeset",
            "--parameter-overrides", *overrides,
        ]  # fmt: skip


@dataclass(frozen=True)
class ImageBuild:
    """The training image: its Dockerfile, platform, code version and where it is pushed."""

    root: Path
    dockerfile: str
    platform: str
    code_version: str
    repository_uri: str
    tag: str

    @property
    def uri(self) -> str:
        """The image the task definition runs."""
        return f"{self.repository_uri}:{self.tag}"

    @property
    def registry(self) -> str:
        """The registry host of the repository."""
        return self.repository_uri.split("/", 1)[0]


@dataclass
class StepOutcome:
    """What one step did: done, or not run here (and why), with the commands it ran."""

    step: str
    status: Literal["done", "not run here"]
    detail: str
    commands: list[str] = field(default_factory=list)


class NotRunHere(Exception):
    """A step the current machine cannot perform (e.g. no Docker engine); the deploy goes on without it."""


class Machine:
    """Where the steps act: commands, ``sam deploy``, the image, the smoke request (this machine and AWS)."""

    def __init__(self, root: Path = ROOT, environment: dict[str, str] | None = None) -> None:
        self.root = root
        # this interpreter's bin first, as make's targets do: sam build's layer runs `python3.11 -m pip`
        interpreter = f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"
        self.environment = {"PATH": interpreter, **(environment or {})}
        self.commands: list[str] = []

    def run(self, argv: list[str], cwd: Path | None = None, env: dict[str, str] | None = None, stdin: str = "") -> str:
        """Run ``argv``, returning its output.

        Raises:
            DeployFailed: it exited non-zero (the end of its output is in the message).
        """
        self.commands.append(" ".join(argv))
        full = {**os.environ, **self.environment, **(env or {})}
        ran = subprocess.run(
            argv, cwd=cwd or self.root, env=full, input=stdin, capture_output=True, text=True, check=False
        )
        if ran.returncode != 0:
            raise DeployFailed(
                f"`{' '.join(argv[:3])} ...` exited {ran.returncode}: {(ran.stdout + ran.stderr)[-3000:]}"
            )
        return ran.stdout

    def sam(self) -> str:
        """The SAM CLI: ``make sam``'s venv, else ``sam`` on PATH."""
        own = TOOLS / "sam-venv" / "bin" / "sam"
        return str(own) if own.exists() else "sam"

    def sam_deploy(self, request: SamDeploy) -> None:
        """Create or update the stack with ``sam deploy`` (CloudFormation applies the SAM transform)."""
        self.run(request.argv(self.sam()))

    def push_image(self, image: ImageBuild, password: str) -> None:
        """Log in to ECR, build the image for ``image.platform`` and push it."""
        self.run(["docker", "login", "--username", "AWS", "--password-stdin", image.registry], stdin=password)
        self.run([
            "docker", "build", "--platform", image.platform, "-f", image.dockerfile,
            "--build-arg", f"DROPML_CODE_VERSION={image.code_version}", "-t", image.uri, ".",
        ])  # fmt: skip
        self.run(["docker", "push", image.uri])

    def smoke(self, url: str, timeout: float = SMOKE_SECONDS) -> str:
        """GET ``url`` until the app answers with its health document (a cold start can take seconds).

        Raises:
            DeployFailed: no answer from the app within ``timeout`` (API Gateway's own errors included).
        """
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            status, body = _get(url)
            if _is_health(body):  # 200, or 503 "no_model" before the first version: the app itself answered
                return f"{status} {body.strip()[:200]}"
            last = f"{status} {body.strip()[:300]}"
            time.sleep(5)
        raise DeployFailed(f"the smoke request {url} got no answer from the app in {timeout:.0f}s (last: {last})")


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=30) as answer:
            return answer.status, answer.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode("utf-8", "replace")
    except OSError as err:
        return 0, str(err)


def _is_health(body: str) -> bool:
    try:
        return isinstance(json.loads(body).get("status"), str)
    except (ValueError, AttributeError):
        return False


@dataclass
class Deployment:
    """What the steps learned and made, for the steps after them (and the report)."""

    request: DeployRequest
    account: str = ""
    deploy_bucket: str = ""
    repository_uri: str = ""
    image_uri: str = ""
    outputs: dict[str, str] = field(default_factory=dict)
    runtime_venv: Path | None = None
    web_dir: Path | None = None
    stage: dict[str, Any] = field(default_factory=dict)
    package: dict[str, Any] = field(default_factory=dict)
    api_url: str = ""
    outcomes: list[StepOutcome] = field(default_factory=list)


# ── the steps ─────────────────────────────────────────────────────────────────

ECS_SERVICE = "ecs.amazonaws.com"


def ecs_service_linked_role(deployment: Deployment, machine: Machine) -> str:
    """Make ECS's service-linked role unless the account has it (found by its path, as IAM lists it)."""
    iam = aws.client("iam")
    found = iam.list_roles(PathPrefix=f"/aws-service-role/{ECS_SERVICE}/").get("Roles", [])
    if found:
        return f"{found[0]['RoleName']} exists"
    from botocore.exceptions import ClientError

    try:
        made = iam.create_service_linked_role(AWSServiceName=ECS_SERVICE)["Role"]["RoleName"]
    except ClientError as err:  # another deploy made it in between
        if "has been taken" not in str(err):
            raise
        return "made by another caller just now"
    return f"created {made}"


def deploy_bucket(deployment: Deployment, machine: Machine) -> str:
    """The account's deploy bucket (SAM's artifacts, Zappa's packages): private (S3 encrypts every new object)."""
    from botocore.exceptions import ClientError

    region = deployment.request.region
    deployment.account = aws.client("sts").get_caller_identity()["Account"]
    name = names.check_bucket_name(f"dropml-deploy-{deployment.account}-{region}", "deploy bucket")
    deployment.deploy_bucket = name
    s3 = aws.client("s3")
    try:
        s3.head_bucket(Bucket=name, ExpectedBucketOwner=deployment.account)
        return f"s3://{name} exists"
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") not in ("404", "NoSuchBucket"):
            raise DeployFailed(
                f"the deploy bucket {name} belongs to another account or is not readable: {err}"
            ) from err
    location = {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
    s3.create_bucket(Bucket=name, **location)
    s3.put_public_access_block(
        Bucket=name,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True, "RestrictPublicBuckets": True,
        },
    )  # fmt: skip
    return f"created s3://{name}"


def image_repository(deployment: Deployment, machine: Machine) -> str:
    """The ECR repository ``<stack>-training`` (the same image trains, scores and runs Dask)."""
    from botocore.exceptions import ClientError

    ecr = aws.client("ecr")
    name = f"{deployment.request.stack}-training"
    try:
        repository = ecr.describe_repositories(repositoryNames=[name])["repositories"][0]
        verb = "exists"
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") != "RepositoryNotFoundException":
            raise
        repository = ecr.create_repository(
            repositoryName=name, imageScanningConfiguration={"scanOnPush": True}, imageTagMutability="MUTABLE"
        )["repository"]
        verb = "created"
    deployment.repository_uri = repository["repositoryUri"]
    deployment.image_uri = f"{deployment.repository_uri}:{deployment.request.image_tag}"
    return f"{deployment.repository_uri} {verb}"


def task_platform(template: dict[str, Any]) -> str:
    """The docker platform of the training task definition's RuntimePlatform (X86_64 -> linux/amd64).

    Raises:
        BadInput: the template's task definition names no CPU architecture dropml knows.
    """
    properties = template["Resources"]["TrainingTaskDefinition"]["Properties"]
    architecture = properties.get("RuntimePlatform", {}).get("CpuArchitecture", "X86_64")
    if architecture not in PLATFORMS:
        raise BadInput(
            "CpuArchitecture", architecture, f"the task's CpuArchitecture must be one of {sorted(PLATFORMS)}"
        )
    return PLATFORMS[architecture]


def training_image(deployment: Deployment, machine: Machine) -> str:
    """Build the training image for the task's platform and push it (ECR's token logs docker in)."""
    from samtranslator.yaml_helper import yaml_parse

    request = deployment.request
    template = yaml_parse((request.root / "template.yaml").read_text())
    image = ImageBuild(
        root=request.root,
        dockerfile="training_job/Dockerfile",
        platform=task_platform(template),
        code_version=request.image_tag,
        repository_uri=deployment.repository_uri,
        tag=request.image_tag,
    )
    token = aws.client("ecr").get_authorization_token()["authorizationData"][0]["authorizationToken"]
    machine.push_image(image, base64.b64decode(token).decode().partition(":")[2])
    return f"{image.uri} ({image.platform})"


def web_function_name(root: Path, stage: str) -> str:
    """The web app's Lambda name as Zappa makes it: ``<project_name>-<stage>`` of zappa_settings.json."""
    document = json.loads((root / "zappa_settings.json").read_text())
    if stage not in document:
        raise BadInput("--stage", stage, f"zappa_settings.json has no stage {stage!r} (stages: {sorted(document)})")
    return f"{document[stage]['project_name']}-{stage}"


def stack(deployment: Deployment, machine: Machine) -> str:
    """``sam build``, then ``sam deploy`` with the image, network, code bucket and any other parameters."""
    request = deployment.request
    build = request.workdir / "sam-build"
    machine.run([machine.sam(), "build", "--template-file", "template.yaml", "--build-dir", str(build)])
    parameters = {
        "TrainingImageUri": deployment.image_uri,
        "VpcId": request.vpc_id,
        "VpcSubnetIds": ",".join(request.subnets),
        "SecurityGroupIds": ",".join(request.security_groups),
        "AssignPublicIp": "true" if request.assign_public_ip else "false",
        "WebFunctionName": web_function_name(request.root, request.stage),
        "WebCodeBucket": deployment.deploy_bucket,
        **request.parameters,
    }
    machine.sam_deploy(
        SamDeploy(
            template=build / "template.yaml",
            stack=request.stack,
            region=request.region,
            bucket=deployment.deploy_bucket,
            prefix=f"{request.stack}/sam",
            parameters=parameters,
        )
    )
    deployment.outputs = stack_outputs(request.stack)
    return f"stack {request.stack}: bucket {deployment.outputs['BucketName']}"


def runtime_key(root: Path, runtime: str) -> str:
    """The web runtime venv's name: the stage's runtime and a hash of the pins it was installed from."""
    pins = hashlib.sha256(
        b"editable" + (root / "pyproject.toml").read_bytes() + (root / "constraints.txt").read_bytes()
    )
    return f"{runtime}-{pins.hexdigest()[:12]}"


def runtime_python(runtime: str) -> str:
    """The interpreter of the stage's runtime (``python3.12``): pyenv's, else on PATH.

    Raises:
        DeployFailed: it is not installed.
    """
    version = runtime.removeprefix("python")
    candidates = [str(p) for p in sorted(Path.home().glob(f".pyenv/versions/{version}.*/bin/{runtime}"))]
    candidates += [found] if (found := shutil.which(runtime)) else []
    for candidate in candidates:
        if subprocess.run([candidate, "--version"], capture_output=True, check=False).returncode == 0:
            return candidate
    raise DeployFailed(f"{runtime} (zappa_settings.json runtime) is not installed: make runtime-python")


def web_runtime(deployment: Deployment, machine: Machine) -> str:
    """A venv of the stage's runtime with ``-e .[web]`` and Zappa (Zappa packages the active venv), made once."""
    request = deployment.request
    runtime = json.loads((request.root / "zappa_settings.json").read_text())[request.stage]["runtime"]
    venv = TOOLS / "zappa-runtime" / runtime_key(request.root, runtime)
    deployment.runtime_venv = venv
    if (venv / ".installed").exists():
        return f"{venv} exists"
    shutil.rmtree(venv, ignore_errors=True)
    machine.run([runtime_python(runtime), "-m", "venv", str(venv)])
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    machine.run([*pip, "--upgrade", "pip"])
    # editable: Zappa copies the project's files, then site-packages over them; a plain install's copy would win
    machine.run([*pip, "-c", str(request.root / "constraints.txt"), "-e", f"{request.root}[web]", "zappa"])
    (venv / ".installed").touch()
    return f"created {venv}"


def web_settings(deployment: Deployment, machine: Machine) -> str:
    """Stage the web app's files and fill their Zappa stage from the stack's outputs (zappa-settings)."""
    request = deployment.request
    web_dir = request.workdir / "web"
    shutil.rmtree(web_dir, ignore_errors=True)
    web_dir.mkdir(parents=True)
    caches = shutil.ignore_patterns("__pycache__", "*.pyc")

    def ignore(directory: str, entries: list[str]) -> set[str]:
        skipped = set(caches(directory, entries))
        return skipped | {"local"} if Path(directory) == request.root / "dropml" else skipped

    for name in WEB_FILES:
        source = request.root / name
        if source.is_dir():
            shutil.copytree(source, web_dir / name, ignore=ignore)
        else:
            shutil.copy2(source, web_dir / name)
    deployment.web_dir = web_dir
    deployment.stage = zappa_settings.write_zappa_settings(
        web_dir / "zappa_settings.json", request.stage, request.stack
    )
    return f"{web_dir / 'zappa_settings.json'} stage {request.stage}: role {deployment.stage['role_arn']}"


def _zappa(deployment: Deployment) -> tuple[str, dict[str, str]]:
    venv = deployment.runtime_venv
    assert venv is not None  # web_runtime ran
    drop = ("DROPML__", "VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")
    environment = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    environment.update(VIRTUAL_ENV=str(venv), PATH=f"{venv / 'bin'}:{environment.get('PATH', '')}")
    return str(venv / "bin" / "zappa"), environment


def check_package(package: Path, stage: dict[str, Any], archive: Path | None) -> dict[str, Any]:
    """The package's sizes, checked against Lambda's: 250 MB unzipped, or the stage's /tmp for a slim archive.

    Raises:
        DeployFailed: Lambda would refuse the function (or the slim archive would not fit its /tmp), or the
            package holds the local world's code.
    """
    with zipfile.ZipFile(package) as opened:
        unzipped = sum(info.file_size for info in opened.infolist())
        has_botocore = any(n.startswith("botocore/data/s3/") for n in opened.namelist())
        local_world = [n for n in opened.namelist() if n.startswith(LOCAL_WORLD)]
    found = {"zip_bytes": package.stat().st_size, "unzipped_bytes": unzipped, "ships_botocore": has_botocore}
    if unzipped > LAMBDA_UNZIPPED_BYTES:
        raise DeployFailed(
            f"the web package is {unzipped / 2**20:.0f} MiB unzipped, over Lambda's 250 MB "
            f"({LAMBDA_UNZIPPED_BYTES} bytes): exclude more in zappa_settings.json"
        )
    if archive is not None:
        with tarfile.open(archive) as opened:
            unpacked = sum(member.size for member in opened.getmembers())
            local_world += [n for n in opened.getnames() if n.lstrip("./").startswith(LOCAL_WORLD)]
        ephemeral = int(stage.get("ephemeral_storage", {}).get("Size", 512)) * 2**20
        found.update(archive_bytes=archive.stat().st_size, unpacked_bytes=unpacked, ephemeral_bytes=ephemeral)
        if unpacked > ephemeral:
            raise DeployFailed(f"the slim archive unpacks to {unpacked} bytes, over the stage's /tmp ({ephemeral})")
    if local_world:
        raise DeployFailed(f"the web package holds the local world's code ({local_world[0]}, ...): it never ships")
    return found


def _archive_key(package: Path) -> str | None:
    """Where a slim handler fetches its project archive (ARCHIVE_PATH of its settings), or None."""
    with zipfile.ZipFile(package) as opened:
        if "zappa_settings.py" not in opened.namelist():
            return None
        found = re.search(r"^ARCHIVE_PATH\s*=\s*'s3://[^/]+/(.+)'$", opened.read("zappa_settings.py").decode(), re.M)
    return found.group(1) if found else None


def web_app(deployment: Deployment, machine: Machine) -> str:
    """``zappa package``, Lambda's limits checked, the upload, then ``zappa deploy`` (``update`` once deployed)."""
    from botocore.exceptions import ClientError

    request, web_dir = deployment.request, deployment.web_dir
    assert web_dir is not None  # web_settings ran
    zappa, environment = _zappa(deployment)
    for old in web_dir.glob("*.tar.gz"):
        old.unlink()
    package = request.workdir / f"web-{request.stage}.zip"
    machine.run([zappa, "package", request.stage, "-o", str(package)], cwd=web_dir, env=environment)
    archives = sorted(web_dir.glob("*.tar.gz"))  # slim_handler: the project archive beside the handler zip
    deployment.package = check_package(package, deployment.stage, archives[-1] if archives else None)
    bucket = deployment.stage["s3_bucket"]
    key = f"{request.stack}/web/{package.name}"
    s3 = aws.client("s3")
    s3.upload_file(str(package), bucket, key)
    archive_key = _archive_key(package)
    if archives and archive_key:
        s3.upload_file(str(archives[-1]), bucket, archive_key)
    function = web_function_name(request.root, request.stage)
    try:
        aws.client("lambda").get_function(FunctionName=function)
        verb = "update"
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
            raise
        verb = "deploy"
    machine.run([zappa, verb, request.stage, "-z", f"s3://{bucket}/{key}"], cwd=web_dir, env=environment)
    deployment.api_url = api_url(function, request.region, request.stage)
    return f"zappa {verb} {request.stage}: {function} at {deployment.api_url}"


def api_url(function: str, region: str, stage: str) -> str:
    """The invoke URL of the REST API Zappa made for ``function`` (it names the API after the function).

    Raises:
        DeployFailed: no such API.
    """
    apis = [a for a in aws.client("apigateway").get_rest_apis(limit=500)["items"] if a["name"] == function]
    if not apis:
        raise DeployFailed(f"no REST API named {function} after zappa deploy")
    return f"https://{apis[0]['id']}.execute-api.{region}.amazonaws.com/{stage}"


def smoke_request(deployment: Deployment, machine: Machine) -> str:
    """One request through API Gateway to the app: its health document proves the whole way works."""
    return machine.smoke(deployment.api_url + SMOKE_PATH)


Step = Callable[[Deployment, Machine], str]
STEPS: tuple[tuple[str, Step], ...] = (
    ("ECS service-linked role", ecs_service_linked_role),
    ("deploy bucket", deploy_bucket),
    ("image repository", image_repository),
    ("training image (linux/amd64)", training_image),
    ("sam build + sam deploy", stack),
    ("web runtime venv", web_runtime),
    ("zappa settings from the stack", web_settings),
    ("zappa package + deploy", web_app),
    ("smoke request", smoke_request),
)


def deploy(request: DeployRequest, machine: Machine | None = None, say: Callable[[str], None] = print) -> Deployment:
    """Run every step in order (see the module); returns what was made, each step's outcome included.

    Raises:
        BadInput: the request is refused before anything is created.
        DeployFailed: a step failed (its name and the cause are in the message); later steps do not run.
    """
    from botocore.exceptions import BotoCoreError, ClientError

    request.check()
    machine = machine or Machine(request.root, {"AWS_REGION": request.region, "AWS_DEFAULT_REGION": request.region})
    request.workdir.mkdir(parents=True, exist_ok=True)
    deployment = Deployment(request)
    for number, (title, step) in enumerate(STEPS, 1):
        say(f"[{number}/{len(STEPS)}] {title}")
        before = len(machine.commands)
        try:
            detail = step(deployment, machine)
            status: Literal["done", "not run here"] = "done"
        except NotRunHere as reason:
            detail, status = str(reason), "not run here"
        except (DeployFailed, ClientError, BotoCoreError) as err:  # AWS's refusals name the step too
            failed = DeployFailed(f"step {number} ({title}) failed: {err}")
            failed.deployment = deployment  # what the steps before it made, for a report
            raise failed from err
        deployment.outcomes.append(StepOutcome(title, status, detail, machine.commands[before:]))
        say(f"      {status}: {detail}")
    return deployment
