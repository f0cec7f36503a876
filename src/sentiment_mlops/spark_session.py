"""The Spark session and the Hadoop file system calls behind an all-or-nothing output.

Under ``spark-submit`` (the spark-operator, EMR on EKS) the master and the sizing come from the
submission; run from a laptop or a test, the session is local with task retries switched on.
"""

from __future__ import annotations

import os
import sys
import uuid
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

# local[N, F]: plain local[*] never retries a failed task; F attempts match a cluster's default.
LOCAL_MASTER = "local[*,4]"
# In local mode the driver JVM is the executor too, and the trainer brings the featurised rows back
# to it: Spark's default 1 GB heap runs out on the IMDB splits.
LOCAL_DRIVER_MEMORY = "4g"


def get_session(
    app_name: str = "sentiment", master: str | None = None, conf: dict[str, str] | None = None
) -> SparkSession:
    """The active session, or a new one: ``master``, else ``$SENTIMENT_SPARK_MASTER``, else local;
    ``conf``: further settings for a new session (an event log, say)."""
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName(app_name)
    for key, value in (conf or {}).items():
        builder = builder.config(key, value)
    # pyspark sets PYSPARK_GATEWAY_PORT when spark-submit started this process: the submission then
    # owns the master, and overriding it would silently run a cluster job on the driver alone.
    master = master or os.environ.get("SENTIMENT_SPARK_MASTER")
    if master or "PYSPARK_GATEWAY_PORT" not in os.environ:
        builder = builder.master(master or LOCAL_MASTER)
    if (master or LOCAL_MASTER).startswith("local"):
        # Workers run this interpreter (the one with the package): pyspark reads PYSPARK_PYTHON when
        # the context starts. Everything stays on loopback.
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        builder = (
            builder.config("spark.driver.host", "127.0.0.1")
            .config("spark.driver.bindAddress", "127.0.0.1")
            .config(
                "spark.driver.memory",
                os.environ.get("SENTIMENT_SPARK_DRIVER_MEMORY", LOCAL_DRIVER_MEMORY),
            )
        )
    return (
        builder.config("spark.ui.showConsoleProgress", "true")  # Spark's own progress bar on stderr
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .getOrCreate()
    )


class HadoopPaths:
    """Exists, rename and delete on any file system Spark writes to (local, ``s3a://``, HDFS)."""

    def __init__(self, spark: SparkSession) -> None:
        self._jvm: Any = spark.sparkContext._jvm
        self._conf = spark.sparkContext._jsc.hadoopConfiguration()

    def _fs(self, path: Any) -> Any:
        return path.getFileSystem(self._conf)

    def path(self, uri: str) -> Any:
        return self._jvm.org.apache.hadoop.fs.Path(uri)

    def exists(self, uri: str) -> bool:
        p = self.path(uri)
        return bool(self._fs(p).exists(p))

    def delete(self, uri: str) -> None:
        p = self.path(uri)
        self._fs(p).delete(p, True)

    def rename(self, src: str, dest: str) -> None:
        s, d = self.path(src), self.path(dest)
        if not self._fs(s).rename(s, d):
            raise OSError(f"cannot rename {src} to {dest}")

    def sibling(self, uri: str, tag: str) -> str:
        """A hidden path beside ``uri`` (Spark's readers skip names starting with a dot)."""
        p = self.path(uri.rstrip("/"))
        return str(
            self._jvm.org.apache.hadoop.fs.Path(p.getParent(), f".{p.getName()}.{tag}-{uuid.uuid4().hex}")
        )

    def replace(self, staging: str, dest: str) -> None:
        """Move the finished ``staging`` folder to ``dest``; an existing ``dest`` is swapped out first."""
        old = None
        if self.exists(dest):
            old = self.sibling(dest, "old")
            self.rename(dest, old)
        self.rename(staging, dest)
        if old is not None:
            self.delete(old)
