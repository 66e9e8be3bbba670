"""Load and run Keras models (.h5 or .keras) from their bytes: the only module that imports keras.

Keras 3 is the optional ``dropml[keras]`` extra and runs on its numpy backend
(inference only, no GPU runtime), imported only when a Keras version is loaded.
"""

from __future__ import annotations

import os
import tempfile
from typing import Any

import numpy as np

from dropml.errors import BadInput

SUFFIXES = {"keras-h5": ".h5", "keras": ".keras"}


def load_model(model_bytes: bytes, model_format: str, what: str = "model") -> Any:
    """A Keras model from the bytes of a legacy HDF5 (``keras-h5``) or native ``.keras`` file.

    Raises:
        BadInput: keras is not installed, or the bytes are not a loadable model of that format.
    """
    # before the first import: keras picks its backend once per process, and numpy needs no GPU runtime
    os.environ.setdefault("KERAS_BACKEND", "numpy")
    try:
        import keras
    except ImportError:
        raise BadInput(what, what, "Keras models need the keras extra: pip install 'dropml[keras]'") from None
    # keras reads a path (the format is told by the suffix), so the bytes go through a private temp file
    with tempfile.TemporaryDirectory(prefix="dropml-keras-") as folder:
        path = os.path.join(folder, "model" + SUFFIXES[model_format])
        with open(path, "wb") as handle:
            handle.write(model_bytes)
        try:
            return keras.models.load_model(path, compile=False)
        except Exception as err:  # keras and h5py raise many types for a file that is not a model
            problem = f"{what} could not be loaded as a Keras model: {type(err).__name__}: {err}"
            raise BadInput(what, what, problem) from None


def run(model: Any, array: np.ndarray) -> np.ndarray:
    """The model's output on ``array`` (float32), batched by Keras."""
    return np.asarray(model.predict(np.asarray(array, dtype="float32"), verbose=0, batch_size=1024))
