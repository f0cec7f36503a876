"""The model as an MLflow pyfunc: raw review text in, label and probability of positive out.

Logged with MLflow's models-from-code (``mlflow_model.py`` sets an instance of this class), so the
registered model holds no pickle: loading it imports this code and reads the weights as data.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from mlflow.pyfunc import PythonModel

from sentiment_mlops.model import kernels
from sentiment_mlops.model.artifact import SentimentModel

MODEL_ARTIFACT = "sentiment_model"


def _texts(model_input: Any) -> list[str]:
    """Accept a DataFrame with a ``text`` column (or one column), a Series, a list or one string."""
    if isinstance(model_input, pd.DataFrame):
        column = "text" if "text" in model_input.columns else model_input.columns[0]
        return [str(t) for t in model_input[column].tolist()]
    if isinstance(model_input, pd.Series):
        return [str(t) for t in model_input.tolist()]
    if isinstance(model_input, str):
        return [model_input]
    return [str(t) for t in model_input]


class SentimentPyfunc(PythonModel):
    """Wraps :class:`SentimentModel` for ``mlflow.pyfunc.load_model`` and ``mlflow models serve``."""

    def load_context(self, context: Any) -> None:
        kernels.load()  # logs which kernels score here; fails clearly if the compiled ones are missing
        self.model = SentimentModel.load(context.artifacts[MODEL_ARTIFACT])

    def predict(self, context: Any, model_input: Any, params: dict[str, Any] | None = None) -> pd.DataFrame:
        predictions = self.model.predict(_texts(model_input))
        return pd.DataFrame(
            {"label": [p.label for p in predictions], "probability": [p.probability for p in predictions]}
        )
