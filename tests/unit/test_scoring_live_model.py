"""LiveModel without AWS: one SSM read per TTL, background swap, failed loads keep the old version."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace

import pytest

from dropml.errors import ChecksumMismatch, NoLiveModel
from dropml.registry import LiveVersion
from dropml.scoring.live_model import LiveModel, LiveModels


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class World:
    """A fake SSM parameter and artifact store."""

    def __init__(self) -> None:
        self.live: int | None = None
        self.lookups = 0
        self.loads: list[int] = []
        self.broken: set[int] = set()
        self.load_started = threading.Event()
        self.release_load = threading.Event()
        self.release_load.set()
        self.announced: list[tuple] = []

    def live_lookup(self, project: str) -> LiveVersion | None:
        self.lookups += 1
        return LiveVersion(project, self.live, 1, "") if self.live else None

    def loader(self, project: str, version: int):
        self.load_started.set()
        self.release_load.wait(5)
        self.loads.append(version)
        if version in self.broken:
            raise ChecksumMismatch(f"v{version} pickle does not match")
        return SimpleNamespace(project=project, version=version, champion="m", loaded_at=0.0, load_seconds=0.0)

    def announce(self, *args, **kwargs) -> None:
        self.announced.append((args, kwargs))


@pytest.fixture
def world() -> World:
    return World()


def _cache(world: World, clock: Clock, ttl: float = 5.0) -> LiveModel:
    return LiveModel(
        "default", ttl, loader=world.loader, live_lookup=world.live_lookup, clock=clock, announce=world.announce
    )


def _wait_for(predicate, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.005)


def test_nothing_published_is_a_clear_503_and_ssm_is_read_once_per_ttl(world):
    clock = Clock()
    cache = _cache(world, clock)
    for _ in range(3):
        with pytest.raises(NoLiveModel, match="has no published model yet"):
            cache.get()
    assert world.lookups == 1
    assert cache.status()["status"] == "no_model"
    clock.now += 5
    with pytest.raises(NoLiveModel):
        cache.get()
    assert world.lookups == 2


def test_first_request_loads_then_warm_requests_touch_nothing(world):
    world.live = 1
    clock = Clock()
    cache = _cache(world, clock)
    assert cache.get().version == 1
    for _ in range(100):
        assert cache.get().version == 1
    assert (world.lookups, world.loads) == (1, [1])
    assert cache.status()["status"] == "ok"


def test_new_version_loads_in_background_while_old_one_answers(world):
    world.live = 1
    clock = Clock()
    cache = _cache(world, clock)
    cache.get()
    world.live = 2
    world.release_load.clear()
    world.load_started.clear()
    clock.now += 5
    assert cache.get().version == 1  # the request does not wait for the load
    assert world.load_started.wait(5)
    assert cache.get().version == 1
    assert cache.status()["status"] == "updating"
    world.release_load.set()
    _wait_for(lambda: cache.get().version == 2)
    assert world.loads == [1, 2]
    assert world.lookups == 2


def test_failed_load_keeps_old_version_degrades_health_and_notifies(world):
    world.live = 1
    clock = Clock()
    cache = _cache(world, clock)
    cache.get()
    world.live = 2
    world.broken.add(2)
    clock.now += 5
    cache.get()
    _wait_for(lambda: cache.status()["status"] == "degraded")
    assert cache.get().version == 1
    status = cache.status()
    assert "live version v2 could not be loaded: ChecksumMismatch" in status["reason"]
    _wait_for(lambda: world.announced)
    assert world.announced[0][0][:2] == ("serving", "failed")
    # not retried on every TTL: only after retry_failed_seconds
    clock.now += 5
    cache.get()
    _wait_for(lambda: world.lookups == 3)
    time.sleep(0.05)
    assert world.loads == [1, 2]


def test_cold_start_with_a_broken_live_version_says_why(world):
    world.live = 3
    world.broken.add(3)
    cache = _cache(world, Clock())
    with pytest.raises(NoLiveModel, match=r"live version v3 could not be loaded \(ChecksumMismatch"):
        cache.get()


def test_concurrent_cold_requests_load_once(world):
    world.live = 1
    world.release_load.clear()  # a slow first load: the other requests must wait for it, not 503
    cache = _cache(world, Clock())
    results = []
    threads = [threading.Thread(target=lambda: results.append(cache.get().version)) for _ in range(8)]
    for thread in threads:
        thread.start()
    assert world.load_started.wait(5)
    time.sleep(0.1)
    world.release_load.set()
    for thread in threads:
        thread.join()
    assert results == [1] * 8
    assert world.loads == [1]


def test_caches_are_per_project_and_bounded(world):
    caches = LiveModels(5.0, loader=world.loader, live_lookup=world.live_lookup)
    assert caches.for_project("a") is caches.for_project("a")
    assert caches.for_project("a") is not caches.for_project("b")
    for index in range(LiveModels.MAX_PROJECTS + 5):
        caches.for_project(f"p{index}")
    assert len(caches.statuses()) == LiveModels.MAX_PROJECTS
