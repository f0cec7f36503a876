"""Entry file for ``spark-submit`` (the spark-operator's ``mainApplicationFile``): the ``sentiment`` CLI.

spark-submit .../sentiment_mlops/spark/job.py predict --engine spark -i s3a://... -o s3a://...
"""

from __future__ import annotations

if __name__ == "__main__":
    from sentiment_mlops.cli import app

    app(prog_name="sentiment")
