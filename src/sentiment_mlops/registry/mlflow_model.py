"""Models-from-code entry point that MLflow executes when it loads the registered model."""

from mlflow.models import set_model

from sentiment_mlops.registry.pyfunc import SentimentPyfunc

set_model(SentimentPyfunc())
