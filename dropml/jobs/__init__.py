"""Jobs: what a training or scoring job is, starting one, and starting it once per event.

- :mod:`~dropml.jobs.job`: the two jobs (``train``, ``score``) and the data each reads
- :mod:`~dropml.jobs.launcher`: start a job as an ECS Fargate task (or, in the local world, a process)
- :mod:`~dropml.jobs.idempotency`: claim an event once, however often it is delivered
"""
