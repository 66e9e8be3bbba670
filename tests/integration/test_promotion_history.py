"""Every change of a live version stays in the audit trail after SSM forgets it (SSM keeps a parameter's last 100)."""

from __future__ import annotations

from cli_runner import run_cli
from fakes import write_opaque_version

from dropml import registry, storage
from dropml.aws import client as aws_client
from dropml.config import settings
from dropml.storage import keys

CHANGES = 105  # past SSM's 100 versions of a parameter; ends on v2


def test_history_keeps_every_promotion_and_rollback_past_ssms_last_100(aws):
    for _ in range(2):
        write_opaque_version("glass")
    registry.publish(keys.manifest_key("glass", 1))
    for change in range(CHANGES):
        registry.promote("glass", 2 - change % 2)  # 2, 1, 2, 1 ...
    registry.rollback("glass")

    ssm_history = aws_client("ssm").get_parameter_history(
        Name=settings().model_version_parameter("glass"), MaxResults=50
    )
    pages = [ssm_history]
    while "NextToken" in pages[-1]:
        pages.append(
            aws_client("ssm").get_parameter_history(
                Name=settings().model_version_parameter("glass"), MaxResults=50, NextToken=pages[-1]["NextToken"]
            )
        )
    assert sum(len(page["Parameters"]) for page in pages) == 100  # SSM dropped the oldest
    history = registry.history("glass")
    assert len(history) == 1 + CHANGES + 1
    assert [(e.model_version, e.action) for e in history[:3]] == [(1, "publish"), (2, "promote"), (1, "promote")]
    assert (history[-1].model_version, history[-1].action) == (1, "rollback")
    assert [e.parameter_version for e in history] == list(range(1, CHANGES + 3))


def test_the_record_is_one_object_per_change_and_never_overwritten(aws):
    write_opaque_version("default")
    registry.publish(keys.manifest_key("default", 1))
    [key] = storage.list_keys(keys.promotion_prefix("default"))
    first = storage.get_bytes(key).body
    assert storage.put_bytes(key, b"rewritten", if_absent=True) == ""  # the conditional put refuses
    assert storage.get_bytes(key).body == first
    assert storage.get_json(key)["action"] == "publish"


def test_changes_made_before_the_record_existed_come_from_ssms_history(aws):
    write_opaque_version("default")
    aws_client("ssm").put_parameter(  # a live version set by an older dropml, or by hand in the console
        Name=settings().model_version_parameter("default"), Value="1", Type="String"
    )
    registry.promote("default", 1)
    assert [(e.parameter_version, e.action) for e in registry.history("default")] == [(1, ""), (2, "promote")]


def test_dropml_history_prints_the_record(aws):
    for _ in range(2):
        write_opaque_version("default")
    registry.publish(keys.manifest_key("default", 1))
    registry.publish(keys.manifest_key("default", 2))
    registry.rollback("default")
    result = run_cli(aws.endpoint, "history", "default")
    assert result.returncode == 0, result.stderr
    rows = [line.split() for line in result.stdout.splitlines()[1:]]
    assert [(row[1], row[-1]) for row in rows] == [("v1", "publish"), ("v2", "publish"), ("v1", "rollback")]
