"""Training: one CSV in S3 becomes ranked, versioned scikit-learn pipelines (GitHub issue 3).

One module per step, each a function with its own tests, in the order a run
takes them (:mod:`~dropml.training.steps` runs them; the use case
:func:`dropml.usecases.train.run_training` audits and announces a run):

- :mod:`~dropml.training.ingest`: read the training CSV (size checked first), through the one CSV reader
- :mod:`~dropml.training.clean`: data quality: every column's kind, the label, each action recorded
- :mod:`~dropml.training.schema`: the input schema serving must send
- :mod:`~dropml.training.eda`, :mod:`~dropml.training.report`: summary plots, and the HTML report
- :mod:`~dropml.training.features`: the pipeline's ``preprocess`` step (coerce, dates, lags, encode, scale)
- :mod:`~dropml.training.selection`: the pipeline's ``select`` step
- :mod:`~dropml.training.models`: the estimator catalogue (name → estimator per task), search candidates
- :mod:`~dropml.training.bounded`, :mod:`~dropml.training.persistence`: a bounded ridge, the persistence baseline
- :mod:`~dropml.training.search`: random hyper-parameter search within a time budget
- :mod:`~dropml.training.evaluation`: splits without leakage, cross-validation, the ranked leaderboard
  (the metrics themselves: :mod:`dropml.scoring.metrics`)
- :mod:`~dropml.training.parallel`: the task's CPUs and one pool of fits that never oversubscribes them
- :mod:`~dropml.training.steps`: the steps run in order, before any version exists
- :mod:`~dropml.training.compile`: ONNX forms, kept only when they give scikit-learn's answers
- :mod:`~dropml.training.package`: the version's files and manifest, through the registry's one writer

Time-ordered projects (``time_column``, optional ``group_column``): the label
is the target column's value ``horizon`` steps ahead per group, so the target
column itself (today's value) stays an input and is in the input schema along
with the time and group columns. Lag and return features are computed inside
the pipeline from the earlier rows of the SAME request, so a request should
carry each group's recent history (at least ``max(lags)`` rows); a lone row
gets imputed lags.

Heavy libraries are imported by the step modules, never here.
"""
