"""Training: one CSV in S3 becomes ranked, versioned scikit-learn pipelines (GitHub issue 3).

One module per step, each a function with its own tests:
``ingest`` (read the CSV, size check first) → ``clean`` (data quality) →
``schema`` (what serving must send) → ``eda`` / ``report`` (plots, HTML) →
``features`` / ``selection`` (the pipeline's ``preprocess`` and ``select``
steps) → ``models`` (estimator registry, search) → ``evaluation`` (splits,
metrics, leaderboard) → ``package`` (the version's files, through the registry's
one writer, manifest last). A run of them, audited and announced, is the use
case :func:`dropml.usecases.train.run_training`.

Time-ordered projects (``time_column``, optional ``group_column``): the label
is the target column's value ``horizon`` steps ahead per group, so the target
column itself (today's value) stays an input and is in the input schema along
with the time and group columns. Lag and return features are computed inside
the pipeline from the earlier rows of the SAME request, so a request should
carry each group's recent history (at least ``max(lags)`` rows); a lone row
gets imputed lags.

Heavy libraries are imported by the step modules, never here.
"""
