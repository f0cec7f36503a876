"""What ``spark-submit`` runs (:mod:`.job`). The engine itself lives with the work it does:
:mod:`sentiment_mlops.batch.spark_scoring`, :mod:`sentiment_mlops.training.spark_stats`, and the
session they share, :mod:`sentiment_mlops.spark_session`.
"""
