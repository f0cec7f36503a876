"""Lay out the shared test material from its public sources, for CI runners that lack ``../shared``.

The tests read the IMDB archive, the NASA-HTTP request trace and the JSON schemas of the CRDs and of
eksctl's ClusterConfig from ``$SENTIMENT_SHARED_DIR`` (default ``../shared``). Developers' machines
have that folder; a fresh GitHub runner does not, so CI builds it beside the checkout with `make shared`:

    python scripts/fetch_shared.py --dest ../shared [--imdb-archive PATH]

* IMDB: linked from ``--imdb-archive`` (CI caches the official download), else downloaded.
* NASA-HTTP (Kennedy Space Center, July and August 1995): the two public access logs from the
  Internet Traffic Archive, aggregated into requests per minute (``minute,count``, minutes without
  requests left out), as the tests expect: 3,461,612 requests.
* Schemas: files of the datreeio CRDs-catalog (one commit for all) and of eksctl, each pinned to a
  commit and checked against its sha256.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
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
    "https://raw.githubusercontent.com/eksctl-io/eksctl/009491b21c67635c70cc8bf3ecd266d39c63feda"
    "/pkg/apis/eksctl.io/v1alpha5/assets/schema.json"
)
EKSCTL_SHA256 = "a4ca67aa5d1dd8450af0512fa69206e6e308e6d3a4795b53a810c4a6fd3ff9bd"
# Every CRD schema is taken from one commit of the catalog (the one ../shared/README.md names).
CRDS_COMMIT = "7b1e26ef9deea49293714d204c1a2270aab1178f"
# Each CRD schema (path under schemas/crds/) and the sha256 of its content at that commit: KEDA,
# Prometheus Operator, Istio, Argo Rollouts and the Kubeflow spark-operator.
CRD_SHA256 = {
    "argoproj.io/analysisrun_v1alpha1.json": (
        "b670b1a88af5d742242b83993826e20c06a25a48116e4019e7bcc63af8986932"
    ),
    "argoproj.io/analysistemplate_v1alpha1.json": (
        "0954894b2a35edaabce26497bd732ef5c340a4cc93615744a88bc11668d1f39b"
    ),
    "argoproj.io/clusteranalysistemplate_v1alpha1.json": (
        "0954894b2a35edaabce26497bd732ef5c340a4cc93615744a88bc11668d1f39b"
    ),
    "argoproj.io/rollout_v1alpha1.json": "d8e5ccc2ab14aa91026ef41a81a3719e02c3f0b3fd377c428005f763e013b3b5",
    "keda.sh/clustertriggerauthentication_v1alpha1.json": (
        "700f0c13807093ba5b413b480bb6271cf20c2dd31bf8c4a918ec1926b5a6f346"
    ),
    "keda.sh/scaledjob_v1alpha1.json": "1576233840e65143b4cf2da7e0beb417c8fa938ae30849ff63cb326f0aa0f334",
    "keda.sh/scaledobject_v1alpha1.json": "f0e0801dd04d22c875ab14b2de908143d0b293430b8c2d5d71bafcf1a4e05b4e",
    "keda.sh/triggerauthentication_v1alpha1.json": (
        "6dc3be31e2517d33c178015e0a943c281ab9eedaa55701ef2eadddaf7b169c36"
    ),
    "monitoring.coreos.com/podmonitor_v1.json": (
        "a33fd47f73be948090327c6d2076f4739217111e1caf8a2999a5562c59eade9c"
    ),
    "monitoring.coreos.com/prometheusrule_v1.json": (
        "9cd71d75b714b541a0be960b46bd961dbf1f0106071381cd88f54dfe80b8bd9d"
    ),
    "monitoring.coreos.com/servicemonitor_v1.json": (
        "8978f86e2a7cb281a9ca7bc30d857e0553666658dfe062078c51e99d3f20cd14"
    ),
    "networking.istio.io/destinationrule_v1.json": (
        "332a84cc29b45551d9aa6d4282c108c4d99ff6d4fa62848ad74221226737b691"
    ),
    "networking.istio.io/gateway_v1.json": "1982366d33fe713f3f822ac01e141404a0a8f0635defddf4c78e272e9ece055b",
    "networking.istio.io/virtualservice_v1.json": (
        "ea15f5cb9aecbddaf722a05b0c2897381e8fd1d376fcaa0d4439d2de1f1c9264"
    ),
    "security.istio.io/authorizationpolicy_v1.json": (
        "fbcb75e9ef6cd0f8ca184c16dea7a29f540cb8b883012770b25e79f1357967b0"
    ),
    "security.istio.io/peerauthentication_v1.json": (
        "709036474de0fb0a939163bb1eaf014e3f83f65b9971cd505e08b7104aacbace"
    ),
    "sparkoperator.k8s.io/scheduledsparkapplication_v1beta2.json": (
        "9705eb9411ead370a593f97e477844e47facd44a14f78da7cec0b05ed834e2ba"
    ),
    "sparkoperator.k8s.io/sparkapplication_v1beta2.json": (
        "1a6d76000493a2650411f517e82f5fd14f56bcfecdc1c6e4333927bd48771d6e"
    ),
    "telemetry.istio.io/telemetry_v1.json": (
        "1eb24be6d9dd7ec1a3b10fbc254dab24be5e1a87557658a2a60187badfeec5bc"
    ),
}


def schema_files() -> dict[str, str]:
    """Every schema file (path under the shared folder) and its pinned download address."""
    files = {f"schemas/crds/{path}": f"{CRDS_REPO}/{CRDS_COMMIT}/{path}" for path in CRD_SHA256}
    files["schemas/eksctl/clusterconfig_v1alpha5.schema.json"] = EKSCTL_SCHEMA
    return files


def schema_sha256() -> dict[str, str]:
    """Every schema file (path under the shared folder) and the sha256 its download must have."""
    digests = {f"schemas/crds/{path}": digest for path, digest in CRD_SHA256.items()}
    digests["schemas/eksctl/clusterconfig_v1alpha5.schema.json"] = EKSCTL_SHA256
    return digests


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


def _download(url: str, dest: Path, sha256: str | None = None) -> Path:
    """Download ``url`` to ``dest`` atomically; with ``sha256``, a download of other content fails."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_suffix(dest.suffix + ".part")
    digest = hashlib.sha256()
    with urllib.request.urlopen(url, timeout=120) as response, tmp.open("wb") as out:
        while chunk := response.read(1 << 20):
            digest.update(chunk)
            out.write(chunk)
    if sha256 is not None and digest.hexdigest() != sha256:
        tmp.unlink()
        raise RuntimeError(f"{url} has sha256 {digest.hexdigest()}, expected {sha256}")
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

    digests = schema_sha256()
    for relative, url in schema_files().items():
        if not (dest / relative).is_file():
            _download(url, dest / relative, digests[relative])
    print(f"shared material ready in {dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
