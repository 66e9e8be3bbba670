"""Training: one CSV in S3 becomes ranked, versioned scikit-learn pipelines (GitHub issue 3).

One module per step, each a function with its own tests:
``ingest`` (read the CSV, size check first) → ``clean`` (data quality) →
``schema`` (what serving must send) → ``eda`` / ``report`` (plots, HTML) →
``features`` / ``selection`` (the pipeline's ``preprocess`` and ``select``
steps) → ``models`` (estimator registry, search) → ``evaluation`` (splits,
metrics, leaderboard) → ``job`` (:func:`dropml.training.job.run_training`,
which publishes a version manifest-last).

Heavy libraries are imported by the step modules, never here.
"""
