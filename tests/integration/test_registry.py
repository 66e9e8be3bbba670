"""Version claims, manifests and the live version, against the moto server over HTTP."""

from __future__ import annotations

import threading

import pytest
from fakes import write_opaque_version as _write_version

from dropml import registry, storage
from dropml.errors import BadInput, ChecksumMismatch, NotFound
from dropml.registry import live
from dropml.storage import keys


def test_concurrent_claims_never_share_a_version(aws):
    taken: list[int] = []
    threads = [threading.Thread(target=lambda: taken.append(registry.claim_version("glass", "r"))) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(taken) == list(range(1, 9))


def test_claimed_but_unpublished_version_is_invisible(aws):
    _write_version("default")
    registry.claim_version("default", "crashed-run")
    assert registry.list_versions("default") == [1]


def test_publish_sets_live_version_and_ignores_older_or_duplicate(aws):
    first = _write_version("default")
    second = _write_version("default")
    assert registry.publish(keys.manifest_key("default", 2)) == (second, True)
    assert registry.live_version("default").version == 2
    assert registry.publish(keys.manifest_key("default", 1))[1] is False
    assert registry.publish(keys.manifest_key("default", 2))[1] is False
    assert registry.live_version("default").version == 2
    assert first.version == 1


def test_tampered_artifact_is_rejected_and_live_version_stays(aws):
    _write_version("default")
    registry.publish(keys.manifest_key("default", 1))
    manifest = _write_version("default")
    storage.put_bytes(manifest.artifacts["m"].key, b"tampered")
    with pytest.raises(ChecksumMismatch, match="does not match"):
        registry.publish(keys.manifest_key("default", 2))
    assert registry.live_version("default").version == 1


def test_manifest_is_immutable(aws):
    first = _write_version("default")
    with pytest.raises(BadInput, match="already exists"):  # a writer that tries to write v1's manifest again
        registry.write_version("default", "again", lambda _v, _c: [], lambda _v, _c, _a: first)
    assert registry.read_manifest("default", 1) == first


def test_rollback_walks_back_and_history_logs_it(aws):
    for _ in range(3):
        manifest = _write_version("glass")
        registry.publish(keys.manifest_key("glass", manifest.version))
    assert registry.rollback("glass").version == 2
    assert registry.rollback("glass").version == 1
    with pytest.raises(NotFound, match="no earlier live version"):
        registry.rollback("glass")
    assert [e.model_version for e in registry.history("glass")] == [1, 2, 3, 2, 1]


def test_bad_manifest_key_names_the_key(aws):
    with pytest.raises(BadInput, match=r"project name '\.\.'"):
        registry.publish("models/../v1/manifest.json")


def test_concurrent_publishes_converge_on_the_newest(aws, monkeypatch):
    for _ in range(2):
        _write_version("default")
    real_set_live = live._set_live
    calls: list[int] = []
    v2_written = threading.Event()

    def slow_older_write(project: str, version: int) -> None:
        calls.append(version)
        if version == 1 and calls.count(1) == 1:
            v2_written.wait(10)  # v1's first write lands after v2's: the race SSM cannot prevent, made certain
        real_set_live(project, version)
        if version == 2:
            v2_written.set()

    real_live_version = live.live_version
    reads: list[int] = []

    def stale_first_reads(project: str):
        reads.append(1)
        return None if len(reads) <= 2 else real_live_version(project)  # both publishers saw "nothing live"

    monkeypatch.setattr(live, "_set_live", slow_older_write)
    monkeypatch.setattr(live, "live_version", stale_first_reads)
    threads = [threading.Thread(target=registry.publish, args=(keys.manifest_key("default", v),)) for v in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert registry.live_version("default").version == 2
    assert calls.count(2) >= 2  # v2's publisher saw v1 overtake it and wrote again
