"""The manifest checks reject what they are for: each deliberately broken copy of ``deploy/`` (a
typo, a weakened deployment, a mutable tag, a scaler on nothing) fails with the problem named.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO_ROOT
from tests.unit.manifest_checks import (
    all_problems,
    eksctl_problems,
)
from tests.unit.manifest_render import (
    CLUSTER_CONFIG,
    K8S,
    _edit,
    _one,
    render,
)

pytestmark = pytest.mark.integration  # renders with kubectl kustomize


def _problems_of_copy(deploy: Path, overlay: str = "eks") -> list[str]:
    return all_problems(render(deploy / "k8s" / "overlays" / overlay))


def test_typo_in_a_core_field_fails(deploy_copy: Path) -> None:
    _edit(deploy_copy / "k8s" / "base" / "deployment.yaml", "readinessProbe:", "readinesProbe:")
    problems = _problems_of_copy(deploy_copy)
    assert any("Deployment/sentiment-api" in p and "readinesProbe" in p for p in problems), problems
    assert any("no readinessProbe" in p for p in problems), problems


@pytest.mark.parametrize(
    ("overlay", "old", "new", "problem"),
    [
        (
            "local",
            '            limits:\n              cpu: "1"\n              memory: 448Mi\n',
            "",
            "Deployment/sentiment-api container api: no limits.memory",
        ),
        (
            "eks",
            "readOnlyRootFilesystem: true",
            "readOnlyRootFilesystem: false",
            "Deployment/sentiment-api container api: readOnlyRootFilesystem is not true",
        ),
    ],
    ids=["no-limits", "writable-root"],
)
def test_a_weakened_deployment_fails(
    deploy_copy: Path, overlay: str, old: str, new: str, problem: str
) -> None:
    _edit(deploy_copy / "k8s" / "base" / "deployment.yaml", old, new)
    problems = _problems_of_copy(deploy_copy, overlay)
    assert problem in problems, problems


def test_latest_tag_fails(deploy_copy: Path) -> None:
    _edit(
        deploy_copy / "k8s" / "overlays" / "local" / "kustomization.yaml", "newTag: 0.1.0", "newTag: latest"
    )
    problems = _problems_of_copy(deploy_copy, "local")
    assert any("mutable tag 'latest'" in p for p in problems), problems


def test_typo_in_a_crd_field_fails(deploy_copy: Path) -> None:
    _edit(deploy_copy / "k8s" / "base" / "scaledobject.yaml", "minReplicaCount:", "minReplicas:")
    problems = _problems_of_copy(deploy_copy)
    assert any(p.startswith("ScaledObject/sentiment-api: spec:") and "minReplicas" in p for p in problems), (
        problems
    )


def test_unknown_top_level_field_on_a_crd_fails(deploy_copy: Path) -> None:
    _edit(deploy_copy / "k8s" / "base" / "servicemonitor.yaml", "spec:\n", "specs:\n  x: 1\nspec:\n")
    problems = _problems_of_copy(deploy_copy)
    assert any(p.startswith("ServiceMonitor/sentiment-api: <root>:") and "specs" in p for p in problems), (
        problems
    )


def test_scaledobject_on_a_missing_deployment_fails(deploy_copy: Path) -> None:
    _edit(
        deploy_copy / "k8s" / "base" / "scaledobject.yaml",
        "    kind: Deployment\n    name: sentiment-api\n",
        "    kind: Deployment\n    name: sentiment-apl\n",
    )
    problems = _problems_of_copy(deploy_copy)
    assert any("targets apps/v1 Deployment/sentiment-apl" in p for p in problems), problems


def test_second_scaledobject_on_the_same_deployment_fails() -> None:
    objects = render(K8S / "overlays" / "eks")
    duplicate = copy.deepcopy(_one(objects, "ScaledObject", "sentiment-api"))
    duplicate["metadata"]["name"] = "sentiment-api-predictive"
    problems = all_problems([*objects, duplicate])
    assert any("two HPAs would fight" in p for p in problems), problems


def test_missing_pdb_fails(deploy_copy: Path) -> None:
    _edit(deploy_copy / "k8s" / "base" / "kustomization.yaml", "  - pdb.yaml\n", "")
    assert "Deployment/sentiment-api: no PodDisruptionBudget selects its pods" in _problems_of_copy(
        deploy_copy
    )


def test_typo_in_the_eksctl_config_fails() -> None:
    config = yaml.safe_load(CLUSTER_CONFIG.read_text())
    config["managedNodeGroups"][0]["instanceTyp"] = config["managedNodeGroups"][0].pop("instanceType")
    problems = eksctl_problems(config)
    assert any("managedNodeGroups.0" in p and "instanceTyp" in p for p in problems), problems


def test_broken_kustomization_fails_with_kustomize_message(deploy_copy: Path) -> None:
    _edit(deploy_copy / "k8s" / "base" / "kustomization.yaml", "  - pdb.yaml\n", "  - pdb.yml\n")
    with pytest.raises(AssertionError, match=r"kubectl kustomize .* failed:\n.*pdb\.yml"):
        render(deploy_copy / "k8s" / "overlays" / "eks")


def test_deploy_guide_names_only_files_that_exist() -> None:
    guide = (REPO_ROOT / "docs" / "deploy-eks.md").read_text()
    paths = set(re.findall(r"(?<![\w/])((?:deploy|docs|\.github)/[\w./-]*[\w])", guide))
    assert "deploy/eks/cluster.yaml" in paths
    missing = sorted(p for p in paths if not (REPO_ROOT / p).exists())
    assert missing == [], f"docs/deploy-eks.md refers to missing files: {missing}"
