"""Bring your own Keras (.h5/.keras) or ONNX model: built in the test, registered, scored over HTTP and in files."""

from __future__ import annotations

import io
import json
import os
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import joblib
import jsonschema
import numpy as np
import pandas as pd
import pytest
from cli_runner import run_cli
from sklearn.preprocessing import MinMaxScaler
from support.live_server import serving
from support.versions import EXAMPLES

from dropml import registry, storage
from dropml.config import load_settings
from dropml.errors import BadInput
from dropml.usecases import register
from dropml.usecases.score_file import score_file
from web import create_app
from web.openapi import openapi_document

os.environ.setdefault("KERAS_BACKEND", "numpy")  # as dropml loads it: no GPU runtime

CRYPTO = pd.read_csv(EXAMPLES / "crypto_ohlcv.csv")
OHLCV = ["open", "high", "low", "close", "volume"]
WINDOW = 4
TTL = 0.5

ONNX_SCHEMA = {
    "target": "y",
    "task": "regression",
    "columns": [
        {"name": "a", "dtype": "float64", "kind": "numeric", "minimum": 0, "maximum": 10},
        {"name": "b", "dtype": "float64", "kind": "numeric", "minimum": 0, "maximum": 10},
    ],
}
WEIGHTS, BIAS = np.array([[2.0], [-1.0]], dtype="float32"), np.array([0.5], dtype="float32")

CRYPTO_SCHEMA = {
    "target": "open",
    "task": "regression",
    "columns": [
        {"name": "date", "dtype": "object", "kind": "datetime"},
        {"name": "symbol", "dtype": "object", "kind": "categorical", "categories": sorted(CRYPTO.symbol.unique())},
        *({"name": c, "dtype": "float64", "kind": "numeric", "minimum": 0.0, "maximum": 1e9} for c in OHLCV),
    ],
    "features": OHLCV,
    "sequence": {"window": WINDOW, "time_column": "date", "group_column": "symbol"},
    "scaled_output": "open",
}


def onnx_linear_model(outputs: int = 1) -> bytes:
    """y = a*2 - b + 0.5 as an ONNX graph (MatMul + Add), built with onnx.helper."""
    from onnx import TensorProto, helper, numpy_helper

    weights = np.repeat(WEIGHTS, outputs, axis=1)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["xw"]), helper.make_node("Add", ["xw", "b"], ["y"])],
        "linear",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, outputs])],
        [numpy_helper.from_array(weights, "w"), numpy_helper.from_array(np.repeat(BIAS, outputs), "b")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model.SerializeToString()


def keras_lstm():
    """A small LSTM on windows of OHLCV rows, weights from a fixed seed (no training, no download)."""
    import keras

    keras.utils.set_random_seed(7)
    return keras.Sequential([keras.Input((WINDOW, len(OHLCV))), keras.layers.LSTM(6), keras.layers.Dense(1)])


def crypto_scaler() -> MinMaxScaler:
    return MinMaxScaler().fit(CRYPTO[OHLCV].to_numpy())


def expected_forecast(model, scaler: MinMaxScaler, rows: pd.DataFrame) -> np.ndarray:
    """What the hand-over's own notebook would compute: per symbol, the last WINDOW scaled rows, then unscale."""
    out = np.empty(len(rows))
    for _symbol, group in rows.assign(row=range(len(rows))).sort_values("date").groupby("symbol"):
        scaled = scaler.transform(group[OHLCV].to_numpy())
        for i, row in enumerate(group["row"]):
            window = np.stack([scaled[max(j, 0)] for j in range(i - WINDOW + 1, i + 1)])
            value = float(model.predict(window[None].astype("float32"), verbose=0)[0, 0])
            filled = np.zeros((1, len(OHLCV)))
            filled[0, 0] = value
            out[row] = scaler.inverse_transform(filled)[0, 0]
    return out


@pytest.fixture
def live_url(aws) -> Iterator[str]:
    with serving(model_ttl_seconds=TTL) as url:
        yield url


def _post(url: str, body: object) -> tuple[int, dict, dict]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), json.loads(err.read() or b"{}")


def _score_test_file(project: str, frame: pd.DataFrame) -> pd.DataFrame:
    key = f"test/{project}/batch.csv"
    storage.put_bytes(key, frame.to_csv(index=False).encode(), "text/csv")
    out_key = score_file(key, request_id="req-byom")
    assert out_key == f"predictions/{project}/batch.csv"
    return pd.read_csv(io.BytesIO(storage.get_bytes(out_key).body))


def test_onnx_model_registered_from_the_cli_with_holdout_metrics_is_served_everywhere(live_url, tmp_path):
    (tmp_path / "model.onnx").write_bytes(onnx_linear_model())
    (tmp_path / "schema.json").write_text(json.dumps(ONNX_SCHEMA))
    labelled = pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0], "b": [0.0, 1.0, 1.0, 2.0]})
    labelled["y"] = labelled.a * 2 - labelled.b + 0.5 + np.array([0.5, -0.5, 0.5, -0.5])  # off by 0.5 each
    labelled.to_csv(tmp_path / "labelled.csv", index=False)
    args = ["register", "lines", "--model", str(tmp_path / "model.onnx"), "--schema", str(tmp_path / "schema.json")]
    result = run_cli(aws_endpoint(live_url), *args, "--data", str(tmp_path / "labelled.csv"), "--promote")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["lines: registered model.onnx as v1", "lines: v1 is live"]

    manifest = registry.read_manifest("lines", 1)
    assert manifest.source == "registered"
    assert manifest.config["format"] == "onnx"
    assert manifest.models[0].estimator == "onnx OnnxModel"
    assert manifest.models[0].metrics["holdout_mae"] == pytest.approx(0.5)
    assert manifest.models[0].metrics["holdout_rows"] == 4
    assert registry.read_artifact(manifest.artifacts["source_model"]) == onnx_linear_model()
    board = pd.read_csv(io.BytesIO(registry.read_artifact(manifest.artifacts["leaderboard"])))
    assert board.loc[0, "holdout_rmse"] == pytest.approx(0.5)

    time.sleep(TTL)
    rows = [{"a": 1.0, "b": 2.0}, {"a": 3.0, "b": 0.0}]
    status, headers, body = _post(f"{live_url}/api/v1/predict?project=lines", rows)
    assert status == 200, body
    assert body["predictions"] == pytest.approx([0.5, 6.5])
    assert headers["X-Model-Version"] == "1"

    scored = _score_test_file("lines", pd.DataFrame(rows))
    assert scored["prediction"].tolist() == pytest.approx([0.5, 6.5])
    assert set(scored["model_version"]) == {1}


def aws_endpoint(_live_url: str) -> str:
    return os.environ["AWS_ENDPOINT_URL"]


def test_onnx_model_whose_output_does_not_fit_the_schema_is_refused_and_nothing_is_written(aws):
    with pytest.raises(BadInput, match=r"output does not fit the schema: .*one value per row; it gave shape \(1, 3\)"):
        register.register_model(
            "lines", onnx_linear_model(outputs=3), json.dumps(ONNX_SCHEMA), model_file_name="m.onnx"
        )
    with pytest.raises(BadInput, match=r"bad\.onnx could not be loaded as an ONNX model"):
        register.register_model("lines", b"not onnx", json.dumps(ONNX_SCHEMA), model_file_name="bad.onnx")
    assert registry.list_versions("lines") == []
    assert registry.claimed_versions("lines") == []


def test_schema_names_unknown_shaping_columns(aws):
    bad = {**CRYPTO_SCHEMA, "sequence": {"window": 4, "time_column": "when"}}
    with pytest.raises(BadInput, match=r"sequence\.time_column: 'when' is not one of the columns"):
        register.register_model("crypto", b"", json.dumps(bad), model_file_name="model.h5")


@pytest.mark.parametrize("suffix", [".h5", ".keras"])
def test_keras_lstm_with_scaler_and_window_scores_like_the_handover(live_url, tmp_path, suffix):
    model, scaler = keras_lstm(), crypto_scaler()
    model.save(tmp_path / f"model{suffix}")
    scaler_bytes = io.BytesIO()
    joblib.dump(scaler, scaler_bytes)
    client = create_app(load_settings().model_copy(update={"admin_api_key": "k"})).test_client()
    files = {
        "model": (io.BytesIO((tmp_path / f"model{suffix}").read_bytes()), f"model{suffix}"),
        "scaler": (io.BytesIO(scaler_bytes.getvalue()), "scaler.pkl"),
        "schema": (io.BytesIO(json.dumps(CRYPTO_SCHEMA).encode()), "schema.json"),
        "data": (io.BytesIO(CRYPTO.head(60).to_csv(index=False).encode()), "labelled.csv"),
    }
    answer = client.post("/api/v1/admin/projects/crypto/register", data=files, headers={"X-API-Key": "k"})
    assert answer.status_code == 201, answer.json
    manifest = registry.read_manifest("crypto", answer.json["version"])
    assert manifest.config["sequence"] == {"window": WINDOW, "time_column": "date", "group_column": "symbol"}
    assert manifest.models[0].estimator == f"{'keras-h5' if suffix == '.h5' else 'keras'} Sequential"
    assert "holdout_rmse" in manifest.models[0].metrics
    registry.promote("crypto", manifest.version)

    rows = CRYPTO[CRYPTO.symbol.isin(["BTC", "ETH"])].head(12)
    expected = expected_forecast(model, scaler, rows.reset_index(drop=True))
    time.sleep(TTL)
    status, _, body = _post(f"{live_url}/api/v1/predict?project=crypto", rows.to_dict("records"))
    assert status == 200, body
    assert body["predictions"] == pytest.approx(expected.tolist(), rel=1e-4)

    scored = _score_test_file("crypto", rows)
    assert {"date", "symbol", "prediction", "model_version"} <= set(scored.columns)
    assert scored["prediction"].tolist() == pytest.approx(expected.tolist(), rel=1e-4)

    # the forecast: the same series over /api/v1 and as one inline SVG chart per symbol on the page
    with urllib.request.urlopen(f"{live_url}/api/v1/forecast?project=crypto&file=batch.csv", timeout=30) as response:
        series = json.loads(response.read())
    forecast_schema = {
        **openapi_document()["components"]["schemas"]["Forecast"],
        "components": openapi_document()["components"],
    }
    assert list(jsonschema.Draft202012Validator(forecast_schema).iter_errors(series)) == []
    assert (series["source"], series["target"], series["horizon"]) == ("predictions/crypto/batch.csv", "open", 1)
    assert series["model_versions"] == [manifest.version]
    assert [s["group"] for s in series["series"]] == ["BTC", "ETH"]
    btc = scored[scored.symbol == "BTC"].sort_values("date")
    points = series["series"][0]["points"]
    assert [p["actual"] for p in points[: len(btc)]] == pytest.approx(btc["open"].tolist())
    assert [p["predicted"] for p in points[1 : len(btc)]] == pytest.approx(btc["prediction"].tolist()[:-1])
    assert points[-1] == {
        "time": points[-1]["time"], "actual": None, "predicted": pytest.approx(btc["prediction"].iloc[-1]), "ahead": 1
    }  # fmt: skip
    with urllib.request.urlopen(f"{live_url}/p/crypto/forecast", timeout=30) as response:
        page = response.read().decode()
    assert page.count('<svg class="forecast-chart"') == 2
    assert 'data-group="BTC"' in page
    assert "predictions/crypto/batch.csv" in page


def test_forecast_of_a_project_that_is_not_time_ordered_is_a_clear_400(aws):
    client = create_app(load_settings()).test_client()
    answer = client.get("/api/v1/forecast?project=lines")
    assert answer.status_code == 400
    assert answer.json["field"] == "project"
    assert "not time-ordered" in answer.json["message"]
    missing = client.get("/api/v1/forecast?project=crypto")
    assert missing.status_code == 404
    assert "has no predictions yet" in missing.json["message"]


def test_models_page_compares_trained_and_registered_versions_on_holdout_metrics(aws, trained_versions):
    from support.versions import DIABETES

    trained = trained_versions.write("sugar", DIABETES)
    schema = {
        "target": "target",
        "task": "regression",
        "columns": [
            {"name": "age", "dtype": "float64", "kind": "numeric", "minimum": 19, "maximum": 79},
            {"name": "bmi", "dtype": "float64", "kind": "numeric", "minimum": 18, "maximum": 43},
        ],
    }
    labelled = pd.read_csv(DIABETES).head(80)
    registered = register.register_model(
        "sugar",
        onnx_linear_model(),
        json.dumps(schema),
        model_file_name="m.onnx",
        labelled_csv=labelled.to_csv().encode(),
    )
    page = create_app(load_settings()).test_client().get("/p/sugar/models").get_data(as_text=True)
    versions = _html_table(page, "versions")
    assert versions["Version"].tolist() == [f"v{registered.version}", f"v{trained.version}"]
    assert versions["Source"].tolist() == ["registered", "training"]
    assert versions["Estimator"].iloc[0] == "onnx OnnxModel"
    expected = labelled.age * 2 - labelled.bmi + 0.5
    rmse = float(np.sqrt(((expected - labelled.target) ** 2).mean()))
    assert float(versions["holdout_rmse"].iloc[0]) == pytest.approx(rmse, rel=1e-3)
    trained_rmse = next(m for m in trained.models if m.name == trained.champion).metrics["holdout_rmse"]
    assert float(versions["holdout_rmse"].iloc[1]) == pytest.approx(trained_rmse, rel=1e-3)


def _html_table(page: str, table_id: str) -> pd.DataFrame:
    """The table ``table_id`` of a page as a frame of its cells' text (headers from its <th>)."""
    import re

    table = re.search(rf'<table[^>]*id="{table_id}"[^>]*>(.*?)</table>', page, re.S).group(1)

    def text(cell: str) -> str:
        return re.sub(r"<[^>]+>", "", cell).strip()

    header = [text(c) for c in re.findall(r"<th[^>]*>(.*?)</th>", table, re.S)]
    rows = [
        [text(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
        for row in re.findall(r"<tr[^>]*>(.*?)</tr>", table.split("</thead>")[1], re.S)
    ]
    return pd.DataFrame(rows, columns=header)
