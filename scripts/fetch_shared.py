"""Lay out the shared test material from its public sources, for CI runners that lack ``../shared``.

The tests read the IMDB archive, the NASA-HTTP request trace and the JSON schemas of the CRDs and of
eksctl's ClusterConfig from ``$SENTIMENT_SHARED_DIR`` (default ``../shared``). Developers' machines
have that folder; a fresh GitHub runner does not, so CI builds it beside the checkout with `make shared`:

    python scripts/fetch_shared.py --dest ../shared [--imdb-archive PATH]

* IMDB: linked from ``--imdb-archive`` (CI caches the official download), else downloaded.
* NASA-HTTP (Kennedy Space Center, July and August 1995): the two public access logs from the
  Internet Traffic Archive, aggregated into requests per minute (``minute,count``, minutes without
  requests left out), as the tests expect: 3,461,612 requests.
* Schemas: files of the datreeio CRDs-catalog and of eksctl, each pinned to a commit.
"""

from __future__ import annotations

import argparse
import gzip
import re
import sys
import urllib.request
from collections import Counter
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

IMDB_URL = "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz"
NASA_LOGS = (
    "ftp://ita.ee.lbl.gov/traces/NASA_access_log_Jul95.gz",
    "ftp://ita.ee.lbl.gov/traces/NASA_access_log_Aug95.gz",
)
NASA_REQUESTS = 3_461_612
TRACE = "data/traces/nasa_http_1995_per_minute.csv"

CRDS_REPO = "https://raw.githubusercontent.com/datreeio/CRDs-catalog"
EKSCTL_SCHEMA = (
    "https://raw.githubusercontent.com/eksctl-io/eksctl/3780ded3d23db759b5e15bc41afeea8e93219f5f"
    "/pkg/apis/eksctl.io/v1alpha5/assets/schema.json"
)
# Each CRD schema (path under schemas/crds/) and the catalog commit it is taken from.
CRD_COMMITS = {
    "keda.sh/scaledobject_v1alpha1.json": "f166234411b00eb6eabecc8184f576ce4137db57",
    "keda.sh/scaledjob_v1alpha1.json": "aa169a0839800095077090a4881a4185d826b310",
    "keda.sh/triggerauthentication_v1alpha1.json": "aa169a0839800095077090a4881a4185d826b310",
    "keda.sh/clustertriggerauthentication_v1alpha1.json": "aa169a0839800095077090a4881a4185d826b310",
    "monitoring.coreos.com/servicemonitor_v1.json": "303a98c77be9fb31961a2f7624a5aa00fc3e3d09",
    "monitoring.coreos.com/podmonitor_v1.json": "303a98c77be9fb31961a2f7624a5aa00fc3e3d09",
    "monitoring.coreos.com/prometheusrule_v1.json": "c21746ea01fb85c1aa85866fddf04352acff0ad6",
    "networking.istio.io/destinationrule_v1.json": "ef15fef6678f927fd13449a04e2d368ad2f7cbe0",
    "networking.istio.io/gateway_v1.json": "295fe681ed6032528a28247866a32cf5734182fa",
    "networking.istio.io/virtualservice_v1.json": "2fec1a9da9389cc08bc8977a4affc78004267acb",
    "security.istio.io/authorizationpolicy_v1.json": "5ab6ef95b3f877a9a6c22e50d9c9b6a09224fb1e",
    "security.istio.io/peerauthentication_v1.json": "c1733581c73a1780896ea95bcd2c6ea1ccef9af7",
    "telemetry.istio.io/telemetry_v1.json": "4508f85979a72b252afa7519980f0608ff59a131",
}


def schema_files() -> dict[str, str]:
    """Every schema file (path under the shared folder) and its pinned download address."""
    files = {f"schemas/crds/{path}": f"{CRDS_REPO}/{sha}/{path}" for path, sha in CRD_COMMITS.items()}
    files["schemas/eksctl/clusterconfig_v1alpha5.schema.json"] = EKSCTL_SCHEMA
    return files


# host - - [01/Jul/1995:00:00:01 -0400] "GET /history/apollo/ HTTP/1.0" 200 6245
_STAMP = re.compile(rb"\[(\d{2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}):\d{2} [-+]\d{4}\]")


def requests_per_minute(lines: Iterable[bytes]) -> Counter[str]:
    """Count log lines per minute of their timestamp (the server's local time, as logged)."""
    counts: Counter[str] = Counter()
    for line in lines:
        match = _STAMP.search(line)
        if match:
            minute = datetime.strptime(match[1].decode(), "%d/%b/%Y:%H:%M")
            counts[minute.strftime("%Y-%m-%d %H:%M:00")] += 1
    return counts


def write_trace(counts: Counter[str], dest: Path) -> None:
    """``minute,count`` rows in time order, written atomically."""
    tmp = dest.with_suffix(".tmp")
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tmp.open("w", encoding="utf-8") as out:
        out.write("minute,count\n")
        for minute in sorted(counts):
            out.write(f"{minute},{counts[minute]}\n")
    tmp.replace(dest)


def _download(url: str, dest: Path) -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_suffix(dest.suffix + ".part")
    with urllib.request.urlopen(url, timeout=120) as response, tmp.open("wb") as out:
        while chunk := response.read(1 << 20):
            out.write(chunk)
    tmp.replace(dest)
    return dest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dest", type=Path, required=True, help="the folder to lay out")
    parser.add_argument("--imdb-archive", type=Path, help="an IMDB archive already on disk")
    args = parser.parse_args(argv)
    dest: Path = args.dest

    imdb = dest / "data/imdb/aclImdb_v1.tar.gz"
    imdb.parent.mkdir(parents=True, exist_ok=True)
    if args.imdb_archive:
        if not args.imdb_archive.is_file():
            print(f"error: --imdb-archive {args.imdb_archive} is not a file", file=sys.stderr)
            return 2
        imdb.unlink(missing_ok=True)
        imdb.symlink_to(args.imdb_archive.resolve())
    elif not imdb.is_file():
        _download(IMDB_URL, imdb)

    trace = dest / TRACE
    if not trace.is_file():
        counts: Counter[str] = Counter()
        for url in NASA_LOGS:
            log = _download(url, dest / "downloads" / url.rsplit("/", 1)[-1])
            with gzip.open(log, "rb") as lines:
                counts.update(requests_per_minute(lines))
        total = sum(counts.values())
        if total != NASA_REQUESTS:
            print(f"error: NASA logs hold {total:,} requests, not {NASA_REQUESTS:,}", file=sys.stderr)
            return 1
        write_trace(counts, trace)

    for relative, url in schema_files().items():
        if not (dest / relative).is_file():
            _download(url, dest / relative)
    print(f"shared material ready in {dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
