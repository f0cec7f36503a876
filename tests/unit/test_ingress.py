"""What the internet can reach: the public entry points route the public API and nothing else.

Path matching follows each tool's documentation: a Kubernetes Ingress ``Prefix`` path matches
element-wise on ``/``-separated segments (``/v1`` matches ``/v1`` and ``/v1/predict``, not
``/v1x``), ``Exact`` matches the whole path; an Istio ``HTTPMatchRequest`` ``prefix`` is a plain
string prefix and ``exact`` the whole path. The NetworkPolicy must let Prometheus reach the port
it scrapes and open nothing to the load balancer's address range beyond the port the Ingress uses.
"""

from __future__ import annotations

import copy

import pytest

from tests.unit.manifest_render import K8S, Obj, _one, render, write_overlay

pytestmark = pytest.mark.integration  # renders with kubectl kustomize

PUBLIC = ["/v1/predict", "/predict", "/", "/version", "/v2", "/v2/models/sentiment/infer", "/v2/health/ready"]
OPERATIONAL = ["/metrics", "/openapi.json", "/healthz", "/readyz", "/metrics/", "/openapi.json?x=1"]


def ingress_routes(ingress: Obj, path: str) -> bool:
    """Whether any rule of a Kubernetes Ingress routes ``path`` (query string ignored)."""
    path = path.split("?", 1)[0]
    for rule in ingress["spec"].get("rules", []):
        for entry in rule.get("http", {}).get("paths", []):
            kind, prefix = entry["pathType"], entry.get("path", "/")
            if kind == "Exact" and path == prefix:
                return True
            if kind in {"Prefix", "ImplementationSpecific"}:
                want = [p for p in prefix.split("/") if p]
                have = [p for p in path.split("/") if p]
                if have[: len(want)] == want:
                    return True
    return "defaultBackend" in ingress["spec"]


def virtual_service_routes(service: Obj, path: str) -> bool:
    """Whether an Istio VirtualService sends ``path`` anywhere (no ``match`` matches everything)."""
    path = path.split("?", 1)[0]
    for route in service["spec"].get("http", []):
        matches = route.get("match")
        if not matches:
            return True
        for match in matches:
            uri = match.get("uri", {"prefix": "/"})
            if "exact" in uri and path == uri["exact"]:
                return True
            if "prefix" in uri and path.startswith(uri["prefix"]):
                return True
    return False


@pytest.fixture(scope="module")
def eks() -> list[Obj]:
    return render(K8S / "overlays" / "eks")


@pytest.fixture(scope="module")
def istio(tmp_path_factory: pytest.TempPathFactory) -> list[Obj]:
    overlay = write_overlay(
        tmp_path_factory.mktemp("istio"), K8S / "overlays" / "eks", [K8S / "components" / "istio"]
    )
    return render(overlay)


@pytest.mark.parametrize("path", PUBLIC + OPERATIONAL)
def test_the_alb_routes_only_the_public_api(eks: list[Obj], path: str) -> None:
    ingress = _one(eks, "Ingress", "sentiment-api")
    assert ingress["metadata"]["annotations"]["alb.ingress.kubernetes.io/scheme"] == "internet-facing"
    assert ingress_routes(ingress, path) is (path in PUBLIC)


@pytest.mark.parametrize("path", PUBLIC + OPERATIONAL)
def test_the_istio_gateway_routes_only_the_public_api(istio: list[Obj], path: str) -> None:
    public = _one(istio, "VirtualService", "sentiment-api-public")
    assert public["spec"]["gateways"] == ["sentiment-api"]
    assert virtual_service_routes(public, path) is (path in PUBLIC)


def test_the_old_catch_all_rules_are_rejected(eks: list[Obj], istio: list[Obj]) -> None:
    # The defect as it was: "/" Prefix on the ALB and the gateway routed /metrics to the internet.
    ingress = copy.deepcopy(_one(eks, "Ingress", "sentiment-api"))
    ingress["spec"]["rules"][0]["http"]["paths"] = [
        {
            "path": "/",
            "pathType": "Prefix",
            "backend": ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"],
        }
    ]
    public = copy.deepcopy(_one(istio, "VirtualService", "sentiment-api-public"))
    public["spec"]["http"][0]["match"] = [{"uri": {"prefix": "/"}}]
    for path in OPERATIONAL:
        assert ingress_routes(ingress, path) and virtual_service_routes(public, path)


def test_matching_follows_the_documented_semantics() -> None:
    prefix = {"spec": {"rules": [{"http": {"paths": [{"path": "/v1", "pathType": "Prefix"}]}}]}}
    assert ingress_routes(prefix, "/v1/predict") and ingress_routes(prefix, "/v1")
    assert not ingress_routes(prefix, "/v1x") and not ingress_routes(prefix, "/")
    istio_prefix = {"spec": {"http": [{"match": [{"uri": {"prefix": "/v1/"}}]}]}}
    assert virtual_service_routes(istio_prefix, "/v1/predict") and not virtual_service_routes(
        istio_prefix, "/v1x"
    )


def _peers_for_port(policy: Obj, port: str | int) -> list[Obj]:
    peers = []
    for rule in policy["spec"]["ingress"]:
        ports = [p["port"] for p in rule.get("ports", [])]
        if not ports or port in ports:
            peers += rule.get("from", [{}])
    return peers


def test_network_policy_matches_the_routing(eks: list[Obj], istio: list[Obj]) -> None:
    policy = _one(eks, "NetworkPolicy", "sentiment-api")
    ingress = _one(eks, "Ingress", "sentiment-api")
    backend_ports = {
        p["backend"]["service"]["port"]["name"] for r in ingress["spec"]["rules"] for p in r["http"]["paths"]
    }
    service = _one(eks, "Service", "sentiment-api")
    target = {p["name"]: p["targetPort"] for p in service["spec"]["ports"]}
    assert {target[p] for p in backend_ports} == {"http"}
    # The load balancer's range reaches the port the Ingress sends to, and no other.
    for rule in policy["spec"]["ingress"]:
        if any("ipBlock" in peer for peer in rule.get("from", [])):
            assert [p["port"] for p in rule["ports"]] == ["http"], rule
    # Prometheus ("monitoring") reaches the port the ServiceMonitor scrapes, with and without Istio.
    for objects in (eks, istio):
        monitor = _one(objects, "ServiceMonitor", "sentiment-api")
        svc = _one(objects, "Service", "sentiment-api")
        port = {p["name"]: p["targetPort"] for p in svc["spec"]["ports"]}[
            monitor["spec"]["endpoints"][0]["port"]
        ]
        peers = _peers_for_port(_one(objects, "NetworkPolicy", "sentiment-api"), port)
        monitoring = {"kubernetes.io/metadata.name": "monitoring"}
        assert (
            not peers
            or {} in peers
            or any(p.get("namespaceSelector", {}).get("matchLabels") == monitoring for p in peers)
        ), (port, peers)
