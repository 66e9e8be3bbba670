"""The WSGI app for Zappa (``web.app.app``) and gunicorn (``web.app:app``): no S3, model or Dask work at import.

Under Lambda SnapStart the first requests' imports are done here too, before the snapshot (web/snapstart.py).
"""

from web import create_app
from web.snapstart import is_snapshot_init, prepare_snapshot

app = create_app()
if is_snapshot_init():
    prepare_snapshot(app)
