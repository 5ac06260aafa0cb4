"""The worker image, built from the Dockerfile and run as a container, decides captures on Apache Kafka.

scripts/build-image builds it with buildah (vfs storage, chroot isolation): no Docker daemon, no
registry, no package index during the build (the base comes from Debian's packages, FaceGate and its
dependencies from a wheelhouse made beforehand; both cached, so a repeat run only rebuilds what
changed). The container runs the image's own entrypoint and command, as the image's user, with the
host's network (the session's broker on loopback), the code and configuration mounted read-only and
writable tmpfs only where the chart mounts emptyDirs (/tmp, the cache), the keyring as a read-only
file like the chart's Secret. It serves /readyz, decides a few captures whose audit records are read
back, and stops on SIGTERM with exit code 0, leaving no process behind.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from gateway.brokers.apache_kafka import KafkaBroker
from gateway.brokers.process import BrokerProcess, free_port
from gateway.contract.models import AuditRecord
from gateway.contract.vocabulary import Decision
from gateway.sdk.scenario import Capture, Traffic
from gateway.shell.local import LocalWorker
from tests.support.deployment import Deployment
from tests.support.kafka import Unique, eventually

pytestmark = pytest.mark.kafka

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / "scripts" / "build-image"
UID = 10001  # the Dockerfile's USER and the chart's runAsUser
KINDS = {"consenting-customer": 3, "stranger": 2, "masked": 1, "minor-without-guardian": 1}
READ_ONLY = ("usr", "etc", "opt", "var")  # bound read-only over the container's own directories
TMPFS = ("/tmp", "/var/cache/facegate")  # the chart's emptyDirs
INSTALLED = "import importlib.metadata as m; print('\\n'.join(f'{d.name}=={d.version}' for d in m.distributions()))"


def _norm(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def _pin(pins: dict[str, str], name: str) -> str:
    return next(v for n, v in pins.items() if _norm(n) == _norm(name))


@dataclass(frozen=True)
class Image:
    name: str
    buildah: list[str]  # buildah with the build's storage
    report: dict[str, Any]

    def inspect(self) -> dict[str, Any]:
        out = subprocess.run([*self.buildah, "inspect", "--type", "image", self.name], capture_output=True,
                             text=True, timeout=60, check=True)  # fmt: skip
        config: dict[str, Any] = json.loads(out.stdout)["OCIv1"]["config"]
        return config


@pytest.fixture(scope="module")
def image() -> Image:
    started = time.monotonic()
    run = subprocess.run([str(BUILD)], capture_output=True, text=True, timeout=1800, check=False)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-6000:]
    print(run.stderr, f"scripts/build-image took {time.monotonic() - started:.1f}s")
    report = json.loads(run.stdout.strip().splitlines()[-1])
    return Image(report["image"], ["buildah", *report["buildah"]], report)


def _session_processes(sid: int) -> dict[int, tuple[str, str, int]]:
    """Processes of a session: pid -> (root directory, argv[0], real uid)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            if int(stat.rsplit(")", 1)[1].split()[3]) != sid:  # fields after the command: state ppid pgrp session
                continue
            root = os.readlink(entry / "root")
            argv0 = (entry / "cmdline").read_bytes().split(b"\0")[0].decode(errors="replace")
            uid = int(next(line for line in (entry / "status").read_text().splitlines() if line.startswith("Uid:"))
                      .split()[1])  # fmt: skip
        except (OSError, ValueError, IndexError):
            continue  # exited meanwhile
        found[int(entry.name)] = (root, argv0, uid)
    return found


class ContainerWorker(LocalWorker):
    """The image's ENTRYPOINT and CMD in a buildah container (`buildah run`, chroot isolation), driven
    like a local worker: readiness, metrics and logs through its web port on the host's loopback."""

    def __init__(self, image: Image, name: str, workdir: Path, env: dict[str, str]) -> None:
        self.image, self.name, self.web_port = image, name, free_port()
        self.config = image.inspect()
        self.buildah = image.buildah
        self._buildah("from", "--pull=never", "--name", name, image.name)
        rootfs = self._buildah("mount", name).strip()
        keyring = workdir / "keyring"  # like the chart's Secret volume: a read-only file only the worker reads
        (Path(rootfs) / "etc/facegate/keyring").mkdir(parents=True)  # the mount point, in this container only
        keyring.mkdir()
        (keyring / "keyring.json").write_text(env.pop("FACEGATE_KEYRING"))
        os.chown(keyring / "keyring.json", UID, UID)
        os.chmod(keyring / "keyring.json", 0o400)
        env = {
            **env,
            "FACEGATE_KEYRING_FILE": "/etc/facegate/keyring/keyring.json",
            "FACEGATE_WEB_PORT": str(self.web_port),
            "FACEGATE_SESSION_TIMEOUT_MS": "6000",
        }
        env.pop("FACEGATE_CACHE_DIR", None)  # the image's own (/var/cache/facegate)
        self.env = env
        argv = [
            *self.buildah, "run", "--isolation", "chroot", "--network", "host",
            *(f"--mount=type=bind,source={rootfs}/{d},destination=/{d},ro=true" for d in READ_ONLY),
            f"--mount=type=bind,source={keyring},destination=/etc/facegate/keyring,ro=true",
            *(f"--mount=type=tmpfs,destination={d},tmpfs-mode=1777,tmpfs-size=256m" for d in TMPFS),
            *(f"--env={k}={v}" for k, v in env.items()),
            name, "--", *self.config["Entrypoint"], *self.config["Cmd"],
        ]  # fmt: skip
        self.process = BrokerProcess(argv, workdir / f"{name}.log")

    def _buildah(self, *args: str) -> str:
        run = subprocess.run([*self.buildah, *args], capture_output=True, text=True, timeout=120, check=False)
        assert run.returncode == 0, f"buildah {args[0]}: {run.stderr}"
        return run.stdout

    def processes(self) -> dict[int, tuple[str, str, int]]:
        """The container's processes: in buildah run's session, under another root than ours."""
        sid = self.process.pid
        if sid is None:
            return {}
        return {pid: p for pid, p in _session_processes(sid).items() if p[0] != "/"}

    def stop(self, timeout: float = 30.0) -> int | None:
        """Like `docker stop`: SIGTERM to the container's processes (buildah itself would SIGKILL
        them on a SIGTERM of its own), SIGKILL to everything after the grace period."""
        LocalWorker.running_instances.discard(self)
        for pid, (_, argv0, _) in self.processes().items():
            if argv0 != "buildah-chroot-exec":
                os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while self.process.running() and time.monotonic() < deadline:
            time.sleep(0.1)  # buildah run returns the worker's exit code once it has shut down
        return self.process.stop(timeout)  # the process group's SIGTERM, then SIGKILL, if it is still running

    def run_once(self, *argv: str) -> str:
        """A command in the container (as the image's user), before or after the worker."""
        return self._buildah("run", "--isolation", "chroot", "--network", "host", self.name, "--", *argv)

    def remove(self) -> None:
        self._buildah("rm", self.name)


@pytest.mark.timeout(2400)
def test_the_image_decides_captures_and_serves_readyz(
    image: Image, kafka: KafkaBroker, unique: Unique, tmp_path: Path
) -> None:
    print(json.dumps(image.report))  # the build's figures: how each part was made and how long it took
    size, unit = image.report["size"].split()
    assert unit == "MB" and float(size) < 1000, image.report["size"]  # the base (128 MB) and the venv
    config = image.inspect()
    assert config["User"] == f"{UID}:{UID}" and config["Entrypoint"] == ["facegate"]
    d = Deployment(kafka, unique, tmp_path)
    worker = ContainerWorker(image, f"facegate-{unique.token}"[:60], tmp_path, dict(d.env))
    d.workers.append(worker)
    code: int | None = None
    try:
        # The install is the pinned one: every distribution constraints.txt names is at its pin.
        installed = dict(line.split("==", 1) for line in worker.run_once("python", "-c", INSTALLED).splitlines())
        pins = dict(line.split("==", 1) for line in (ROOT / "constraints.txt").read_text().split() if "==" in line)
        assert {"facegate", "facegate-sdk"} <= set(installed)
        assert {n: v for n, v in installed.items() if _norm(n) in map(_norm, pins) and v != _pin(pins, n)} == {}

        started = time.monotonic()
        worker.start(timeout=120)  # returns once /readyz answers 200
        print(f"container ready in {time.monotonic() - started:.1f}s")
        assert worker.get("/readyz")[0] == 200

        # What the container is: the image's user without capabilities, in its own root.
        inside = worker.processes()
        entry = [p for p in inside.values() if p[1] != "buildah-chroot-exec"]
        assert entry and {uid for _, _, uid in inside.values()} == {UID}, inside
        assert all(root.endswith("/rootfs") for root, _, _ in inside.values()), inside
        [pid] = [pid for pid, p in inside.items() if p[1] != "buildah-chroot-exec" and "facegate" in
                 Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")]  # fmt: skip
        status = Path(f"/proc/{pid}/status").read_text()
        assert "CapEff:\t0000000000000000" in status, status

        asyncio.run(d.publish_world(worker))  # consents and enrollments: the worker's metric says when applied
        traffic = Traffic(d.world, seed=1919)
        items: list[Capture] = [traffic.make(kind) for kind, n in KINDS.items() for _ in range(n)]
        sent = {i.capture.event_id: i for i in items if i.capture is not None}
        asyncio.run(d.send(items))
        audits = d.audits(lambda found: set(sent) <= {a.event_id for a in found}, timeout=120)
        decided: dict[str, AuditRecord] = {}
        for audit in (a for a in audits if a.event_id in sent):  # consents and enrollments are audited too
            assert decided.setdefault(audit.event_id, audit).audit_id == audit.audit_id  # one decision each
        assert set(decided) == set(sent)
        for event_id, item in sent.items():
            assert decided[event_id].decision is item.expected.decision, (item.kind, decided[event_id].reason_codes)
            assert item.expected.rule in decided[event_id].rule_ids, (item.kind, decided[event_id].rule_ids)
        assert any(a.decision is Decision.FORWARDED for a in decided.values())
        worker.wait_until(lambda: worker.metric("facegate_decisions_total") >= len(items), 30, "every capture counted")
        assert worker.get("/readyz")[0] == 200
    finally:
        try:
            code = worker.stop()
            print(worker.log_tail(40))
            eventually(lambda: not worker.processes(), 10, "no process of the container left")
        finally:
            worker.kill()  # a no-op once stopped
            worker.remove()
    assert code == 0, f"the container exited with {code}"
