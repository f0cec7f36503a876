"""pyproject.toml allows no runtime older than what generated code demands.

The gRPC stubs in autoscaling/proto check, at import, that protobuf and grpcio are at least the
versions that generated them; a lower floor in pyproject.toml lets an installer pick a version
that fails at the scaler's start. The versions are read from the generated files themselves, so
regenerating the stubs with a newer protoc makes this test ask for the new floors.
"""

from __future__ import annotations

import re
import tomllib

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

from tests.conftest import REPO_ROOT

PROTO = REPO_ROOT / "src" / "sentiment_mlops" / "autoscaling" / "proto"


def generated_needs() -> dict[str, Version]:
    """Package -> the oldest version the generated stubs accept."""
    pb2 = (PROTO / "externalscaler_pb2.py").read_text(encoding="utf-8")
    call = re.search(r"ValidateProtobufRuntimeVersion\(\s*[\w.]+,\s*(\d+),\s*(\d+),\s*(\d+),", pb2)
    grpc = re.search(
        r"GRPC_GENERATED_VERSION = '([\d.]+)'", (PROTO / "externalscaler_pb2_grpc.py").read_text()
    )
    assert call and grpc, "the generated stubs no longer state their runtime versions"
    needs = Version(".".join(call.groups()))
    return {
        "protobuf": needs,
        "grpcio": Version(grpc.group(1)),
        "grpcio-health-checking": Version(grpc.group(1)),
    }


def floor(requirement: Requirement) -> Version | None:
    """The lowest version the requirement admits from its >=, == or ~= clauses (None: unbounded)."""
    floors = [Version(s.version) for s in requirement.specifier if s.operator in (">=", "==", "~=")]
    floors += [Version(s.version) for s in requirement.specifier if s.operator == ">"]
    return max(floors, default=None)


def floor_problems(requirements: list[str], needs: dict[str, Version]) -> list[str]:
    found = []
    for line in requirements:
        req = Requirement(line)
        if req.name in needs:
            low = floor(req)
            if low is None or low < needs[req.name]:
                found.append(f"{line!r} admits versions below {needs[req.name]}")
    return found


def _pyproject_requirements() -> list[str]:
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return [
        *project["dependencies"],
        *(r for extra in project["optional-dependencies"].values() for r in extra),
    ]


def test_every_stub_runtime_is_required() -> None:
    named = {Requirement(r).name for r in _pyproject_requirements()}
    assert set(generated_needs()) <= named


def test_pyproject_floors_admit_only_runtimes_the_stubs_accept() -> None:
    assert floor_problems(_pyproject_requirements(), generated_needs()) == []


@pytest.mark.parametrize(
    "requirement",
    ["protobuf>=5.27", "grpcio>=1.64", "grpcio-health-checking>=1.64", "protobuf", "grpcio<2"],
)
def test_floors_below_the_generated_versions_are_caught(requirement: str) -> None:
    # The first three are what pyproject.toml said before: a fresh install could pick protobuf 5.
    assert floor_problems([requirement], generated_needs()) != []
