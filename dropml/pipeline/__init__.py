"""What the three Lambda functions run.

- :mod:`~dropml.pipeline.triggers`: check a data file and start its job, or publish a written version
"""
