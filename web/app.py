"""The WSGI app for Zappa (``web.app.app``) and gunicorn (``web.app:app``): no S3, model or Dask work at import."""

from web import create_app

app = create_app()
