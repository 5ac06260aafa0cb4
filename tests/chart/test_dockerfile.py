"""The worker image's Dockerfile, checked as text, and its install step run as it is written (the
SDK's and the gateway's wheels, the pinned constraints, a fresh venv) with the result used outside
the repository. The image itself is built with buildah and run in tests/integration/test_image.py."""

from __future__ import annotations

import re
import subprocess
import sys
import zipfile
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
    """Both ways the build stage installs (from an index, from a wheelhouse) use the constraints CI
    tests with, and install the SDK (not on an index) with the gateway, as scripts/install does."""
    install = (ROOT / "scripts" / "install").read_text()
    build = (ROOT / "scripts" / "build-image").read_text()
    assert "COPY sdk ./sdk" in DOCKERFILE
    assert "pip install --no-cache-dir -c constraints.txt ./sdk ." in DOCKERFILE  # with an index
    assert "pip install --no-cache-dir --no-index --find-links ./wheels -c constraints.txt facegate" in DOCKERFILE
    assert re.search(r"^COPY \S+ wheel\[s\] \./wheels/$", DOCKERFILE, re.M), "the wheelhouse is optional"
    assert "pip install -q -c constraints.txt -e sdk/" in install
    assert "pip install -q -c constraints.txt -e '.[dev]'" in install
    # The wheelhouse: this checkout's two wheels, every dependency at its pin, and nothing from an index.
    assert 'pip wheel -q --no-deps -w "$CONTEXT/wheels" ./sdk .' in build
    assert re.search(r"pip download .*-c constraints\.txt facegate", build.replace("\\\n", " "))
    assert "--build-arg WHEELS=wheels" in build and "--pull=never" in build


@pytest.mark.timeout(600)
def test_the_image_install_works_outside_the_repository(tmp_path: Path) -> None:
    """What the build stage does: install the SDK's and the gateway's wheels (not editable) with the
    constraints, then run it from elsewhere: the schemas and packs must be inside the wheels."""
    wheel_dir, venv = tmp_path / "wheels", tmp_path / "venv"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(wheel_dir), str(ROOT / "sdk"), str(ROOT)],
        check=True,
    )
    assert {w.name.split("-")[0] for w in wheel_dir.glob("*.whl")} == {"facegate", "facegate_sdk"}
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run(
        [str(venv / "bin/pip"), "install", "-q", "--find-links", str(wheel_dir), "-c", str(ROOT / "constraints.txt"),
         "facegate"],
        check=True,
    )  # fmt: skip
    run = subprocess.run(
        [str(venv / "bin/facegate"), "schemas", "check"], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert run.returncode == 0 and "backward compatible" in run.stdout, run.stdout + run.stderr
    packs = subprocess.run(
        [str(venv / "bin/python"), "-c", "from gateway.files.packs import load_pack as l; print(l('bipa-il').id)"],
        cwd=tmp_path, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert packs.stdout.strip() == "bipa-il", packs.stderr
    # Our wheels ship no tests (a dependency may: cavro's wheel has three Cython files in tests/).
    shipped = [n for w in wheel_dir.glob("*.whl") for n in zipfile.ZipFile(w).namelist()]
    assert shipped and not [n for n in shipped if n.startswith("tests/")], "tests are not shipped"
