"""The Grafana dashboards: well formed, on the datasource variable, showing what operators need."""

from __future__ import annotations

import json
from typing import Any

# --- dashboards ---------------------------------------------------------------------------------


def _panels(panels: list[dict[str, Any]]) -> list[dict[str, Any]]:
    found = []
    for panel in panels:
        found.append(panel)
        found += _panels(panel.get("panels", []))
    return found


def test_dashboards_are_well_formed(dashboards) -> None:
    assert set(dashboards) == {
        "sentiment-service.json",
        "sentiment-model.json",
        "sentiment-autoscaling.json",
        "sentiment-istio.json",
    }
    uids = [dashboard["uid"] for dashboard in dashboards.values()]
    assert len(set(uids)) == len(uids) and all(uids)
    for name, dashboard in dashboards.items():
        assert dashboard["schemaVersion"] >= 39, name
        assert dashboard["title"], name
        variables = {var["name"]: var for var in dashboard["templating"]["list"]}
        assert variables["datasource"]["type"] == "datasource", name
        assert variables["datasource"]["query"] == "prometheus", name
        panels = _panels(dashboard["panels"])
        ids = [panel["id"] for panel in panels]
        assert len(ids) == len(set(ids)), f"{name}: duplicate panel ids"
        assert sum(1 for panel in panels if panel["type"] != "row") >= 5, name


def test_dashboards_use_only_the_datasource_variable(dashboards) -> None:
    def datasources(node: Any) -> list[Any]:
        if isinstance(node, dict):
            found = [node["datasource"]] if "datasource" in node else []
            return found + [d for value in node.values() for d in datasources(value)]
        if isinstance(node, list):
            return [d for item in node for d in datasources(item)]
        return []

    for name, dashboard in dashboards.items():
        for ds in datasources(dashboard["panels"]) + datasources(dashboard["templating"]):
            assert ds == {"type": "prometheus", "uid": "${datasource}"}, f"{name}: {ds}"


def test_dashboards_show_what_operators_need(dashboards) -> None:
    text = {name: json.dumps(d) for name, d in dashboards.items()}
    assert "p99_rate5m" in text["sentiment-service.json"]
    assert '"heatmap"' in text["sentiment-model.json"] and "model_info" in text["sentiment-model.json"]
    assert "model_baseline_positive_share" in text["sentiment-model.json"]
    for metric in ("kube_horizontalpodautoscaler_status_desired_replicas", "keda_scaler_metrics_value"):
        assert metric in text["sentiment-autoscaling.json"]
    assert "predictive_scaler_forecast_rps" in text["sentiment-autoscaling.json"]
    assert "istio_request_duration_milliseconds_bucket" in text["sentiment-istio.json"]
