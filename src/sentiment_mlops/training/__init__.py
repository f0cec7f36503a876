"""Training and evaluation: fit the model on the train split, score it on test."""
