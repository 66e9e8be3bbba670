"""Operating dropml: operator actions and experiments.

- :mod:`~dropml.ops.operations`: promote, roll back and retrain, announced
- :mod:`~dropml.ops.experiments`: projects created, retrained, archived and evaluated over the API
"""
