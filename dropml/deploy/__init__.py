"""Deploying dropml to AWS, and finding a deployed stack: one path, written once.

- :mod:`~dropml.deploy.stack`: a deployed stack's CloudFormation outputs and the settings that point dropml at
  it (``dropml --stack NAME``, ``DROPML_STACK``), as ``sam`` finds its stack from ``samconfig.toml``
- :mod:`~dropml.deploy.path`: the README's "Deploy to AWS" steps as code (``make deploy``, ``dropml deploy``):
  the ECS service-linked role, the deploy bucket, the image repository, the image for linux/amd64, ``sam
  deploy``, the Zappa stage from the stack's outputs, ``zappa deploy``, a smoke request
- :mod:`~dropml.deploy.names`: S3's bucket-naming rules, checked before a name reaches AWS

Nothing here imports :mod:`dropml.local`; the local world rehearses this path (:mod:`dropml.local.rehearsal`)
by running it against its stand-in.
"""
