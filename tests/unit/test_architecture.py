"""What the layout promises: the core imports no Kafka and reads no file; FaceGate's own errors
share one root."""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
from pathlib import Path

import gateway
from gateway.errors import FaceGateError

CORE = Path(gateway.__file__).parent / "core"
_IO_IMPORTS = {"pathlib", "os", "io", "shutil", "faust", "aiokafka", "kafka", "mode"}
_IO_CALLS = {"open", "read_text", "read_bytes", "write_text", "write_bytes", "glob", "iterdir"}


def _core_modules() -> list[Path]:
    return sorted(CORE.rglob("*.py"))


def test_the_core_imports_no_kafka_and_no_file_access() -> None:
    found = []
    for path in _core_modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            found += [f"{path.name}: {name}" for name in names if name.split(".")[0] in _IO_IMPORTS]
    assert found == []


def test_the_core_reads_and_writes_no_file() -> None:
    found = []
    for path in _core_modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call):
                func = node.func
                name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
                if name in _IO_CALLS:
                    found.append(f"{path.relative_to(CORE)}:{node.lineno} {name}")
    assert found == []


def test_every_error_facegate_defines_derives_from_one_root() -> None:
    errors = []
    for module_info in pkgutil.walk_packages(gateway.__path__, "gateway."):
        if module_info.name.endswith("__main__"):
            continue  # running it is the CLI
        module = importlib.import_module(module_info.name)
        for _, value in inspect.getmembers(module, inspect.isclass):
            if issubclass(value, BaseException) and value.__module__ == module.__name__:
                errors.append(value)
    assert len(errors) >= 10
    assert [e.__qualname__ for e in errors if not issubclass(e, FaceGateError)] == []


def test_no_test_module_imports_another() -> None:
    """Shared helpers live in tests/support (plain modules) and fixtures in conftest modules."""
    tests = Path(__file__).resolve().parents[1]
    found = []
    for path in sorted(tests.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("tests."):
                leaf = (node.module or "").rsplit(".", 1)[-1]
                if leaf.startswith("test_") or leaf == "conftest":
                    found.append(f"{path.relative_to(tests)}: {node.module}")
    assert found == []
