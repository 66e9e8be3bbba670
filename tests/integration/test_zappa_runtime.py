"""The deployable web package, built as web/README.md says, answers a request under its runtime's Python.

`zappa package dev` runs in a virtualenv of the stage's runtime (python3.12; zappa packages the ACTIVE
venv, so its compiled wheels, pydantic_core among them, are the runtime's). The project archive is
unpacked and Zappa's own handler is imported and called in a fresh `python3.12 -I`, which reads a
version the real training code made from the stand-in and predicts, without importing pandas or
scikit-learn. It prints the unpacked size and the import-to-first-answer time.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import tarfile
import zipfile
from pathlib import Path

import pytest

from tests.conftest import EVENTS, ROOT

STAGE = json.loads((ROOT / "zappa_settings.json").read_text())["dev"]
RUNTIME = STAGE["runtime"]  # "python3.12"
VENVS = ROOT / ".cache" / "zappa-runtime"

ANSWER = """
import faulthandler, json, sys, time
faulthandler.dump_traceback_later(240, exit=True)  # a hang fails with where it hung, not a silent timeout
started = time.perf_counter()
sys.path.insert(0, sys.argv[1])
sys.path.append(sys.argv[3])  # what the Lambda runtime provides (boto3, botocore, s3transfer), after the package
import handler  # Zappa's handler.py from the handler zip, with the generated zappa_settings.py
imported = time.perf_counter()
ctx = type("Ctx", (), {"get_remaining_time_in_millis": lambda self: 30000, "aws_request_id": "r1",
                       "function_name": "dropml-web-dev", "memory_limit_in_mb": 2048,
                       "invoked_function_arn": "arn:aws:lambda:us-east-1:123456789012:function:dropml-web-dev"})()
answer = handler.lambda_handler(json.loads(open(sys.argv[2]).read()), ctx)
answered = time.perf_counter()
print(json.dumps({"python": sys.version.split()[0], "status": answer["statusCode"], "body": answer["body"],
                  "import_s": imported - started, "first_answer_s": answered - imported,
                  "imported": sorted({"pandas", "sklearn"} & set(sys.modules))}))
"""


def _runtime_python() -> str:
    """The stage's runtime interpreter: pyenv's or on PATH (make test installs it when the machine lacks it)."""
    version = RUNTIME.removeprefix("python")
    candidates = [str(p) for p in sorted(Path.home().glob(f".pyenv/versions/{version}.*/bin/{RUNTIME}"))]
    candidates += [found] if (found := shutil.which(RUNTIME)) else []
    for candidate in candidates:  # a pyenv shim exists even when its version is not selected: it must run
        if subprocess.run([candidate, "--version"], capture_output=True, check=False).returncode == 0:
            return candidate
    pytest.fail(f"{RUNTIME} (zappa_settings.json runtime) is not installed: make test installs it")


def _runtime_venv() -> Path:
    """A venv of the runtime with '.[web]' and zappa installed as web/README.md says (cached by the pins' hash)."""
    pins = hashlib.sha256(
        b"editable" + (ROOT / "pyproject.toml").read_bytes() + (ROOT / "constraints.txt").read_bytes()
    )
    venv = VENVS / f"{RUNTIME}-{pins.hexdigest()[:12]}"
    if (venv / ".installed").exists():
        return venv
    shutil.rmtree(venv, ignore_errors=True)
    subprocess.run([_runtime_python(), "-m", "venv", str(venv)], check=True, timeout=300)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    subprocess.run([*pip, "--upgrade", "pip"], check=True, timeout=600)
    # editable, as web/README.md says: a plain install copies dropml into site-packages, and Zappa packs that copy
    # over the project's own files, so code changed since the install would ship stale (this test caught it)
    subprocess.run([*pip, "-c", str(ROOT / "constraints.txt"), "-e", f"{ROOT}[web]", "zappa"], check=True, timeout=1800)
    (venv / ".installed").touch()
    return venv


@pytest.mark.slow
@pytest.mark.timeout(1800)  # a runtime venv on first use, zappa package, a session's training
def test_the_package_answers_a_prediction_under_the_runtimes_python(aws, trained_versions, tmp_path):
    venv = _runtime_venv()
    project = tmp_path / "project"
    project.mkdir()
    for name in ("dropml", "web"):
        shutil.copytree(ROOT / name, project / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("zappa_settings.json", "config.json", "pyproject.toml"):
        shutil.copy(ROOT / name, project / name)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "DROPML__"))}
    env.update(VIRTUAL_ENV=str(venv), PATH=f"{venv / 'bin'}:{env['PATH']}")
    handler_zip = tmp_path / "handler.zip"
    built = subprocess.run(
        [str(venv / "bin" / "zappa"), "package", "dev", "-o", str(handler_zip)],
        cwd=project, env=env, capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    assert built.returncode == 0, built.stdout[-2000:] + built.stderr[-2000:]
    [archive] = project.glob("dropml-web-dev-*.tar.gz")

    unpacked = tmp_path / "unpacked"
    with tarfile.open(archive) as tar:
        tar.extractall(unpacked, filter="data")
    with zipfile.ZipFile(handler_zip) as handler:
        handler.extract("handler.py", unpacked)
        settings_text = handler.read("zappa_settings.py").decode()
    # the function would fetch ARCHIVE_PATH from S3 into /tmp; it is unpacked here instead
    (unpacked / "zappa_settings.py").write_text(re.sub(r"(?m)^ARCHIVE_PATH\s*=.*$", "", settings_text))
    size = sum(f.stat().st_size for f in unpacked.rglob("*") if f.is_file())
    assert not (unpacked / "pyarrow").exists()  # the one rule: not packaged, and the stage never imports it

    # the Lambda runtime provides boto3, botocore and s3transfer (zappa_settings.json excludes them)
    provided = tmp_path / "lambda-runtime"
    provided.mkdir()
    site = next((venv / "lib").glob("python3.*/site-packages"))
    for name in ("boto3", "botocore", "s3transfer"):
        assert not (unpacked / name).exists(), name
        (provided / name).symlink_to(site / name)

    manifest = trained_versions.write()
    run_env = {k: v for k, v in os.environ.items() if not k.startswith("DROPML__")}
    run_env.update(
        AWS_ENDPOINT_URL=aws.endpoint,
        DROPML__STORAGE__BUCKET=os.environ.get("DROPML__STORAGE__BUCKET", "") or _bucket(),
        DROPML__SERVING__MODEL_TTL_SECONDS="0",
    )
    ran = subprocess.run(
        [_runtime_python(), "-I", "-c", ANSWER, str(unpacked), str(EVENTS / "apigw_v1_predict.json"), str(provided)],
        cwd=tmp_path, env=run_env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr[-3000:]
    result = json.loads(ran.stdout.strip().splitlines()[-1])
    assert result["python"].startswith(RUNTIME.removeprefix("python") + ".")
    assert result["status"] == 200, result["body"][:500]
    body = json.loads(result["body"])
    assert (body["model_version"], body["champion"], body["predictions"]) == (1, manifest.champion, ["malignant"])
    # a JSON record of numbers, every model compiled: onnxruntime reads its matrix, the audit record its rows,
    # so the cold function never imports pandas or scikit-learn (a third of a fresh process's first answer)
    assert result["imported"] == [], f"the first JSON answer imported {result['imported']}"
    print(
        f"\n{RUNTIME} package: {size / 2**20:.1f} MiB unpacked; import {result['import_s']:.2f} s, "
        f"first answer {result['first_answer_s']:.2f} s after import (python {result['python']})"
    )


def _bucket() -> str:
    from dropml.config import settings

    return settings().storage.bucket
