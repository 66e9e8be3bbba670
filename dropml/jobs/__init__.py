"""Jobs: what a training, scoring or monitoring job is, starting one, and starting it once per event.

- :mod:`~dropml.jobs.job`: the three jobs (``train``, ``score``, ``monitor``) and what each reads
- :mod:`~dropml.jobs.launcher`: start a job as an ECS Fargate task (or, in the local world, a process)
- :mod:`~dropml.jobs.idempotency`: claim an event once, however often it is delivered
"""
