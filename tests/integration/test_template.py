"""template.yaml: cfn-lint and `sam validate --lint` clean (offline), `sam build` works and fits Lambda's limit."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dropml.local import world
from tests.conftest import EVENTS, ROOT

LAMBDA_UNZIPPED_LIMIT = 262_144_000
FUNCTIONS = {
    "TrainTriggerFunction": "train",
    "ModelPublishedFunction": "publish",
    "BatchPredictFunction": "score",
    "DataDropFunction": "drop",
}


def _offline_env(tmp_path: Path) -> dict[str, str]:
    """No real credentials, no telemetry, the venv's python3.11 on PATH (sam build needs it)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "DROPML__"))}
    env.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-east-1",
        SAM_CLI_TELEMETRY="0",
        HOME=str(tmp_path),
        PATH=str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", ""),
    )
    return env


SAM_VENV_BIN = ROOT / ".cache" / "sam-venv" / "bin"  # `make sam`: the SAM CLI's own venv, not dropml's


def _tool(name: str) -> str:
    found = (
        shutil.which(name, path=str(SAM_VENV_BIN))
        or shutil.which(name, path=str(Path(sys.executable).parent))
        or shutil.which(name)
    )
    if not found:
        pytest.fail(f"{name} is not installed: `make sam` installs the SAM CLI, the deploy extra cfn-lint")
    return found


def test_cfn_lint_has_no_findings(tmp_path):
    result = subprocess.run(
        [_tool("cfn-lint"), "template.yaml"],
        check=False,
        cwd=ROOT,
        env=_offline_env(tmp_path),
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_sam_validate_lint_has_no_findings(tmp_path):
    result = subprocess.run(
        [_tool("sam"), "validate", "--lint", "--template-file", "template.yaml"],
        check=False,
        cwd=ROOT,
        env=_offline_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "is a valid SAM Template" in result.stdout + result.stderr


def test_template_wires_every_prefix_to_a_queue_with_a_dlq_and_a_function():
    template = world.load_template()
    filters = {(n.prefix, n.suffix): n.queue for n in world.notification_specs(template)}
    assert filters == {
        ("train/", ".csv"): "TrainingQueue",
        ("models/", "manifest.json"): "PublishQueue",
        ("test/", ".csv"): "ScoringQueue",
        ("data/", ".csv"): "DropsQueue",
        ("data/", ".parquet"): "DropsQueue",
    }
    queues = {q.logical_id: q for q in world.queue_specs(template)}
    for name in filters.values():
        assert queues[name].dead_letter_queue in queues
        assert queues[name].max_receive_count == 3
        assert int(queues[name].properties["VisibilityTimeout"]) >= 6 * 60  # 6 x the function timeout
    consumers = {f.queue: f.logical_id for f in world.function_specs(template)}
    assert consumers == {"TrainingQueue": "TrainTriggerFunction", "PublishQueue": "ModelPublishedFunction",
                         "ScoringQueue": "BatchPredictFunction", "DropsQueue": "DataDropFunction"}  # fmt: skip
    outputs = template["Outputs"]
    assert {"BucketName", "EventsTopicArn", "StackName", "TrainingQueueUrl", "WebAppRoleArn"} <= set(outputs)


@pytest.fixture(scope="session")
def sam_build(tmp_path_factory) -> tuple[Path, float]:
    """One `sam build` per session (about 5-10 s here; no Docker)."""
    tmp = tmp_path_factory.mktemp("sam")
    build_dir = tmp / "build"
    started = time.monotonic()
    result = subprocess.run(
        [_tool("sam"), "build", "--build-dir", str(build_dir), "--cache-dir", str(tmp / "cache")],
        check=False,
        cwd=ROOT,
        env=_offline_env(tmp),
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    return build_dir, time.monotonic() - started


def _tree_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


@pytest.mark.slow
def test_sam_build_fits_lambdas_unzipped_limit(sam_build):
    build_dir, seconds = sam_build
    layer = _tree_bytes(build_dir / "DropmlLayer")
    sizes = {name: _tree_bytes(build_dir / name) + layer for name in FUNCTIONS}
    print(f"sam build took {seconds:.1f}s; unzipped function + layer bytes: {json.dumps(sizes)}")
    for name, size in sizes.items():
        assert size < LAMBDA_UNZIPPED_LIMIT, f"{name}: {size} bytes unzipped is over {LAMBDA_UNZIPPED_LIMIT}"
    assert not (build_dir / "DropmlLayer" / "python" / "pandas").exists()
    assert not (build_dir / "DropmlLayer" / "python" / "sklearn").exists()
    assert (build_dir / "DropmlLayer" / "python" / "dropml" / "usecases").is_dir()
    assert not (build_dir / "DropmlLayer" / "python" / "dropml" / "local").exists()  # local-only code


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_built_function_imports_without_pandas_and_ignores_the_s3_test_event(sam_build, name, tmp_path):
    build_dir, _ = sam_build
    code = (
        "import json, sys\n"
        f"sys.path[:0] = [{str(build_dir / 'DropmlLayer' / 'python')!r}, {str(build_dir / name)!r}]\n"
        "import app\n"
        f"event = json.load(open({str(EVENTS / 'sqs_s3_test_event.json')!r}))\n"
        "print(json.dumps(app.lambda_handler(event, None)))\n"
        "heavy = sorted({m.split('.')[0] for m in sys.modules} & {'pandas', 'sklearn', 'numpy', 'scipy'})\n"
        "print(json.dumps(heavy))\n"
    )
    # -S -I: only the standard library and the built artifact, like the Lambda runtime
    result = subprocess.run(
        [sys.executable, "-S", "-I", "-c", code],
        check=False,
        env=_offline_env(tmp_path),
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    response, heavy = result.stdout.strip().splitlines()[-2:]
    assert json.loads(response) == {"batchItemFailures": []}
    assert json.loads(heavy) == []


def test_each_function_may_touch_only_its_own_prefixes_and_actions():
    resources = world.load_template()["Resources"]
    own = {
        # experiments/: the project's stored settings (experiments/*/config.json), handed to the job as overrides
        "TrainTriggerFunction": {"train/", "experiments/", "idempotency/train/", "audit/announcements/"},
        "ModelPublishedFunction": {"models/", "reports/", "audit/announcements/", "audit/promotions/"},
        "BatchPredictFunction": {"test/", "idempotency/score/", "audit/announcements/"},
        # a drop is read (data/), checked against the dataset's schema and appended (datasets/); no job starts
        "DataDropFunction": {"data/", "datasets/", "experiments/", "audit/announcements/"},
    }
    for name, prefixes in own.items():
        policies = json.dumps(resources[name]["Properties"]["Policies"])
        assert set(re.findall(r"\.Arn\}/([a-z/]+)\*", policies)) == prefixes, name
        assert ("ecs:RunTask" in policies) == (name in ("TrainTriggerFunction", "BatchPredictFunction")), name
        assert ("ssm:PutParameter" in policies) == (name == "ModelPublishedFunction"), name
        assert '"s3:*"' not in policies, name


def test_dead_jobs_and_dead_letters_are_announced_on_the_topic():
    resources = world.load_template()["Resources"]
    rule = resources["JobDiedRule"]["Properties"]
    assert rule["EventPattern"]["detail"]["lastStatus"] == ["STOPPED"]
    died = rule["EventPattern"]["detail"]["$or"]
    assert {"containers": {"exitCode": [{"anything-but": [0, 1, 2]}]}} in died
    assert rule["Targets"][0]["Arn"] == {"Ref": "EventsTopic"}
    alarms = {k: v["Properties"] for k, v in resources.items() if v["Type"] == "AWS::CloudWatch::Alarm"}
    watched = {a["Dimensions"][0]["Value"]["Fn::GetAtt"][0] for a in alarms.values()}
    dead_letter_queues = {s.dead_letter_queue for s in world.queue_specs(world.load_template()) if s.dead_letter_queue}
    assert watched == dead_letter_queues
    assert all(a["AlarmActions"] == [{"Ref": "EventsTopic"}] for a in alarms.values())
    publishers = ["TrainTriggerFunction", "ModelPublishedFunction", "BatchPredictFunction", "DataDropFunction"]
    for name in publishers:
        assert {"Ref": "PublishEventsPolicy"} in resources[name]["Properties"]["Policies"], name
    assert {"Ref": "PublishEventsPolicy"} in resources["TrainingTaskRole"]["Properties"]["ManagedPolicyArns"]
    key_users = resources["EventsTopicKey"]["Properties"]["KeyPolicy"]["Statement"][1]["Principal"]["Service"]
    assert sorted(key_users) == ["cloudwatch.amazonaws.com", "events.amazonaws.com"]
