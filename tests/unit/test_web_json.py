"""JSON answers through orjson: the same documents as Flask's own provider, numpy included, nothing refused."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from flask import Flask, jsonify, request

from web.json_provider import OrjsonProvider


@pytest.fixture
def app():
    app = Flask(__name__)
    app.json = OrjsonProvider(app)

    @app.post("/echo")
    def echo():
        return jsonify({"got": request.get_json()})

    return app


def test_numpy_nan_and_text_are_written_as_valid_json(app):
    with app.test_request_context():
        body = jsonify({"z": np.array([1, 2]), "a": np.float64(0.5), "nan": math.nan, "name": "café"}).get_data()
    assert json.loads(body) == {"z": [1, 2], "a": 0.5, "nan": None, "name": "café"}
    assert list(json.loads(body)) == ["z", "a", "nan", "name"]  # insertion order, not sorted


def test_an_int_over_64_bits_falls_back_to_the_standard_library(app):
    huge = 10**30
    with app.test_request_context():
        assert json.loads(jsonify({"value": huge}).get_data()) == {"value": huge}
        assert json.loads(app.json.dumps({"value": huge})) == {"value": huge}


def test_request_bodies_orjson_refuses_are_still_read(app):
    answer = app.test_client().post("/echo", data='{"n": 123456789012345678901234567890, "x": NaN}',
                                    content_type="application/json")  # fmt: skip
    assert answer.status_code == 200
    assert answer.get_json()["got"]["n"] == 123456789012345678901234567890
