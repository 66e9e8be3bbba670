"""What the three Lambda functions run: read S3 and schedule events, start each job once, publish versions.

- :mod:`~dropml.pipeline.events`: SQS/S3 and schedule events parsed, a batch's failures reported
- :mod:`~dropml.pipeline.idempotency`: handle an event once, however often it is delivered
- :mod:`~dropml.pipeline.triggers`: check a data file and start its job, or publish a written version
- :mod:`~dropml.pipeline.launcher`: start a job as an ECS Fargate task (or a process, locally)
"""
