"""``mlflow server`` on a free loopback port, supervised: a backend store and a proxied artifact
folder, as a team server runs (a database and a bucket there)."""

from __future__ import annotations

import sys
from pathlib import Path

from sentiment_mlops.processes import Supervised, free_port


class MlflowServer(Supervised):
    """One worker; ready when ``/health`` answers (up to 3 minutes on a loaded 2-core machine);
    stopped with the workers it started."""

    def __init__(self, folder: Path, backend_store_uri: str, ready_timeout: float = 240.0) -> None:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        argv = [
            str(Path(sys.executable).with_name("mlflow")),
            "server",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
            "--backend-store-uri",
            backend_store_uri,
            "--artifacts-destination",
            str(folder / "artifacts"),
        ]
        super().__init__(
            "mlflow server",
            argv,
            folder / "server.log",
            url=url,
            ready_url=f"{url}/health",
            ready_timeout=ready_timeout,
        )
