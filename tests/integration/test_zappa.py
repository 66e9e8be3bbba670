"""The Flask app behind Zappa's own LambdaHandler (API Gateway v1 and v2 events), and `zappa package full` offline."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path
from types import SimpleNamespace

import pytest

from dropml import audit
from dropml.config import reset_settings_cache

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "events"

SETTINGS_MODULE = """
APP_MODULE = "web.app"
APP_FUNCTION = "app"
DEBUG = False
LOG_LEVEL = "WARNING"
BINARY_SUPPORT = True
CONTEXT_HEADER_MAPPINGS = {}
DOMAIN = None
BASE_PATH = None
ENVIRONMENT_VARIABLES = {"DROPML__SERVING__MODEL_TTL_SECONDS": "0"}
API_STAGE = "dev"
PROJECT_NAME = "dropml-web"
SETTINGS_FILE = None
DJANGO_SETTINGS = None
AWS_EVENT_MAPPING = {}
AWS_BOT_EVENT_MAPPING = {}
COGNITO_TRIGGER_MAPPING = {}
EXCEPTION_HANDLER = None
"""


def _event(name: str) -> dict:
    return json.loads((EVENTS / name).read_text())


def _context() -> SimpleNamespace:
    return SimpleNamespace(
        get_remaining_time_in_millis=lambda: 30_000,
        aws_request_id="lambda-req-1",
        function_name="dropml-web-dev",
        memory_limit_in_mb=2048,
        invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:dropml-web-dev",
    )


@pytest.fixture
def lambda_handler(aws, tmp_path, monkeypatch):
    """Zappa's LambdaHandler around web.app.app, configured by a settings module like the one zappa generates."""
    from zappa.handler import LambdaHandler

    (tmp_path / "dropml_test_zappa_settings.py").write_text(SETTINGS_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("DROPML__SERVING__MODEL_TTL_SECONDS", "0")
    reset_settings_cache()
    LambdaHandler("dropml_test_zappa_settings")  # a singleton: the first settings module wins
    yield LambdaHandler.lambda_handler
    audit.flush()
    for name in ("SERVERTYPE", "FRAMEWORK", "PROJECT", "STAGE"):
        os.environ.pop(name, None)


def _json_body(response: dict) -> dict:
    return json.loads(response["body"])


def test_api_gateway_v1_and_v2_events_through_zappas_handler(lambda_handler, trained_versions):
    before = lambda_handler(_event("apigw_v1_predict.json"), _context())
    assert before["statusCode"] == 503
    assert _json_body(before)["error"] == "no_live_model"

    manifest = trained_versions.write()
    v1 = lambda_handler(_event("apigw_v1_predict.json"), _context())
    assert v1["statusCode"] == 200
    body = _json_body(v1)
    assert (body["model_version"], body["champion"], body["predictions"]) == (1, manifest.champion, ["malignant"])
    assert body["request_id"] == "req-0001"
    assert v1["headers"]["X-Request-ID"] == "req-0001"

    v2 = lambda_handler(_event("apigw_v2_predict.json"), _context())
    assert v2["statusCode"] == 200
    assert _json_body(v2)["predictions"] == ["malignant"]
    assert v2["isBase64Encoded"] is False

    for name in ("apigw_v1_health.json", "apigw_v2_health.json"):
        health = lambda_handler(_event(name), _context())
        assert health["statusCode"] == 200
        assert _json_body(health)["status"] == "ok"

    page = _event("apigw_v2_health.json")
    page["rawPath"] = page["requestContext"]["http"]["path"] = "/"
    page["headers"]["accept"] = "text/html"
    html = lambda_handler(page, _context())
    assert html["statusCode"] == 200
    assert "Predict one record" in html["body"]

    bad = _event("apigw_v1_predict.json")
    bad["body"] = '{"dataframe_records": [{"mean_radius": "x"}]}'
    refused = lambda_handler(bad, _context())
    assert refused["statusCode"] == 422
    assert _json_body(refused)["problems"][0]["field"] in ("mean_texture", "mean_radius")


def test_zappa_stages_dev_lean_under_snapstart_and_full_slim_with_scikit_learn():
    """dev: the zip Lambda loads from its own storage, under SnapStart; full: the slim second function."""
    stages = json.loads((ROOT / "zappa_settings.json").read_text())
    dev, full = stages["dev"], stages["full"]
    assert dev["app_function"] == "web.app.app"
    assert dev["runtime"] == "python3.12"  # SnapStart takes Python 3.12 and later
    assert not dev.get("slim_handler", False)
    assert dev["snap_start"] == "PublishedVersions"
    assert dev.get("ephemeral_storage", {"Size": 512})["Size"] <= 512  # SnapStart refuses more /tmp
    assert "provisioned_concurrency" not in dev  # Zappa refuses it beside snap_start
    # Zappa's keep-warm rule invokes the unqualified function ($LATEST), API Gateway the snapstart alias
    assert dev["keep_warm"] is False
    # Zappa's handler.py builds its handler (and so imports the app) at Init only when this is in the
    # function's own environment: under SnapStart that Init is what the snapshot holds
    assert dev["aws_environment_variables"]["INSTANTIATE_LAMBDA_HANDLER_ON_IMPORT"] == "true"
    assert {"sklearn", "scipy", "onnx", "skl2onnx", "joblib"} <= set(dev["exclude"])
    assert dev["prebuild_script"] == "web.lambda_build.compile_bytecode"
    assert not {"__pycache__", "*.pyc"} & set(dev["exclude"])  # the build's bytecode ships
    assert dev["memory_size"] >= 1024
    assert dev["timeout_seconds"] <= 30  # API Gateway's own limit
    assert {"aws_region", "s3_bucket", "environment_variables"} <= set(dev)
    assert full["extends"] == "dev"
    assert (full["slim_handler"], full["snap_start"], full["keep_warm"]) == (True, "None", True)
    assert not {"sklearn", "scipy", "joblib"} & set(full["exclude"])


def _package_dir(tmp_path: Path) -> Path:
    """A copy of what the package needs, OUTSIDE the venv's folder (zappa wants the venv out of the project)."""
    project = tmp_path / "project"
    project.mkdir()
    for name in ("dropml", "web"):
        shutil.copytree(ROOT / name, project / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("zappa_settings.json", "config.json", "pyproject.toml"):
        shutil.copy(ROOT / name, project / name)
    return project


@pytest.mark.slow
def test_zappa_package_full_builds_offline(tmp_path):
    """`zappa package full` (the slim stage with scikit-learn) with the venv activated, from a project copy.

    In `make test` the venv is .venv INSIDE the project, which zappa mishandles
    (it copies it, and names the handler module after it): packaging a copy of
    the project in a temp dir avoids both; `exclude` in zappa_settings.json also
    lists .venv and every dev-only package for packaging from the real tree. The
    lean `dev` stage is built in its runtime's venv by tests/integration/test_zappa_runtime.py.
    """
    zappa = Path(sys.prefix) / "bin" / "zappa"
    if not zappa.exists():
        pytest.skip("zappa is not installed in this venv (pip install 'dropml[deploy]')")
    project = _package_dir(tmp_path)
    env = {**os.environ, "VIRTUAL_ENV": sys.prefix, "PATH": f"{Path(sys.prefix) / 'bin'}:{os.environ['PATH']}"}
    env.pop("AWS_ENDPOINT_URL", None)
    handler_zip = tmp_path / "handler.zip"
    result = subprocess.run(
        [str(zappa), "package", "full", "-o", str(handler_zip)],
        cwd=project, env=env, capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    archives = list(project.glob("dropml-web-full-*.tar.gz"))
    assert len(archives) == 1, result.stdout[-1000:]
    with zipfile.ZipFile(handler_zip) as handler:
        names = set(handler.namelist())
        settings_text = handler.read("zappa_settings.py").decode()
    assert {"handler.py", "zappa_settings.py"} <= names
    assert "APP_MODULE='web.app'" in settings_text.replace(" ", "").replace('"', "'")
    with tarfile.open(archives[0]) as archive:
        members = {m.name.split("/")[0] for m in archive.getmembers()}
        unpacked = sum(m.size for m in archive.getmembers())
    assert {"web", "dropml", "flask", "sklearn", "pandas", "distributed"} <= members
    assert not {"moto", "playwright", "pytest", "samcli", "pyarrow", "tests", ".venv", "keras", "jaxlib"} & members
    packed = archives[0].stat().st_size
    print(
        f"\nzappa package full: handler zip {handler_zip.stat().st_size / 2**20:.1f} MiB, project archive "
        f"{packed / 2**20:.1f} MiB packed / {unpacked / 2**20:.1f} MiB unpacked (python {sys.version.split()[0]})"
    )
    assert unpacked < 500 * 2**20  # fits the 2048 MB ephemeral storage slim_handler unpacks into, with room
