"""Use cases: the only layer the web app's views, the ``dropml`` CLI, the Lambda handlers and the job call.

Each module is one thing a user or an event asks of dropml; it orchestrates
the domain (registry, scoring, training) and the services (storage, notify,
the audit trail, jobs), and announces what it did. Entry points parse the
request, call one of these, and shape the answer; they call a service
directly only when there is nothing to orchestrate (a queue re-drive, a day's
audit summary), and the domain never.

- :mod:`~dropml.usecases.triggers`: start a job for an upload, a schedule or a request (every launch is here)
- :mod:`~dropml.usecases.live`: publish a written version, promote, roll back, history; each announced
- :mod:`~dropml.usecases.runs`: retrain now, or upload a file whose event starts a run; follow a run
- :mod:`~dropml.usecases.projects`: projects (the API's experiments): create, configure, patch, archive, describe
- :mod:`~dropml.usecases.register`: register a model trained elsewhere, with holdout metrics, announced
- :mod:`~dropml.usecases.evaluate`: every model of the live version scored on a labelled file
- :mod:`~dropml.usecases.predict`: check a request's rows, score them and audit it (API, JSON lane, form)
- :mod:`~dropml.usecases.uploads`: score an uploaded CSV and keep its results for the download
- :mod:`~dropml.usecases.serving`: what a serving process keeps: live models, manifests, projects, reports
- :mod:`~dropml.usecases.forecast`: a time-ordered project's series, read from a predictions file
- :mod:`~dropml.usecases.score_file`: score a ``test/`` file, audited and announced (the scoring job)
- :mod:`~dropml.usecases.train`: a training run, audited and announced (the training job)
- :mod:`~dropml.usecases.status`: each project's versions, the queues, the last announcements
- :mod:`~dropml.usecases.trace`: a prediction traced back to its version, data, code and config
- :mod:`~dropml.usecases.deploy`: the web app's Zappa stage filled from the deployed stack
- :mod:`~dropml.usecases.deploy_path`: ``make deploy`` (``dropml deploy``), the README's "Deploy to AWS" steps
"""
