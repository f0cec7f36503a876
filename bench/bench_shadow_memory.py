"""Memory of the API container with and without a shadow model: what deploy/k8s/components/shadow
must add to the pod's memory request and limit.

Both runs in one invocation, one after the other, with the image as Kubernetes runs it (podman,
read-only root, uid 10001, GUNICORN_WORKERS=2 as deploy/k8s/base/deployment.yaml): the plain
service, then the same image with a shadow, prepared exactly as the rendered release does it: the
init container's command (from ``deploy/render-overlay.sh`` with SHADOW_IMAGE) copies /app/model
into a folder that the API then mounts read-only and names in SENTIMENT_SHADOW_MODEL_URI. The
challenger is the image's own model: memory depends on the size of the weights, not their values.

Each run: ready, 20 s of load (4 client threads, one median-length review per POST), then the
cgroup's working set (usage minus inactive file cache, what the kubelet holds against the limit:
"steady"), then a SIGHUP reload under load (gunicorn's master reloads both models and replaces its
workers) and the cgroup's peak usage over the container's whole life ("peak", page cache
included, so an upper bound); plus RSS and PSS of every process in the container. cgroup v2
(memory.current, memory.peak) or v1 (memory.usage_in_bytes, memory.max_usage_in_bytes).

    python bench/bench_shadow_memory.py [--image sentiment-api:<version>]
        [--out reports/bench/shadow-memory.json]

Needs the image (`make image`) and podman (source ../shared/tools/container-env.sh).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from sentiment_mlops import __version__
from sentiment_mlops.config import Paths
from sentiment_mlops.files import atomic_write_json
from sentiment_mlops.processes import free_port

sys.path.insert(0, str(Path(__file__).resolve().parent))
from serve_inputs import median_reviews

ROOT = Path(__file__).resolve().parents[1]
LOAD_S = 20.0
THREADS = 4
PODMAN = ["podman", *shlex.split(os.environ.get("CONTAINER_RUNTIME_FLAGS", ""))]
REF = "111122223333.dkr.ecr.eu-west-1.amazonaws.com/sentiment-api@sha256:"
# Inside the container: RSS and PSS (MB) of every process, and the cgroup's memory files (bytes).
PROBE = r"""
import json, os, re
def kb(path, field):
    m = re.search(rf"^{field}:\s+(\d+) kB", open(path).read(), re.M)
    return int(m[1]) / 1024 if m else 0.0
procs = [p for p in os.listdir("/proc") if p.isdigit()]
out = {"processes": [{"pid": int(p), "rss_mb": round(kb(f"/proc/{p}/status", "VmRSS"), 1),
                      "pss_mb": round(kb(f"/proc/{p}/smaps_rollup", "Pss"), 1)} for p in procs]}
def read(*paths):
    for path in paths:
        try:
            return open(path).read()
        except OSError:
            pass
    return None
v1 = "/sys/fs/cgroup/memory/"
out["current"] = int(read("/sys/fs/cgroup/memory.current", v1 + "memory.usage_in_bytes"))
out["peak"] = int(read("/sys/fs/cgroup/memory.peak", v1 + "memory.max_usage_in_bytes"))
stat = dict(line.split() for line in read("/sys/fs/cgroup/memory.stat", v1 + "memory.stat").splitlines())
inactive = int(stat.get("inactive_file", stat.get("total_inactive_file", 0)))
out["working_set"] = out["current"] - inactive  # what the kubelet compares with the limit
out["anon"] = int(stat.get("anon", stat.get("total_rss", 0)))
print(json.dumps(out))
"""


def podman(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*PODMAN, *args], capture_output=True, text=True, check=check, timeout=600)


def rendered_pod() -> dict[str, Any]:
    """The API pod of the release with a shadow, as CD renders it (digests are placeholders)."""
    env = {
        **os.environ,
        "SHADOW_IMAGE": REF + "b" * 64,
        "KUBECTL": str(Path(sys.executable).parent / "kubectl"),
    }
    out = subprocess.run(
        [str(ROOT / "deploy" / "render-overlay.sh"), REF + "a" * 64],
        env=env, capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    (workload,) = [d for d in yaml.safe_load_all(out.stdout) if d and d["kind"] == "Deployment"]
    return dict(workload["spec"]["template"]["spec"])


def load(url: str, texts: list[str], seconds: float) -> int:
    """POST reviews from THREADS threads for ``seconds``; returns the number of answers."""
    stop, counts = time.monotonic() + seconds, [0] * THREADS

    def worker(k: int) -> None:
        i = k
        while time.monotonic() < stop:
            body = json.dumps({"text": texts[i % len(texts)]}).encode()
            request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(request, timeout=10) as response:
                response.read()
            counts[k] += 1
            i += THREADS

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(counts)


def wait_ready(base: str, name: str) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{base}/readyz", timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    sys.exit(f"{name} not ready:\n{podman('logs', name, check=False).stderr[-3000:]}")


def probe(name: str) -> dict[str, Any]:
    return dict(json.loads(podman("exec", name, "python3", "-c", PROBE).stdout))


def measure(image: str, texts: list[str], shadow_flags: list[str], label: str) -> dict[str, Any]:
    name, port = f"bench-shadow-memory-{label}-{os.getpid()}", free_port()
    base = f"http://127.0.0.1:{port}"
    podman("rm", "--force", name, check=False)
    podman(
        "run", "--detach", "--name", name, "--network=host", "--read-only", "--read-only-tmpfs=false",
        "--tmpfs", "/tmp", "--tmpfs", "/var/run/prometheus", "--tmpfs", "/var/lib/sentiment/prediction-log",
        "--env", f"GUNICORN_BIND=127.0.0.1:{port}", "--env", "GUNICORN_WORKERS=2",
        *shadow_flags, image,
    )  # fmt: skip
    try:
        wait_ready(base, name)
        if shadow_flags:
            with urllib.request.urlopen(f"{base}/metrics", timeout=5) as r:
                assert b"model_shadow_ready 1.0" in r.read(), "the shadow did not load"
        requests = load(f"{base}/v1/predict", texts, LOAD_S)
        steady = probe(name)
        # SIGHUP to gunicorn's master (pid 1) while the load goes on: both models reload.
        during = threading.Thread(target=load, args=(f"{base}/v1/predict", texts, 10.0))
        during.start()
        time.sleep(2)
        podman("kill", "--signal", "HUP", name)
        during.join()
        after = probe(name)
        mib = 2**20
        return {
            "requests": requests,
            "steady_mib": round(steady["working_set"] / mib, 1),
            "steady_anon_mib": round(steady["anon"] / mib, 1),
            "peak_mib": round(after["peak"] / mib, 1),
            "after_reload_mib": round(after["working_set"] / mib, 1),
            "pss_total_mb": round(sum(p["pss_mb"] for p in steady["processes"]), 1),
            "processes": steady["processes"],
        }
    finally:
        podman("stop", "--time", "10", name, check=False)
        podman("rm", "--force", name, check=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--image", default=f"sentiment-api:{__version__}")
    parser.add_argument("--out", type=Path, default=ROOT / "reports" / "bench" / "shadow-memory.json")
    args = parser.parse_args()
    load_at_start = [round(x, 2) for x in os.getloadavg()]
    pod = rendered_pod()
    (init,) = pod["initContainers"]
    (api,) = [c for c in pod["containers"] if c["name"] == "api"]
    (init_mount,) = init["volumeMounts"]
    (api_mount,) = [m for m in api["volumeMounts"] if m["name"] == init_mount["name"]]
    uri = next(e["value"] for e in api["env"] if e["name"] == "SENTIMENT_SHADOW_MODEL_URI")
    texts = median_reviews(Paths(ROOT), 200)
    with tempfile.TemporaryDirectory(prefix="shadow-emptydir-") as host:
        Path(host).chmod(0o777)  # an emptyDir is world-writable
        user = f"{init['securityContext']['runAsUser']}:{init['securityContext']['runAsGroup']}"
        podman(
            "run", "--rm", "--network=none", "--read-only", "--read-only-tmpfs=false", "--user", user,
            "--cap-drop", "ALL", "--volume", f"{host}:{init_mount['mountPath']}",
            "--entrypoint", json.dumps(init["command"]), args.image,
        )  # fmt: skip
        copied = Path(host) / Path(uri).relative_to(api_mount["mountPath"])
        model_bytes = sum(f.stat().st_size for f in copied.rglob("*") if f.is_file())
        shadow_flags = [
            "--volume", f"{host}:{api_mount['mountPath']}:ro", "--env", f"SENTIMENT_SHADOW_MODEL_URI={uri}",
        ]  # fmt: skip
        runs = {"plain": measure(args.image, texts, [], "plain")}
        runs["shadow"] = measure(args.image, texts, shadow_flags, "shadow")
    report = {
        "command": "python bench/bench_shadow_memory.py --image " + args.image,
        "load_average": {"start": load_at_start, "end": [round(x, 2) for x in os.getloadavg()]},
        "image": args.image,
        "gunicorn_workers": 2,
        "model_bytes": model_bytes,
        "runs": runs,
        "increase_mib": {
            "steady": round(runs["shadow"]["steady_mib"] - runs["plain"]["steady_mib"], 1),
            "peak": round(runs["shadow"]["peak_mib"] - runs["plain"]["peak_mib"], 1),
        },
    }
    atomic_write_json(args.out, report)
    for label, run in runs.items():
        print(f"{label:7s} steady {run['steady_mib']:7.1f} MiB  peak {run['peak_mib']:7.1f} MiB  "
              f"(PSS {run['pss_total_mb']} MB, {run['requests']} requests)")  # fmt: skip
    print(f"increase: {report['increase_mib']}  -> {args.out}")


if __name__ == "__main__":
    main()
