"""The one place ONNX models are run: an onnxruntime session from bytes, and a frame's predictions from it.

Used for the compiled form of trained pipelines (made at publish time by
:mod:`dropml.training.compile`) and meant for any other ONNX model the
registry holds, so there is one loader. onnxruntime is imported only when a
session is made (cold start: a version without compiled models never loads it).

API:

- :func:`onnx_available` → whether onnxruntime can be imported here;
- :func:`load_session(model_bytes)` → :class:`OnnxModel` (one thread per call: requests run in parallel
  in threads and processes already, and a one-row call costs microseconds);
- :func:`predict_frame(model, frame, columns)` → the first output as a 1-D numpy array. A model with one
  input gets one 2-D tensor of ``columns`` (its declared input columns, in order; default every column of
  the frame); a model with several inputs gets one ``[rows, 1]`` tensor per input, each named like a column;
- for registered models (:mod:`dropml.scoring.external_model`): :func:`session_from_bytes` (a load whose
  failure is the user's bad file), :func:`run` (any array, e.g. windows of rows).

An :class:`OnnxModel` pickles as its bytes (a Dask worker process remakes the session).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from dropml.errors import BadInput
from dropml.scoring.rows import as_frame

if TYPE_CHECKING:
    from dropml.scoring.rows import CheckedRows

_NUMPY_TYPES = {"tensor(double)": "float64", "tensor(float)": "float32", "tensor(int64)": "int64"}


@dataclass(frozen=True)
class OnnxModel:
    """A loaded ONNX model: its session and the names and element types of its inputs."""

    model_bytes: bytes
    session: Any
    input_names: tuple[str, ...]
    input_types: tuple[str, ...]
    output_name: str
    metadata: dict[str, str]  # the model's custom metadata (a compiled model's feature program)

    def __reduce__(self) -> tuple[Any, tuple[bytes]]:
        return load_session, (self.model_bytes,)  # a session cannot be pickled; its bytes can


@functools.cache
def onnx_available() -> bool:
    """Whether onnxruntime can be imported in this process (serving falls back to scikit-learn when not)."""
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def load_session(model_bytes: bytes) -> OnnxModel:
    """An onnxruntime session of a serialised ONNX model, one intra-op thread, sequential execution.

    Raises:
        ImportError: onnxruntime is not installed.
        onnxruntime's errors: the bytes are not a valid model.
    """
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1  # one row is microseconds of work: a thread pool only adds latency
    options.inter_op_num_threads = 1
    options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3
    session = onnxruntime.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])
    inputs = session.get_inputs()
    return OnnxModel(
        model_bytes=model_bytes,
        session=session,
        input_names=tuple(i.name for i in inputs),
        input_types=tuple(_NUMPY_TYPES.get(i.type, "float64") for i in inputs),
        output_name=session.get_outputs()[0].name,
        metadata=dict(session.get_modelmeta().custom_metadata_map),
    )


def predict_frame(
    model: OnnxModel,
    frame: CheckedRows,
    columns: list[str] | None = None,
    matrices: dict[tuple[Any, ...], np.ndarray] | None = None,
) -> np.ndarray:
    """The model's first output for ``frame`` (checked rows: a DataFrame or NumberRows), as a 1-D array.

    ``matrices``, shared by the models of one request, keeps each input matrix
    made from the frame, so models taking the same columns convert it once.

    Raises:
        KeyError: the frame lacks a column the model takes.
    """
    if len(model.input_names) == 1:
        key = (tuple(columns) if columns is not None else None, model.input_types[0])
        matrix = matrices.get(key) if matrices is not None else None
        if matrix is None:
            whole = columns is None
            matrix = np.ascontiguousarray(
                frame.to_numpy(dtype=model.input_types[0]) if whole else _columns(frame, columns, model)
            )
            if matrices is not None:
                matrices[key] = matrix
        feed = {model.input_names[0]: matrix}
    else:
        by_name = as_frame(frame)
        feed = {
            name: by_name[name].to_numpy(dtype=dtype).reshape(-1, 1)
            for name, dtype in zip(model.input_names, model.input_types, strict=True)
        }
    out = model.session.run([model.output_name], feed)[0]
    return out.reshape(-1) if out.ndim > 1 else out


def _columns(frame: CheckedRows, columns: list[str], model: OnnxModel) -> np.ndarray:
    """``frame``'s ``columns`` in order as one matrix (one block copy when the frame is a single float block)."""
    present = list(frame.columns)
    if present == columns:  # the frame validate built for this schema: already in the model's order
        return frame.to_numpy(dtype=model.input_types[0])
    # a dict, not Index.get_indexer: that makes an Index of the names per call, which costs more than the predict
    where = {name: at for at, name in enumerate(present)}
    missing = [name for name in columns if name not in where]
    if missing:
        raise KeyError(f"the frame lacks the model's input column(s): {', '.join(missing)}")
    return np.asarray(frame.to_numpy(dtype=model.input_types[0])[:, [where[name] for name in columns]])


def session_from_bytes(model_bytes: bytes, what: str = "model.onnx") -> OnnxModel:
    """:func:`load_session` for a file a user handed over: a missing runtime or a bad file is their bad input.

    Raises:
        BadInput: onnxruntime is not installed, or the bytes are not a loadable ONNX model.
    """
    if not onnx_available():
        raise BadInput(what, what, "ONNX models need the onnx extra: pip install 'dropml[onnx]'")
    try:
        return load_session(model_bytes)
    except Exception as err:  # onnxruntime raises its own exception types for any malformed model
        raise BadInput(
            what, what, f"{what} could not be loaded as an ONNX model: {type(err).__name__}: {err}"
        ) from None


def run(model: OnnxModel, array: np.ndarray) -> np.ndarray:
    """The first output of ``model`` on ``array`` (any shape its first input takes), fed in its declared dtype."""
    feed = {model.input_names[0]: np.asarray(array, dtype=model.input_types[0])}
    return np.asarray(model.session.run([model.output_name], feed)[0])
