"""The web app's Lambda package, built and started the way Lambda starts it (used by a test and a bench).

:func:`build` runs ``zappa package <stage>`` in a virtualenv of the stage's runtime (python3.12), as
``web/README.md`` tells a user to, on a copy of the project whose ``s3_bucket`` is the stand-in's (what
``dropml deploy zappa-settings`` fills in). :func:`start_cold` replays one cold start in a fresh process of
the runtime's Python, isolated (``-I -S``) and without writing bytecode (Lambda's code directory is
read-only), with only the package and what the Lambda runtime provides (boto3, botocore, s3transfer) on its
path:

- a full package (``slim_handler: false``): Lambda fetches the zip from its code storage and lays it out in
  its code directory before Init; here the zip is fetched from the stand-in's S3 and unzipped into a fresh
  folder, each step timed;
- a slim package: the code directory holds the handler zip only; Zappa's handler itself fetches the project
  archive from S3 at Init and unpacks it into ``/tmp/<project_name>`` (here a name of its own per run).

Then the child imports Zappa's ``handler`` (Init) and answers each API Gateway event in turn, reporting
each step's time and which heavy libraries were imported by then.
"""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
import time
import uuid
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dropml.usecases import deploy_path as path

ROOT = Path(__file__).resolve().parents[2]
SETTINGS = json.loads((ROOT / "zappa_settings.json").read_text())
RUNTIME = SETTINGS["dev"]["runtime"]  # "python3.12"
VENVS = path.TOOLS / "zappa-runtime"
LAMBDA_CODE_LIMIT = path.LAMBDA_UNZIPPED_BYTES  # bytes: Lambda's quota for code and layers, unzipped (250 MiB)
PROVIDED_BY_RUNTIME = ("boto3", "botocore", "s3transfer")  # on a Lambda Python runtime's own path
SNAPSHOT_HOOKS = "snapshot_restore_py.py"  # the runtime's SnapStart hooks (pure Python: linked from this venv)
HEAVY = ("sklearn", "scipy", "pandas", "onnx", "skl2onnx", "joblib", "onnxruntime", "numpy", "botocore", "dask")
PROJECT_FILES = ("zappa_settings.json", "config.json", "pyproject.toml")
PROJECT_DIRS = ("dropml", "web")

CHILD = r"""
import faulthandler, json, os, sys, time
faulthandler.dump_traceback_later(240, exit=True)  # a hang fails with where it hung, not a silent timeout
started = time.perf_counter()
code, provided, events_file, heavy = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4].split(",")
sys.path.insert(0, code)
sys.path.append(provided)  # after the package, as on Lambda
import handler  # Init: Zappa's handler (a slim one fetches and unpacks the project here), then web.app
imported = time.perf_counter()
restored = 0.0
if os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE") == "snap-start":  # the snapshot is taken here; on restore
    import snapshot_restore_py  # the runtime runs the after-restore hooks before the first event
    for hook, args, kwargs in snapshot_restore_py._after_restore_registry:
        hook(*args, **kwargs)
    restored = time.perf_counter() - imported
print(json.dumps({"step": "init", "seconds": imported - started, "after_restore_hooks": restored,
                  "imported": sorted(set(heavy) & set(sys.modules))}), flush=True)
ctx = type("Ctx", (), {"get_remaining_time_in_millis": lambda self: 30000, "aws_request_id": "cold-start",
                       "function_name": "dropml-web", "memory_limit_in_mb": 2048,
                       "invoked_function_arn": "arn:aws:lambda:us-east-1:123456789012:function:dropml-web"})()
for name, event in json.load(open(events_file)):
    before = time.perf_counter()
    answer = handler.lambda_handler(event, ctx)
    print(json.dumps({"step": name, "seconds": time.perf_counter() - before, "status": answer["statusCode"],
                      "body": answer.get("body", ""), "base64": answer.get("isBase64Encoded", False),
                      "imported": sorted(set(heavy) & set(sys.modules))}), flush=True)
"""


def runtime_venv() -> Path:
    """A venv of the runtime with '.[web]' and zappa installed as web/README.md says (cached by the pins' hash).

    The same venv as ``make deploy``'s web runtime step (:func:`dropml.usecases.deploy_path.web_runtime`), so
    ``make test`` builds it once for the rehearsal and this package.
    """
    venv = VENVS / path.runtime_key(ROOT, RUNTIME)
    if (venv / ".installed").exists():
        return venv
    shutil.rmtree(venv, ignore_errors=True)
    subprocess.run([path.runtime_python(RUNTIME), "-m", "venv", str(venv)], check=True, timeout=300)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    subprocess.run([*pip, "--upgrade", "pip"], check=True, timeout=600)
    # editable, as web/README.md says: a plain install copies dropml into site-packages, and Zappa packs that copy
    # over the project's own files, so code changed since the install would ship stale
    subprocess.run([*pip, "-c", str(ROOT / "constraints.txt"), "-e", f"{ROOT}[web]", "zappa"], check=True, timeout=1800)
    (venv / ".installed").touch()
    return venv


@dataclass(frozen=True)
class Package:
    """What ``zappa package <stage>`` made: the archive Lambda stores, and for a slim stage its handler zip."""

    stage: str
    slim: bool
    archive: Path  # the function's zip (full package), or the project's .tar.gz that a slim handler fetches
    handler_zip: Path | None  # slim only: the function's code
    settings: dict[str, Any]  # the stage's settings (after extends)
    zipped_bytes: int
    unpacked_bytes: int  # what Lambda counts against its limit (full), or what the slim handler unpacks
    build_seconds: float
    archive_key: str  # where the deploy stores it in the code bucket (a slim handler's ARCHIVE_PATH)
    sizes: dict[str, int] = field(default_factory=dict)  # top-level entry -> unpacked bytes


def stage_settings(stage: str) -> dict[str, Any]:
    """A stage's settings with its ``extends`` chain applied (a shallow update, as Zappa does)."""
    found = copy.deepcopy(SETTINGS[stage])
    parent = found.pop("extends", None)
    return {**stage_settings(parent), **found} if parent else found


def build(stage: str, workdir: Path, bucket: str) -> Package:
    """``zappa package <stage>`` on a copy of the project whose code bucket is ``bucket``, in the runtime venv.

    Raises:
        RuntimeError: packaging failed (its output's tail says why).
    """
    venv = runtime_venv()
    project = workdir / f"project-{stage}"
    shutil.rmtree(project, ignore_errors=True)
    project.mkdir(parents=True)
    for name in PROJECT_DIRS:
        shutil.copytree(ROOT / name, project / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in PROJECT_FILES:
        shutil.copy(ROOT / name, project / name)
    settings = json.loads((project / "zappa_settings.json").read_text())
    settings["dev"]["s3_bucket"] = bucket  # dropml deploy zappa-settings writes the stack's bucket here
    (project / "zappa_settings.json").write_text(json.dumps(settings, indent=2))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "DROPML__", "PYTHON"))}
    env.update(VIRTUAL_ENV=str(venv), PATH=f"{venv / 'bin'}:{env['PATH']}")
    output = project / f"{stage}-lambda.zip"
    started = time.perf_counter()
    built = subprocess.run(
        [str(venv / "bin" / "zappa"), "package", stage, "-o", output.name],
        cwd=project, env=env, capture_output=True, text=True, timeout=1200, check=False,
    )  # fmt: skip
    seconds = time.perf_counter() - started
    if built.returncode != 0:
        raise RuntimeError(f"zappa package {stage} failed: {built.stdout[-2000:]}{built.stderr[-2000:]}")
    resolved = {**stage_settings(stage), "s3_bucket": bucket}
    if resolved.get("slim_handler"):
        [archive] = project.glob(f"*-{stage}-*.tar.gz")
        with tarfile.open(archive) as tar:
            sizes = _top_level_sizes((m.name, m.size) for m in tar.getmembers() if m.isfile())
        with zipfile.ZipFile(output) as handler_zip:
            generated = handler_zip.read("zappa_settings.py").decode()
        [key] = re.findall(rf"(?m)^ARCHIVE_PATH='s3://{re.escape(bucket)}/(.+)'$", generated)
        return Package(stage, True, archive, output, resolved, archive.stat().st_size + output.stat().st_size,
                       sum(sizes.values()), seconds, key, sizes)  # fmt: skip
    with zipfile.ZipFile(output) as package:
        sizes = _top_level_sizes((i.filename, i.file_size) for i in package.infolist() if not i.is_dir())
    return Package(stage, False, output, None, resolved, output.stat().st_size, sum(sizes.values()), seconds,
                   output.name, sizes)  # fmt: skip


def _unzip(archive: Path, into: Path) -> None:
    """Unpack a zip as Lambda lays out a function's code: with a native unzip where there is one."""
    if shutil.which("unzip"):
        subprocess.run(["unzip", "-q", str(archive), "-d", str(into)], check=True, timeout=600)
    else:
        with zipfile.ZipFile(archive) as package_zip:
            package_zip.extractall(into)


def _top_level_sizes(members: Any) -> dict[str, int]:
    sizes: dict[str, int] = {}
    for name, size in members:
        top = name.split("/", 1)[0]
        sizes[top] = sizes.get(top, 0) + size
    return dict(sorted(sizes.items(), key=lambda item: -item[1]))


def upload(package: Package, s3: Any) -> None:
    """Store the package where the deploy puts it: the stage's code bucket (made if missing), under its name."""
    from botocore.exceptions import ClientError

    bucket = package.settings["s3_bucket"]
    try:
        s3.head_bucket(Bucket=bucket)
    except ClientError:
        s3.create_bucket(Bucket=bucket)
    s3.upload_file(str(package.archive), bucket, package.archive_key)


def provided_dir(workdir: Path) -> Path:
    """A folder with what the Lambda runtime provides (boto3, botocore, s3transfer), linked from the runtime venv."""
    provided = workdir / "lambda-runtime"
    if not provided.exists():
        provided.mkdir(parents=True)
        site = next((runtime_venv() / "lib").glob("python3.*/site-packages"))
        for name in PROVIDED_BY_RUNTIME:
            (provided / name).symlink_to(site / name)
        import snapshot_restore_py

        (provided / SNAPSHOT_HOOKS).symlink_to(snapshot_restore_py.__file__)
    return provided


def api_event(
    method: str, path: str, body: str = "", content_type: str | None = None, query: dict[str, str] | None = None
) -> dict[str, Any]:
    """An API Gateway REST (v1) proxy event, as API Gateway hands Zappa's handler a request."""
    event = json.loads((ROOT / "events" / "apigw_v1_predict.json").read_text())
    headers = {k: v for k, v in event["headers"].items() if k != "Content-Type"}
    if content_type:
        headers["Content-Type"] = content_type
    headers["Accept"] = "application/json" if path.startswith("/api/") else "text/html"
    headers["X-Request-ID"] = f"cold-{uuid.uuid4().hex[:8]}"
    event.update(
        httpMethod=method, path=path, body=body or None, isBase64Encoded=False, headers=headers,
        multiValueHeaders={k: [v] for k, v in headers.items()},
        pathParameters={"proxy": path.lstrip("/")}, queryStringParameters=query or None,
        multiValueQueryStringParameters={k: [v] for k, v in query.items()} if query else None,
    )  # fmt: skip
    event["requestContext"] = {**event["requestContext"], "httpMethod": method, "path": f"/dev{path}"}
    return event


@dataclass
class ColdStart:
    """One replayed cold start: each step's seconds, the answers, and the heavy modules imported by each."""

    code_fetch_s: float = 0.0  # full package: the zip from S3 (Lambda's own step, before Init)
    code_unpack_s: float = 0.0  # full package: unzipping it into the code folder (likewise)
    process_s: float = 0.0  # spawn of the runtime's python to the end of Init (interpreter start included)
    steps: dict[str, dict[str, Any]] = field(default_factory=dict)  # "init" and each event: seconds, imported, ...
    first_answer_wall_s: float = 0.0  # spawn to the first event's answer, as the parent saw it

    @property
    def cold_start_s(self) -> float:
        """Lambda's steps up to the first answer: code fetch and layout (full package), spawn, Init, answer."""
        return self.code_fetch_s + self.code_unpack_s + self.first_answer_wall_s


def start_cold(
    package: Package,
    events: list[tuple[str, dict[str, Any]]],
    workdir: Path,
    env: dict[str, str],
    s3: Any,
    extra_env: dict[str, str] | None = None,
) -> ColdStart:
    """Replay one cold start of ``package`` and answer ``events`` in order (see the module docstring).

    ``env`` points at the stand-in (endpoint, credentials, the data bucket).

    Raises:
        RuntimeError: the child failed or an answer is missing.
    """
    run = Path(tempfile.mkdtemp(prefix="cold-", dir=workdir))
    code = run / "task"  # Lambda's code folder
    result = ColdStart()
    bucket = package.settings["s3_bucket"]
    project_folder = None
    if package.slim:
        assert package.handler_zip is not None
        with zipfile.ZipFile(package.handler_zip) as handler_zip:
            handler_zip.extractall(code)
        # the slim handler unpacks into /tmp/<PROJECT_NAME>: a name of its own per run, so runs start cold
        project_name = f"dropml-cold-{uuid.uuid4().hex[:10]}"
        settings_file = code / "zappa_settings.py"
        text = re.sub(r"(?m)^PROJECT_NAME=.*$", f"PROJECT_NAME={project_name!r}", settings_file.read_text())
        settings_file.write_text(text)
        project_folder = Path("/tmp") / project_name
    else:
        started = time.perf_counter()
        body = s3.get_object(Bucket=bucket, Key=package.archive_key)["Body"].read()
        result.code_fetch_s = time.perf_counter() - started
        started = time.perf_counter()
        archive = run / "code.zip"
        archive.write_bytes(body)
        _unzip(archive, code)
        archive.unlink()
        result.code_unpack_s = time.perf_counter() - started
    events_file = run / "events.json"
    events_file.write_text(json.dumps(events))
    # the function's own environment (aws_environment_variables), as Lambda sets it before handler.py is imported
    child_env = {**env, **package.settings.get("aws_environment_variables", {}), **(extra_env or {})}
    # -B: Lambda's code folder is read-only, so no bytecode is written there (-I ignores PYTHONDONTWRITEBYTECODE)
    argv = [path.runtime_python(RUNTIME), "-I", "-S", "-B", "-c", CHILD, str(code), str(provided_dir(workdir)),
            str(events_file), ",".join(HEAVY)]  # fmt: skip
    started = time.perf_counter()
    child = subprocess.Popen(argv, cwd=run, env=child_env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert child.stdout is not None
        for line in child.stdout:
            if not line.startswith("{"):
                continue
            step = json.loads(line)
            if step["step"] == "init":
                result.process_s = time.perf_counter() - started
            elif not result.first_answer_wall_s:
                result.first_answer_wall_s = time.perf_counter() - started
            result.steps[step.pop("step")] = step
        stderr = child.stderr.read() if child.stderr else ""
        child.wait(timeout=300)
    finally:
        if child.poll() is None:
            child.kill()
        shutil.rmtree(run, ignore_errors=True)
        if project_folder is not None:
            shutil.rmtree(project_folder, ignore_errors=True)
    missing = [name for name, _ in events if name not in result.steps]
    if child.returncode != 0 or missing:
        failed = f"cold start of {package.stage} failed (exit {child.returncode}, no answer to {missing})"
        raise RuntimeError(f"{failed}: {stderr[-3000:]}")
    return result
