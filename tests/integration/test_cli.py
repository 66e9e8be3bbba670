"""The dropml CLI run as a user would: a subprocess against the moto server over HTTP."""

from __future__ import annotations

from cli_runner import run_cli
from fakes import write_opaque_version

from dropml import registry, storage
from dropml.storage import keys


def test_promote_rollback_history_as_a_user(aws):
    for _ in range(2):
        manifest = write_opaque_version("glass")
        registry.publish(keys.manifest_key("glass", manifest.version))
    rolled = run_cli(aws.endpoint, "rollback", "glass")
    assert rolled.returncode == 0, rolled.stderr
    assert rolled.stdout.strip() == "glass: rolled back from v2 to v1"
    promoted = run_cli(aws.endpoint, "promote", "glass", "2")
    assert promoted.returncode == 0, promoted.stderr
    assert "glass: v2 is live (was v1)" in promoted.stdout
    shown = run_cli(aws.endpoint, "history", "glass")
    versions = [line.split()[1] for line in shown.stdout.splitlines()[1:]]
    assert versions == ["v1", "v2", "v1", "v2"]


def test_bad_input_exits_2_with_a_message(aws):
    missing = run_cli(aws.endpoint, "promote", "glass", "7")
    assert missing.returncode == 2
    assert "project 'glass' has no version 7" in missing.stderr
    assert "Traceback" not in missing.stderr
    bad_name = run_cli(aws.endpoint, "rollback", "../etc")
    assert bad_name.returncode == 2
    assert "project name '../etc' must match" in bad_name.stderr
    nothing = run_cli(aws.endpoint, "rollback", "default")
    assert nothing.returncode == 2
    assert "no live version to roll back from" in nothing.stderr


def test_status_shows_live_versions_and_notifications(aws):
    manifest = write_opaque_version("default")
    registry.publish(keys.manifest_key("default", manifest.version))
    run_cli(aws.endpoint, "promote", "default", "1")
    shown = run_cli(aws.endpoint, "status")
    assert shown.returncode == 0, shown.stderr
    assert "default              live: v1" in shown.stdout
    assert "[dropml] default v1 promoted (was v1)" in shown.stdout


def test_audit_of_unknown_request_is_a_clear_error(aws):
    result = run_cli(aws.endpoint, "audit", "no-such-request")
    assert result.returncode == 2
    assert "no prediction with request id 'no-such-request'" in result.stderr


def test_train_stores_the_settings_an_upload_trains_with(aws, tmp_path):
    from dropml.registry import project_settings

    data = tmp_path / "glass.csv"
    data.write_text("a,kind\n1,x\n2,y\n")
    result = run_cli(aws.endpoint, "train", "glass", "--file", str(data), "--target", "kind", "--set", "cv_folds=3")
    assert result.returncode == 0, result.stderr
    assert project_settings.stored_overrides("glass") == {"cv_folds": 3, "target": "kind"}
    assert list(storage.list_keys("train/")) == ["train/glass/glass.csv"]  # its S3 event trains with them


def test_train_refuses_bad_settings_and_ambiguous_sources_before_anything_is_written(aws, tmp_path):
    from dropml.registry import project_settings

    data = tmp_path / "glass.csv"
    data.write_text("a,kind\n1,x\n2,y\n")
    bad = run_cli(aws.endpoint, "train", "glass", "--file", str(data), "--set", "cv_folds=1")
    assert bad.returncode == 2
    assert "overrides are not valid training settings" in bad.stderr
    assert "cv_folds" in bad.stderr
    both = run_cli(aws.endpoint, "train", "glass", "--file", str(data), "--key", "train/glass/old.csv")
    assert both.returncode == 2
    assert "give one" in both.stderr
    assert not list(storage.list_keys("train/"))  # nothing uploaded
    assert project_settings.stored_overrides("glass") == {}  # nothing stored
