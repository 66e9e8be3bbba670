"""Operating dropml: announcements, the audit trail, admin access, queues, operator actions and experiments.

- :mod:`~dropml.ops.notify`: every step's outcome on the SNS topic
- :mod:`~dropml.ops.audit`: a record per prediction request and per training run
- :mod:`~dropml.ops.security`: the admin API key
- :mod:`~dropml.ops.queues`: queue depths and re-driving dead letters
- :mod:`~dropml.ops.operations`: promote, roll back and retrain, announced
- :mod:`~dropml.ops.experiments`: projects created, retrained, archived and evaluated over the API
"""
