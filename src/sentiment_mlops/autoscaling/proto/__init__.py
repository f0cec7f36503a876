"""Generated gRPC modules for KEDA's external scaler contract (``externalscaler.proto``).

Regenerate after editing the proto, from the repository root::

    .venv/bin/python -m grpc_tools.protoc -I src/sentiment_mlops/autoscaling/proto \
        --python_out=src/sentiment_mlops/autoscaling/proto \
        --pyi_out=src/sentiment_mlops/autoscaling/proto \
        --grpc_python_out=src/sentiment_mlops/autoscaling/proto \
        src/sentiment_mlops/autoscaling/proto/externalscaler.proto
    sed -i 's/^import externalscaler_pb2/from . import externalscaler_pb2/' \
        src/sentiment_mlops/autoscaling/proto/externalscaler_pb2_grpc.py

(the ``sed`` turns protoc's top-level import into a package-relative one).
"""
