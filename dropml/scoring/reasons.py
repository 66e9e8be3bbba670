"""The explanation part of an answer (JSON, or results-file columns), for the champion of a loaded version.

Every channel asks here: the JSON API and the form (:func:`explanation_json`),
the CSV answer, the upload page and file scoring (:func:`explanation_columns`).
A champion that has no explanation is said so in the answer, with the reason;
the predictions are answered all the same.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dropml.scoring.load import NotExplained

if TYPE_CHECKING:
    import numpy as np

    from dropml.config import Settings
    from dropml.scoring.explain import Explanations
    from dropml.scoring.load import LoadedVersion
    from dropml.scoring.rows import CheckedRows

EXPLANATION_COLUMN = "explanation"


def explain_champion(loaded: LoadedVersion, rows: CheckedRows, answers: np.ndarray, conf: Settings) -> Explanations:
    """The champion's contributions per input column for ``rows`` (``answers``: its predictions for them).

    Raises:
        NotExplained: the champion has no explanation, or ``rows`` are more than ``serving.explain_max_rows``.
    """
    limit = conf.serving.explain_max_rows
    if len(rows) > limit:
        raise NotExplained(f"{len(rows)} rows are more than serving.explain_max_rows ({limit}) explained at once")
    return loaded.champion_explainer().explain(rows, answers)


def explanation_json(loaded: LoadedVersion, rows: CheckedRows, answers: np.ndarray, conf: Settings) -> dict[str, Any]:
    """The ``explanations`` of a JSON answer (one per row), or ``null`` and ``not_explained`` with why."""
    try:
        explained = explain_champion(loaded, rows, answers, conf)
    except NotExplained as err:
        return {"explained_model": loaded.champion, "explanations": None, "not_explained": str(err)}
    return {"explained_model": loaded.champion, "explanations": explained.to_json(conf.serving.explain_top)}


def explanation_columns(
    loaded: LoadedVersion, rows: CheckedRows, answers: np.ndarray, conf: Settings
) -> dict[str, list[Any]]:
    """The explanation columns of a results file, or one ``explanation`` column saying why there is none."""
    try:
        explained = explain_champion(loaded, rows, answers, conf)
    except NotExplained as err:
        return {EXPLANATION_COLUMN: [f"not explained: {err}"] * len(rows)}
    return explained.csv_columns(conf.serving.explain_top)
