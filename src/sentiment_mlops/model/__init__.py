"""The model: tokenizer, the compiled scoring kernels (a C extension), featuriser, artifact."""
