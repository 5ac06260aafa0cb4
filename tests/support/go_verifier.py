"""The Go verifier (verifier/), built once per source change into the tools cache and run."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from functools import cache
from pathlib import Path

import pytest

SOURCE = Path(__file__).resolve().parents[2] / "verifier"
TOOLS = Path(os.environ.get("FACEGATE_CACHE_DIR", Path.home() / ".cache" / "facegate")) / "tools"


def _go() -> str:
    found = shutil.which("go") or ("/usr/local/go/bin/go" if Path("/usr/local/go/bin/go").is_file() else None)
    if found is None:
        pytest.skip("Go is not installed (scripts/install needs it too)")  # a failure in CI
    return found


@cache
def verifier() -> Path:
    """The binary, named by a hash of its sources so an edit rebuilds it and a rerun does not."""
    digest = hashlib.sha256()
    for path in sorted(p for p in SOURCE.iterdir() if p.suffix in {".go", ".mod", ".sum"}):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    binary = TOOLS / f"facegate-verifier-{digest.hexdigest()[:16]}"
    if not binary.is_file():
        TOOLS.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "GOTOOLCHAIN": "local", "CGO_ENABLED": "0"}
        built = subprocess.run([_go(), "build", "-o", str(binary) + ".tmp", "."], cwd=SOURCE, env=env,
                               capture_output=True, text=True, timeout=600, check=False)  # fmt: skip
        assert built.returncode == 0, built.stderr
        os.replace(str(binary) + ".tmp", binary)  # atomic: a parallel run never sees half a file
    return binary


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(verifier()), *args], capture_output=True, text=True, timeout=120, check=False)
