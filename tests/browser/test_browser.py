"""A person in headless Chromium: fills the form, sees predictions; uploads a CSV, sees the table, downloads it."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
import pytest
from support.live_server import serving
from support.versions import BREAST_CANCER

if TYPE_CHECKING:
    from dropml.manifest import Manifest

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]  # fmt: skip
FEATURES = pd.read_csv(BREAST_CANCER).drop(columns=["target"])

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(shutil.which(CHROMIUM) is None, reason="Debian chromium missing: `make browser` installs it"),
]


@pytest.fixture
def published(aws, trained_versions) -> Manifest:
    """v1 of the default project, made by the real training code on breast_cancer.csv, live."""
    return trained_versions.write()


@pytest.fixture
def site(published) -> Iterator[str]:
    with serving() as url:
        yield url


@pytest.fixture
def page(site):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        context = browser.new_context(accept_downloads=True, viewport={"width": 1280, "height": 900})
        yield context.new_page()
        context.close()
        browser.close()


def test_fill_the_form_and_see_every_models_prediction(site, published, page, tmp_path):
    page.goto(site + "/")
    assert page.title() == "Predict · dropml"
    record = FEATURES.iloc[0]
    for name, value in record.items():
        page.get_by_label(name, exact=True).fill(str(value))
    page.click("#predict-button")
    page.wait_for_selector("#predictions")
    assert page.inner_text("[data-testid=champion-prediction]") == "malignant"
    assert page.inner_text("[data-testid=model-version]") == "v1"
    rows = page.locator("#predictions tbody tr")
    assert rows.count() == len(published.models)
    assert page.locator("#predictions tr.champion").get_attribute("data-model") == published.champion
    assert "★ champion" in page.locator("#predictions tr.champion").inner_text()
    assert page.locator("[data-testid=outside-range]").count() == 0  # a training row is inside its range
    page.screenshot(path="/tmp/form.png", full_page=True)


def test_a_value_past_the_training_range_is_answered_with_a_visible_notice(site, published, page, tmp_path):
    largest = published.input_schema.column("mean_area").maximum
    page.goto(site + "/")
    for name, value in FEATURES.iloc[0].items():
        page.get_by_label(name, exact=True).fill(str(value))
    page.get_by_label("mean_area", exact=True).fill(str(largest * 3))
    page.click("#predict-button")
    page.wait_for_selector("#predictions")
    notice = page.locator("[data-testid=outside-range]")
    assert notice.is_visible()
    assert f"mean_area = {largest * 3}" in notice.inner_text()
    assert f"to {largest:g})" in notice.inner_text()

    upload = tmp_path / "patients.csv"
    rows = FEATURES.head(4).copy()
    rows.loc[2, "mean_area"] = largest * 3
    rows.to_csv(upload, index=False)
    page.goto(site + "/upload")
    page.set_input_files("#file", str(upload))
    page.click("#upload-button")
    page.wait_for_selector("#results")
    assert page.locator("[data-testid=outside-range]").inner_text().startswith("1 row with a value outside")
    column = page.locator("#results thead th").all_text_contents().index("outside_training_range")
    flagged = [row.locator("td").nth(column).inner_text() for row in page.locator("#results tbody tr").all()]
    assert flagged == ["", "", "mean_area", ""]


def test_a_wrong_value_is_shown_next_to_its_field(site, published, page):
    page.goto(site + "/")
    for name, value in FEATURES.iloc[0].items():
        page.get_by_label(name, exact=True).fill(str(value))
    page.get_by_label("mean_radius", exact=True).fill("")
    page.get_by_label("mean_texture", exact=True).fill("")  # blanks are allowed: imputed
    page.click("#predict-button")
    page.wait_for_selector("#predictions")
    assert page.locator("#predictions tbody tr").count() == len(published.models)


def test_upload_a_csv_see_the_table_and_download_it(site, published, page, tmp_path):
    upload = tmp_path / "patients.csv"
    FEATURES.head(10).to_csv(upload, index=False)
    page.goto(site + "/upload")
    page.set_input_files("#file", str(upload))
    page.click("#upload-button")
    page.wait_for_selector("#results")
    assert page.locator("#results tbody tr").count() == 10
    assert page.text_content("#results th.champion") == f"{published.champion} ★"
    assert page.inner_text("[data-testid=model-version]") == "v1"
    with page.expect_download() as info:
        page.click("#download")
    saved = Path(tmp_path / "download.csv")
    info.value.save_as(saved)
    assert info.value.suggested_filename == "patients-predictions-v1.csv"
    out = pd.read_csv(saved)
    assert len(out) == 10
    assert out["prediction"].tolist() == out[f"pred_{published.champion}"].tolist()
    assert set(out["model_version"]) == {1}


def test_models_page_shows_the_leaderboard_and_the_plot(site, published, page):
    page.goto(site + "/models")
    assert page.locator("#leaderboard tbody tr").count() == len(published.models)
    assert page.locator("#leaderboard tr.champion").inner_text().startswith(f"1\t{published.champion}")
    image = page.locator(".plots img").first
    assert image.evaluate("img => img.complete && img.naturalWidth > 0")


def test_ask_for_the_champions_reasons_and_see_what_the_version_looks_at(site, published, page):
    page.goto(site + "/")
    for name, value in FEATURES.iloc[0].items():
        page.get_by_label(name, exact=True).fill(str(value))
    page.get_by_label("Explain the champion's answer").check()
    page.click("#predict-button")
    page.wait_for_selector("#reasons")
    champion = published.model(published.champion)
    if champion.explainer is not None:
        table = page.locator("#reasons-table tbody tr")
        assert table.count() == 5 + 1  # serving.explain_top columns, then every other column's sum
        assert page.locator("[data-testid=explained-value]").is_visible()
        assert page.get_by_label("Explain the champion's answer").is_checked()  # kept for the next record
    else:
        assert page.locator("[data-testid=not-explained]").is_visible()
    page.goto(site + "/models")
    if champion.explainer is not None:
        rows = page.locator("#importance-table tbody tr")
        assert rows.count() == len(published.input_schema.columns)
        assert rows.first.inner_text().startswith(next(iter(champion.explainer.importance)))
    else:
        assert page.locator("#not-explained").is_visible()
