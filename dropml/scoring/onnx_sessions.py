"""Create and run onnxruntime sessions from a model's bytes: the only module that imports onnxruntime.

onnxruntime is the optional ``dropml[onnx]`` extra, imported only when an
ONNX version is loaded, so the web app and Lambdas without ONNX versions never
pay for it. API: :func:`session_from_bytes`, :func:`input_shape`, :func:`run`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dropml.errors import BadInput

if TYPE_CHECKING:
    import numpy as np

# onnxruntime's element types, as numpy dtypes, for the inputs we feed (numbers only)
_NUMPY_TYPES = {"tensor(float)": "float32", "tensor(double)": "float64", "tensor(int64)": "int64"}


def session_from_bytes(model_bytes: bytes, what: str = "model.onnx") -> Any:
    """An onnxruntime InferenceSession (CPU) for a serialized ONNX model.

    Raises:
        BadInput: onnxruntime is not installed, or the bytes are not a loadable ONNX model.
    """
    try:
        import onnxruntime
    except ImportError:
        raise BadInput(what, what, "ONNX models need the onnx extra: pip install 'dropml[onnx]'") from None
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3  # errors only: the JSON logs are ours
    try:
        return onnxruntime.InferenceSession(model_bytes, sess_options=options, providers=["CPUExecutionProvider"])
    except Exception as err:  # onnxruntime raises its own exception types for any malformed model
        problem = f"{what} could not be loaded as an ONNX model: {type(err).__name__}: {err}"
        raise BadInput(what, what, problem) from None


def input_shape(session: Any) -> list[int | str | None]:
    """The first input's declared shape (ints, or a name/None for a free dimension such as the batch)."""
    return list(session.get_inputs()[0].shape)


def run(session: Any, array: np.ndarray) -> np.ndarray:
    """The first output of the session on ``array``, fed to the first input in its declared dtype."""
    import numpy as np

    first = session.get_inputs()[0]
    dtype = _NUMPY_TYPES.get(first.type, "float32")
    return np.asarray(session.run(None, {first.name: np.asarray(array, dtype=dtype)})[0])
