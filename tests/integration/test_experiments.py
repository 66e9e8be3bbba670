"""Experiments are projects: created from a CSV, described from manifests, archived, evaluated."""

from __future__ import annotations

import pytest
from support.versions import BREAST_CANCER

from dropml import registry, storage
from dropml.errors import BadInput, Conflict, NotFound
from dropml.registry import project_settings
from dropml.storage import keys
from dropml.usecases import evaluate, projects


def test_create_copies_the_data_into_the_project_and_stores_overrides(aws):
    storage.put_bytes("train/cancer.csv", BREAST_CANCER.read_bytes())
    created = projects.create("cancer-rf", "train/cancer.csv", {"cv_folds": 3})
    assert created == {
        "name": "cancer-rf",
        "data_key": "train/cancer-rf/cancer.csv",
        "overrides": {"cv_folds": 3},
        "status": "training",
    }
    assert storage.head("train/cancer-rf/cancer.csv").size == BREAST_CANCER.stat().st_size
    assert project_settings.stored_overrides("cancer-rf") == {"cv_folds": 3}
    with pytest.raises(Conflict, match="experiment 'cancer-rf' exists already"):
        projects.create("cancer-rf", "train/cancer.csv")


def test_create_refuses_bad_names_keys_overrides_and_missing_data(aws):
    storage.put_bytes("train/cancer.csv", b"a,target\n1,x\n")
    with pytest.raises(BadInput, match="project name 'Bad Name' must match"):
        projects.create("Bad Name", "train/cancer.csv")
    with pytest.raises(BadInput, match="must start with train/"):
        projects.create("ok", "models/default/v1/manifest.json")
    with pytest.raises(BadInput, match="cv_folds") as caught:
        projects.create("ok", "train/cancer.csv", {"cv_folds": 1})
    assert caught.value.http_status == 422
    with pytest.raises(NotFound, match="train/none.csv does not exist"):
        projects.create("ok", "train/none.csv")
    assert not projects.exists("ok")


def test_describe_lists_versions_with_metrics_and_archive_rules(aws, trained_versions):
    trained_versions.write("cancer")
    second = trained_versions.write("cancer")
    described = projects.describe("cancer")
    assert described["live_version"] == 2
    assert [(v["version"], v["live"], v["archived"]) for v in described["versions"]] == [
        (1, False, False),
        (2, True, False),
    ]
    assert described["versions"][1]["champion"] == second.champion
    assert described["versions"][1]["champion"] in described["versions"][1]["models"]
    with pytest.raises(Conflict, match="v2 of 'cancer' is live"):
        projects.archive("cancer", 2)
    assert projects.archive("cancer", 1) == {"name": "cancer", "version": 1, "archived": True}
    assert storage.exists(keys.archive_marker_key("cancer", 1))
    assert storage.exists(keys.manifest_key("cancer", 1))  # artifacts kept
    with pytest.raises(Conflict, match="archived and cannot be made live"):
        registry.promote("cancer", 1)
    assert [e["name"] for e in projects.list_all()] == ["cancer"]
    with pytest.raises(NotFound, match="no experiment named 'nope'"):
        projects.describe("nope")


def test_evaluate_scores_a_labelled_csv_with_every_model(aws, trained_versions):
    manifest = trained_versions.write("cancer")
    result = evaluate.evaluate("cancer", BREAST_CANCER.read_bytes(), "labelled.csv")
    assert result["model_version"] == manifest.version
    assert result["rows"] == 569
    assert set(result["metrics"]) == set(manifest.model_names)
    assert result["metrics"][manifest.champion]["accuracy"] > 0.9
    unlabelled = b"mean_radius\n1.0\n"
    with pytest.raises(BadInput, match="labelled.csv has no target column 'target'"):
        evaluate.evaluate("cancer", unlabelled, "labelled.csv")
