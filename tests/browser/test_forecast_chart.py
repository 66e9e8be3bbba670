"""A person in headless Chromium opens the forecast page of a time-ordered project and sees a chart per symbol."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pandas as pd
import pytest
from support.live_server import serving
from support.versions import EXAMPLES

from dropml import storage
from dropml.usecases.score_file import score_file

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]  # fmt: skip
CRYPTO = EXAMPLES / "crypto_ohlcv.csv"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(shutil.which(CHROMIUM) is None, reason="Debian chromium missing: `make browser` installs it"),
]


@pytest.fixture
def site(aws, trained_versions) -> Iterator[str]:
    """The crypto project trained by the real training code, its last 30 days scored from test/ into predictions/."""
    trained_versions.write("crypto", CRYPTO)
    recent = pd.read_csv(CRYPTO).sort_values("date").tail(30 * 5)
    storage.put_bytes("test/crypto/recent.csv", recent.to_csv(index=False).encode(), "text/csv")
    score_file("test/crypto/recent.csv")
    with serving() as url:
        yield url


def test_forecast_page_draws_actual_and_predicted_lines_per_symbol(site, tmp_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(site + "/p/crypto/forecast")
        assert page.title() == "Forecast · dropml"
        charts = page.locator("svg.forecast-chart")
        symbols = sorted(pd.read_csv(CRYPTO).symbol.unique())
        assert charts.count() == len(symbols)
        assert [charts.nth(i).get_attribute("data-group") for i in range(charts.count())] == symbols
        btc = page.locator('svg.forecast-chart[data-group="BTC"]')
        assert btc.is_visible()
        box = btc.bounding_box()
        assert box is not None
        assert (box["width"] > 300, box["height"] > 100) == (True, True)
        for line in ("actual", "predicted"):
            assert len(btc.locator(f"polyline.{line}").get_attribute("points").split()) >= 29
        assert page.get_by_test_id("forecast-source").inner_text() == "predictions/crypto/recent.csv"
        page.screenshot(path=str(tmp_path / "forecast.png"), full_page=True)
        browser.close()
    assert (tmp_path / "forecast.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
