"""The vendor SDK stands on its own: it imports nothing from the gateway, depends on fastavro and
one Kafka client with version ranges, and the gateway depends on it (not the reverse)."""

from __future__ import annotations

import ast
import sys
import tomllib
from pathlib import Path

import facegate_sdk
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]
SDK = ROOT / "sdk"
PACKAGE = Path(facegate_sdk.__file__).parent
ALLOWED = {"facegate_sdk", "fastavro", "aiokafka"}


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                found.add("facegate_sdk")  # a relative import stays inside the package
            else:
                found.add(node.module or "")
    return found


def test_the_installed_package_is_the_one_in_sdk() -> None:
    assert PACKAGE == SDK / "facegate_sdk"


def test_the_sdk_imports_nothing_from_the_gateway() -> None:
    modules = sorted(PACKAGE.rglob("*.py"))
    assert len(modules) >= 5
    imported = {name: path.name for path in modules for name in _imports(path)}
    outside = {
        name: where
        for name, where in imported.items()
        if name.split(".")[0] not in ALLOWED | sys.stdlib_module_names | {"__future__"}
    }
    assert outside == {}, "the SDK imports only the standard library, fastavro and aiokafka"
    assert not [name for name in imported if name.split(".")[0] in {"gateway", "pydantic", "faust", "kafka"}]


def test_importing_the_sdk_loads_no_gateway_module() -> None:
    import subprocess

    code = "import sys, facegate_sdk; facegate_sdk.default_contract(); print(sorted(m for m in sys.modules if m.split('.')[0] in ('gateway', 'pydantic', 'faust')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=SDK)
    assert out.stdout.strip() == "[]"


def test_dependencies_are_fastavro_and_one_kafka_client_with_ranges() -> None:
    project = tomllib.loads((SDK / "pyproject.toml").read_text())["project"]
    assert project["name"] == "facegate-sdk" and project["version"] == facegate_sdk.__version__ == "0.3.0"
    requirements = [Requirement(r) for r in project["dependencies"]]
    assert sorted(r.name for r in requirements) == ["aiokafka", "fastavro"]
    for requirement in requirements:
        specs = {s.operator for s in requirement.specifier}
        assert "==" not in specs and ">=" in specs and "<" in specs, f"{requirement}: a range, not a pin"
    # The exact versions the gateway is tested with (constraints.txt) lie inside the ranges.
    pins = dict(line.split("==") for line in (ROOT / "constraints.txt").read_text().splitlines() if "==" in line)
    for requirement in requirements:
        assert requirement.specifier.contains(pins[requirement.name]), requirement


def test_the_gateway_depends_on_the_sdk() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    sdk = [Requirement(r) for r in project["dependencies"] if Requirement(r).name == "facegate-sdk"]
    assert [str(r.specifier) for r in sdk] == [f"=={facegate_sdk.__version__}"]
    install = (ROOT / "scripts" / "install").read_text()
    assert install.index("-e sdk/") < install.index("-e '.[dev]'"), "the SDK is installed before the gateway"


def test_gateway_sdk_is_an_alias_of_the_sdk() -> None:
    import gateway.sdk
    from gateway.sdk.producer import FaceGateProducer

    assert issubclass(FaceGateProducer, facegate_sdk.FaceGateProducer)
    for name in ("FaceCaptured", "CameraRegistration", "ConsentRecord", "Enrollment", "ShareRequest", "Purpose"):
        assert getattr(gateway.sdk, name) is getattr(facegate_sdk, name)
