"""The Apache Spark engine: batch scoring and training statistics on a cluster (``--engine spark``)."""
