"""The model: tokenizer, compiled kernels (and their ahead-of-time build), featuriser, artifact."""
