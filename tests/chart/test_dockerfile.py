"""The worker image's Dockerfile. No Docker engine runs here, so its install step is run as it
is written (the wheel, the pinned constraints, a fresh venv) and the result is used outside
the repository; the rest is checked as text."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = (ROOT / "Dockerfile").read_text()


def test_multi_stage_pinned_base_non_root() -> None:
    assert len(re.findall(r"^FROM ", DOCKERFILE, re.M)) == 2 and "AS build" in DOCKERFILE
    [base] = re.findall(r"^ARG PYTHON_IMAGE=(\S+)$", DOCKERFILE, re.M)
    assert re.fullmatch(r"python:\d+\.\d+\.\d+-slim-\w+(@sha256:[0-9a-f]{64})?", base), "an exact version"
    [user] = re.findall(r"^USER (\S+)$", DOCKERFILE, re.M)
    ids = yaml.safe_load((ROOT / "deploy/helm/facegate/values.yaml").read_text())["podSecurityContext"]
    assert user == f"{ids['runAsUser']}:{ids['runAsGroup']}" and ids["runAsUser"] != 0  # the chart's default
    assert DOCKERFILE.rstrip().endswith('CMD ["run", "--no-provision"]')


def test_the_install_step_is_the_pinned_one_ci_runs() -> None:
    install = (ROOT / "scripts" / "install").read_text()
    assert "pip install --no-cache-dir -c constraints.txt ." in DOCKERFILE
    assert "pip install -q -c constraints.txt -e '.[dev]'" in install


@pytest.mark.timeout(600)
def test_the_image_install_works_outside_the_repository(tmp_path: Path) -> None:
    """What the build stage does: install the package (not editable) with the constraints, then
    run it from elsewhere: the schemas and packs must be inside the wheel."""
    wheel_dir, venv = tmp_path / "wheel", tmp_path / "venv"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(wheel_dir), str(ROOT)], check=True
    )
    [wheel] = wheel_dir.glob("facegate-*.whl")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run(
        [str(venv / "bin/pip"), "install", "-q", "-c", str(ROOT / "constraints.txt"), str(wheel)], check=True
    )
    run = subprocess.run(
        [str(venv / "bin/facegate"), "schemas", "check"], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert run.returncode == 0 and "backward compatible" in run.stdout, run.stdout + run.stderr
    packs = subprocess.run(
        [str(venv / "bin/python"), "-c", "from gateway.files.packs import load_pack as l; print(l('bipa-il').id)"],
        cwd=tmp_path, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert packs.stdout.strip() == "bipa-il", packs.stderr
    assert not list((venv / "lib").glob("python*/site-packages/tests")), "tests are not shipped"
