"""Sentiment analysis of movie reviews: IMDB data to an autoscaled REST API."""

__version__ = "0.1.0"
