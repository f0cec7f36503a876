"""The HTTP service: Flask app factory, JSON and KServe v2 APIs, web page, metrics, gunicorn config."""

from sentiment_mlops.serving.app import create_app

__all__ = ["create_app"]
