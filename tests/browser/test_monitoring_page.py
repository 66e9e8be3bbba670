"""A person in headless Chromium opens a project's Monitoring page: drift over time, realized against holdout,
the champion against its challenger.

``DROPML_SCREENSHOT_DIR=docs`` also saves the page as ``docs/monitoring.png`` (the README's screenshot).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from support.live_server import multipart_csv, post, serving
from support.versions import BREAST_CANCER

from dropml import storage
from dropml.usecases import live
from dropml.usecases.score_file import score_file

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]  # fmt: skip
TRAINING = pd.read_csv(BREAST_CANCER)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(shutil.which(CHROMIUM) is None, reason="Debian chromium missing: `make browser` installs it"),
]


def _scored(name: str, frame: pd.DataFrame) -> None:
    storage.put_bytes(f"test/{name}", frame.to_csv(index=False).encode(), "text/csv")
    score_file(f"test/{name}")


def _drifted(rows: int, factor: float, seed: int) -> pd.DataFrame:
    frame = TRAINING.sample(rows, random_state=seed).reset_index(drop=True)
    for column in frame.columns[:12]:
        frame[column] = frame[column] * factor
    return frame


@pytest.fixture
def site(aws, trained_versions) -> Iterator[str]:
    """A live version and a challenger, then batches as they come: like training, a labelled file, a drifting one,
    an upload."""
    trained_versions.write()
    trained_versions.write(promote=False)  # v2, scored in the shadow of v1
    live.challenge("default", 2)
    _scored("monday.csv", TRAINING.sample(200, random_state=1).drop(columns=["target"]))
    _scored("labelled.csv", TRAINING.sample(150, random_state=2))  # the target is there: realized accuracy
    _scored("tuesday.csv", _drifted(200, 1.15, 3).drop(columns=["target"]))
    _scored("wednesday.csv", _drifted(200, 1.8, 4))
    with serving() as url:
        body, content_type = multipart_csv("thursday.csv", _drifted(120, 1.5, 5).to_csv(index=False).encode())
        assert post(f"{url}/upload", body, content_type)[0] == 200
        yield url


def test_the_monitoring_page_draws_drift_over_time_and_realized_against_holdout(site, tmp_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(site + "/monitoring")
        assert page.title() == "Monitoring · dropml"
        assert page.get_by_test_id("live-version").inner_text() == "v1"
        drift = page.locator("svg.drift-chart")
        assert drift.is_visible()
        box = drift.bounding_box()
        assert box is not None
        assert box["width"] > 300
        assert len(drift.locator("polyline.drift-file").get_attribute("points").split()) == 4  # four files
        assert drift.locator("polyline.drift-upload").count() == 1
        assert drift.locator("line.guide").count() == 1  # the alert threshold
        assert page.locator("svg.ranges-chart polyline").count() == 3
        realized = page.locator("svg.realized-chart")
        assert realized.is_visible()
        assert realized.locator("line.guide").count() == 2  # v1's holdout, and the challenger's
        assert page.get_by_test_id("realized-table").locator("tbody tr").count() == 2  # champion and challenger
        assert page.get_by_test_id("challenger-version").inner_text() == "v2"
        assert page.get_by_test_id("challenger-table").is_visible()
        shown = page.get_by_test_id("challenger-table").inner_text()
        assert "the same 200 labelled rows" in shown  # the window of the last 350 both scored
        assert shown.count("(350 rows)") == 2
        assert page.get_by_test_id("latest-source").inner_text() == "thursday.csv"
        assert "outside range share" in page.get_by_test_id("drift-alert").inner_text()
        assert page.locator("#drift-columns tr.drifted").count() >= 6
        assert page.get_by_test_id("drift-reports").locator("tbody tr").count() == 5
        page.locator("nav a", has_text="Monitoring").click()
        assert page.url.endswith("/monitoring")
        page.screenshot(path=str(tmp_path / "monitoring.png"), full_page=True)
        browser.close()
    assert (tmp_path / "monitoring.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    if os.environ.get("DROPML_SCREENSHOT_DIR"):
        shutil.copy(tmp_path / "monitoring.png", Path(os.environ["DROPML_SCREENSHOT_DIR"]) / "monitoring.png")
