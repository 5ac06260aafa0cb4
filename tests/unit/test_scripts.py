"""The two commands work on a fresh machine: each script that installs the gateway installs the
vendor SDK first (the gateway depends on facegate-sdk, which no package index has)."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("script", ["scripts/demo", "scripts/install"])
def test_the_sdk_is_installed_before_the_gateway(script: str) -> None:
    lines = [
        line
        for line in (ROOT / script).read_text().splitlines()
        if "pip install" in line and "-c constraints.txt" in line
    ]
    sdk = [i for i, line in enumerate(lines) if "-e sdk/" in line]
    gateway = [i for i, line in enumerate(lines) if "-e ." in line or "-e '.[" in line]
    assert sdk and gateway and max(sdk) < min(gateway), lines
