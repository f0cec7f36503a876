"""Batch scoring: a file of reviews scored into another, streamed (:mod:`.files`), and the
``sentiment predict`` command (:mod:`.commands`), which also hands whole datasets to Spark
(:mod:`.spark_scoring`).
"""
