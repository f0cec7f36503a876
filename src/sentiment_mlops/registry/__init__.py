"""MLflow: run tracking, the model registry (aliases, quality gate, export) and the pyfunc."""
