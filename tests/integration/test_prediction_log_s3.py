"""The prediction log's S3 sink, through pyarrow.fs, against an S3 API server on 127.0.0.1 (moto):
segments are uploaded under the Hive layout, nothing half-written is visible, and the feedback
export's reader reads them back through the same URL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sentiment_mlops.data.feedback import read_log
from sentiment_mlops.data.log_format import FEEDBACK, PREDICTIONS
from sentiment_mlops.serving.prediction_log import LogSettings, PredictionLog
from tests.conftest import free_port

pytestmark = pytest.mark.integration

BUCKET = "prediction-log-test"


@pytest.fixture
def s3_url(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """``s3://`` URL of an empty bucket on a local S3 API; keys from the environment, as the AWS
    SDK's default chain finds them (moto accepts any)."""
    from moto.server import ThreadedMotoServer
    from pyarrow import fs

    for name, value in {
        "AWS_ACCESS_KEY_ID": "test-key",
        "AWS_SECRET_ACCESS_KEY": "test-secret",
        "AWS_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
    }.items():
        monkeypatch.setenv(name, value)
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        endpoint = f"endpoint_override=127.0.0.1:{port}&scheme=http&region=us-east-1"
        s3 = fs.S3FileSystem(
            endpoint_override=f"127.0.0.1:{port}",
            scheme="http",
            region="us-east-1",
            allow_bucket_creation=True,
        )
        s3.create_dir(BUCKET)
        yield f"s3://{BUCKET}/log?{endpoint}"
    finally:
        server.stop()


def test_segments_reach_s3_and_read_back(s3_url: str) -> None:
    from pyarrow import fs

    written: dict[str, int] = {}
    plog = PredictionLog(
        LogSettings(s3_url, segment_rows=3),
        on_written=lambda table, n: written.__setitem__(table, written.get(table, 0) + n),
        on_dropped=lambda table, n: pytest.fail(f"{n} {table} rows dropped"),
    )
    ids = [f"req-{i}.0.p.v1" for i in range(7)]
    for i, prediction_id in enumerate(ids):
        assert plog.log_predictions(
            [prediction_id], [f"review {i}"], [0.9], [2], [0.0], "sentiment", "v1", "/v1/predict"
        )
    assert plog.log_feedback(ids[:2], ["positive", "negative"])
    plog.close()
    assert written == {PREDICTIONS: 7, FEEDBACK: 2}

    s3, root = fs.FileSystem.from_uri(s3_url)
    keys = [i.path for i in s3.get_file_info(fs.FileSelector(root, recursive=True)) if i.is_file]
    assert keys and all(k.startswith(f"{BUCKET}/log/") and k.endswith(".parquet") for k in keys)
    assert all("/date=" in k and "/." not in k for k in keys)  # no temporary object on a store

    predictions = read_log(s3_url, PREDICTIONS)
    assert sorted(predictions["id"]) == sorted(ids)
    assert set(predictions["role"]) == {"champion"}
    feedback = read_log(s3_url, FEEDBACK)
    assert dict(zip(feedback["id"], feedback["label"], strict=True)) == {
        ids[0]: "positive",
        ids[1]: "negative",
    }
