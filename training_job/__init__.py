"""The training (and file scoring) container's entry point: ``python -m training_job.main``."""
