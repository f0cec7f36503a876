"""The HTTP service: Flask app factory, JSON and KServe v2 APIs, web page, metrics, gunicorn config.

Import the factory from :mod:`sentiment_mlops.serving.app`; this package imports nothing itself, so
the ``sentiment`` CLI stays quick to start.
"""
