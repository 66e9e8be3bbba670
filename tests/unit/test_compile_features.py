"""Each step a compiled form covers, read off a fitted pipeline, gives scikit-learn's matrix and answers exactly.

The feature program (dropml.scoring.feature_program) runs in numpy alone; here
every kind of step it stands for is checked against scikit-learn on rows
given as serving gives them: a checked DataFrame (CSV input) and JSON records
checked into numpy (ColumnRows, NumberRows). A step with no compiled form is
named in the reason.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.decomposition import PCA
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestRegressor
from sklearn.feature_selection import SelectKBest, f_classif
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MaxAbsScaler, MinMaxScaler, OneHotEncoder, RobustScaler, StandardScaler

from dropml.manifest import ColumnSchema, InputSchema
from dropml.registry.byom import wrap_model
from dropml.scoring.load import compiled_predictor
from dropml.scoring.rows import ColumnRows, NumberRows
from dropml.scoring.validate import rows_from_records, validate_frame
from dropml.training.compile import check_compiled, check_rows, compile_pipeline, sklearn_matrix
from dropml.training.compile_features import NotCompilable, feature_program
from dropml.training.features import build_preprocess
from dropml.training.selection import TopKFeatures

ROWS = 240
RNG = np.random.default_rng(3)
MAKERS = ["ford", "toyota", "amc", "fiat", "volvo"]


def _mixed_frame(rows: int = ROWS) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "x": RNG.normal(size=rows).round(2),
            "count": RNG.integers(0, 9, rows).astype(float),
            "flag": RNG.choice([True, False], rows),
            "color": RNG.choice(
                ["red", "green", "blue", "teal", "plum", "gold"], rows, p=[0.4, 0.3, 0.2, 0.05, 0.03, 0.02]
            ),
            "name": [f"{RNG.choice(MAKERS)} model {i % 7}" for i in range(rows)],
            "when": pd.date_range("2019-12-30", periods=rows, freq="37h").strftime("%Y-%m-%dT%H:%M:%S"),
        }
    )
    frame.loc[RNG.random(rows) < 0.08, "x"] = np.nan
    frame.loc[RNG.random(rows) < 0.08, "color"] = None
    frame.loc[RNG.random(rows) < 0.05, "when"] = None
    return frame


MIXED_SCHEMA = InputSchema(
    columns=[
        ColumnSchema(name="x", dtype="float64", kind="numeric", minimum=-3, maximum=3),
        ColumnSchema(name="count", dtype="float64", kind="numeric", minimum=0, maximum=8),
        ColumnSchema(name="flag", dtype="bool", kind="boolean"),
        ColumnSchema(name="color", dtype="object", kind="categorical"),  # any text: unseen colours reach the encoder
        ColumnSchema(name="name", dtype="object", kind="categorical"),
        ColumnSchema(name="when", dtype="datetime64[ns]", kind="datetime"),
    ]
)
KINDS = {column.name: column.kind for column in MIXED_SCHEMA.columns}


def _target(frame: pd.DataFrame) -> np.ndarray:
    return (
        frame["x"].fillna(0).to_numpy() + (frame["color"] == "red") + 0.3 * frame["flag"] + RNG.normal(size=len(frame))
    )


def _trained_pipeline(model, frame: pd.DataFrame, target, task: str = "regression") -> Pipeline:
    steps = build_preprocess(KINDS, max_categories=4, word_columns=["name"])
    return Pipeline([("preprocess", steps), ("select", TopKFeatures(task, 12)), ("model", model)]).fit(frame, target)


def _json_records(frame: pd.DataFrame) -> list[dict]:
    """The rows as a JSON client sends them: every digit of a number (to_json keeps 10), ISO dates, null gaps."""
    text = frame.astype(object).where(frame.notna(), None).to_dict(orient="records")
    return json.loads(json.dumps(text, default=lambda value: value.isoformat()))


def test_every_step_of_a_trained_pipeline_gives_scikit_learns_matrix_from_a_frame_and_from_json_records():
    frame = _mixed_frame()
    pipeline = _trained_pipeline(Ridge(), frame, _target(frame))
    served = _mixed_frame(120)
    served.loc[0, "color"] = "ultraviolet"  # unseen: the infrequent column, as in scikit-learn
    served.loc[1, "name"] = "Delorean DMC-12"  # a maker never seen
    checked = validate_frame(MIXED_SCHEMA, served)
    records = rows_from_records(MIXED_SCHEMA, _json_records(served))
    assert isinstance(records, ColumnRows)
    compiled = compile_pipeline(pipeline, MIXED_SCHEMA, checked, "regression")
    predictor = compiled_predictor(compiled.body, compiled.input_columns)
    expected = sklearn_matrix(pipeline, checked)
    assert np.array_equal(predictor.program.matrix(checked), expected, equal_nan=True)
    assert np.array_equal(predictor.program.matrix(records), expected, equal_nan=True)
    assert np.allclose(predictor.predict(records), pipeline.predict(checked), rtol=1e-12)


def test_lag_and_return_columns_of_a_time_ordered_frame_match_past_rows_only():
    frame = _mixed_frame()
    frame["symbol"] = RNG.choice(["BTC", "ETH", "ADA"], ROWS)
    schema = InputSchema(
        columns=[*MIXED_SCHEMA.columns, ColumnSchema(name="symbol", dtype="object", kind="categorical")],
        time_column="when",
        group_column="symbol",
    )
    kinds = {column.name: column.kind for column in schema.columns}
    steps = build_preprocess(kinds, 4, "when", "symbol", "count", [1, 2, 7], ["name"])
    model = RandomForestRegressor(n_estimators=10, random_state=0)
    pipeline = Pipeline([("preprocess", steps), ("select", "passthrough"), ("model", model)]).fit(frame, _target(frame))
    checked = validate_frame(schema, _mixed_frame(90).assign(symbol=RNG.choice(["BTC", "ETH", "ADA"], 90)))
    compiled = compile_pipeline(pipeline, schema, checked, "regression")
    program = json.loads(
        compiled_predictor(compiled.body, compiled.input_columns).model.metadata["dropml.feature_program"]
    )
    assert program["lags"]["lags"] == [1, 2, 7]
    assert compiled.max_difference == 0.0  # trees: exact


def test_classes_keep_their_values_and_types():
    frame = _mixed_frame()
    for labels in (np.array([True, False]), np.array(["late", "early"], dtype=object), np.array([1.0, 2.0])):
        target = labels[(frame["x"].fillna(0) > 0).astype(int)]
        pipeline = _trained_pipeline(HistGradientBoostingClassifier(max_iter=5), frame, target, "classification")
        checked = validate_frame(MIXED_SCHEMA, frame)
        compiled = compile_pipeline(pipeline, MIXED_SCHEMA, checked, "classification")
        got = compiled_predictor(compiled.body, compiled.input_columns).predict(checked).tolist()
        assert [(type(v), v) for v in got] == [(type(v), v) for v in pipeline.predict(checked).tolist()]


NUMERIC_SCHEMA = InputSchema(
    columns=[ColumnSchema(name=f"f{i}", dtype="float64", kind="numeric", minimum=-2, maximum=2) for i in range(5)]
)


def _numbers(rows: int) -> np.ndarray:
    values = RNG.normal(size=(rows, 5))
    values[RNG.random(values.shape) < 0.05] = np.nan
    return values


@pytest.mark.parametrize(
    "steps",
    [
        [SimpleImputer(strategy="mean"), StandardScaler()],
        [SimpleImputer(strategy="constant", fill_value=-1.0), MinMaxScaler(clip=True)],
        [SimpleImputer(strategy="most_frequent"), RobustScaler(), MaxAbsScaler()],
        [SimpleImputer(), StandardScaler(with_mean=False), SelectKBest(f_classif, k=3)],
    ],
    ids=["mean-standard", "constant-minmax-clip", "frequent-robust-maxabs", "select-k-best"],
)
def test_registered_array_pipelines_compile_with_each_scaler_and_selector(steps):
    features = _numbers(300)
    labels = np.where(np.nan_to_num(features[:, 0]) + np.nan_to_num(features[:, 1]) > 0, "up", "down")
    user_model = Pipeline([*((f"s{i}", s) for i, s in enumerate(steps)), ("model", LogisticRegression())])
    pipeline = wrap_model(user_model.fit(features, labels), None, NUMERIC_SCHEMA)
    rows = validate_frame(NUMERIC_SCHEMA, check_rows(NUMERIC_SCHEMA, 400))
    compiled = compile_pipeline(pipeline, NUMERIC_SCHEMA, rows, "classification")
    records = rows_from_records(NUMERIC_SCHEMA, _json_records(rows))
    assert isinstance(records, NumberRows | ColumnRows)  # numpy, no DataFrame (a gap is not a JSON number)
    predicted = compiled_predictor(compiled.body, compiled.input_columns).predict(records)
    assert predicted.tolist() == pipeline.predict(rows).tolist()


def test_a_registered_column_transformer_by_name_compiles():
    frame = _mixed_frame()[["x", "count", "color"]]
    schema = InputSchema(columns=[c for c in MIXED_SCHEMA.columns if c.name in frame.columns])
    columns = ColumnTransformer(
        [
            ("numbers", Pipeline([("impute", SimpleImputer()), ("scale", StandardScaler())]), ["x", "count"]),
            ("colors", Pipeline([("impute", SimpleImputer(strategy="most_frequent")),
                                 ("code", OneHotEncoder(handle_unknown="ignore"))]), ["color"]),
        ]
    )  # fmt: skip
    user_model = Pipeline([("columns", columns), ("model", Ridge())]).fit(frame, _target(_mixed_frame()))
    pipeline = wrap_model(user_model, None, schema)
    rows = validate_frame(schema, pd.concat([frame, check_rows(schema, 100)], ignore_index=True))
    compiled = compile_pipeline(pipeline, schema, rows, "regression")
    assert compiled.max_difference < 1e-9


def test_a_step_without_a_compiled_form_is_named():
    features = np.nan_to_num(_numbers(200))
    user_model = Pipeline([("pca", PCA(n_components=2)), ("model", Ridge())]).fit(features, features[:, 0])
    with pytest.raises(NotCompilable, match="PCA has no compiled form"):
        feature_program(wrap_model(user_model, None, NUMERIC_SCHEMA), NUMERIC_SCHEMA)
    frame = _mixed_frame()[["x", "color"]].fillna({"color": "red", "x": 0.0})
    schema = InputSchema(columns=[c for c in MIXED_SCHEMA.columns if c.name in frame.columns])
    dropping = ColumnTransformer([("c", OneHotEncoder(drop="first"), ["color"]), ("n", "passthrough", ["x"])])
    user_model = Pipeline([("columns", dropping), ("model", Ridge())]).fit(frame, RNG.normal(size=len(frame)))
    with pytest.raises(NotCompilable, match=r"drop=\.\.\."):
        feature_program(wrap_model(user_model, None, schema), schema)


def test_a_compiled_form_that_disagrees_with_scikit_learn_is_refused_with_how_much():
    features = _numbers(200)
    user_model = Pipeline([("impute", SimpleImputer()), ("model", Ridge())]).fit(features, RNG.normal(size=200))
    pipeline = wrap_model(user_model, None, NUMERIC_SCHEMA)
    rows = validate_frame(NUMERIC_SCHEMA, check_rows(NUMERIC_SCHEMA, 50))
    compiled = compile_pipeline(pipeline, NUMERIC_SCHEMA, rows, "regression")
    assert compiled.checked_rows == 50
    user_model.named_steps["model"].coef_ *= 1.0001  # scikit-learn now answers otherwise than the compiled form
    with pytest.raises(NotCompilable, match="of 50 holdout values differ from scikit-learn, by up to"):
        check_compiled(compiled.body, compiled.input_columns, pipeline, rows, "regression")
