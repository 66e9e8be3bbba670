"""Use cases: what the web app's views, the ``dropml`` CLI, the Lambda handlers and the job call.

(The module list is filled in as the use cases move here.)
"""
