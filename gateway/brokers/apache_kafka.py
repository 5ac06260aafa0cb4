"""Apache Kafka 4.x, assembled by Maven from Maven Central and run in KRaft mode on loopback.

`fetch_kafka` resolves org.apache.kafka:kafka_2.13 with its runtime dependencies into a
cache folder (one jar directory = the classpath). `KafkaBroker` formats KRaft storage and
starts one JVM: by default a combined broker+controller, optionally with a
SASL_PLAINTEXT/SCRAM-SHA-512 listener and the StandardAuthorizer, as the ACL tests need; or one
node of a `KafkaCluster`: a broker, a controller, or both (see docs/operations.md).
"""

from __future__ import annotations

import base64
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gateway.brokers.process import BrokerError, BrokerProcess, free_port, port_open

_POM = """<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>io.facegate</groupId>
  <artifactId>local-kafka</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka_2.13</artifactId>
      <version>{version}</version>
    </dependency>
    <dependency>
      <!-- routes Kafka's slf4j logging to log4j2, which writes the broker log -->
      <groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-slf4j-impl</artifactId>
      <version>2.24.3</version>
    </dependency>
  </dependencies>
</project>
"""

_LOG4J2 = """status = warn
appender.file.type = File
appender.file.name = file
appender.file.fileName = {log}
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = file
logger.kafka.name = kafka
logger.kafka.level = WARN
logger.apache.name = org.apache.kafka
logger.apache.level = WARN
"""

ADMIN_USER = "admin"
ADMIN_PASSWORD = "admin-secret"  # noqa: S105 - super user of a loopback test broker
SCRAM_MECHANISM = "SCRAM-SHA-512"


def random_cluster_id() -> str:
    """A KRaft cluster id as `kafka-storage random-uuid` prints it: 16 random bytes, base64url,
    never starting with "-" (Kafka's Uuid.randomUuid draws again too: it would read as an option)."""
    while (cluster_id := base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")).startswith("-"):
        pass
    return cluster_id


def process_rss(pid: int | None) -> int:
    """VmRSS of a process in bytes, from /proc (0 if it is gone)."""
    if pid is None:
        return 0
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def kafka_home(cache_dir: Path, version: str) -> Path:
    return cache_dir / f"kafka-{version}"


def fetch_kafka(cache_dir: Path, version: str, offline: bool = False) -> Path:
    """Resolve Kafka's jars with Maven into <cache>/kafka-<version>/libs (idempotent); returns libs."""
    home = kafka_home(cache_dir, version)
    libs = home / "libs"
    marker = home / ".complete"
    if marker.is_file() and any(libs.glob("kafka_2.13-*.jar")):
        return libs
    mvn = shutil.which("mvn")
    if mvn is None:
        raise BrokerError("Maven (mvn) is not installed; it fetches Apache Kafka, which runs on Java 17 or later")
    home.mkdir(parents=True, exist_ok=True)
    (home / "pom.xml").write_text(_POM.format(version=version))
    staging = home / "libs.partial"
    shutil.rmtree(staging, ignore_errors=True)
    cmd = [
        mvn, "-B", "-q", "-f", str(home / "pom.xml"), "dependency:copy-dependencies",
        "-DincludeScope=runtime", f"-DoutputDirectory={staging}",
    ]  # fmt: skip
    if offline:
        cmd.insert(1, "-o")
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise BrokerError(
            f"mvn could not fetch Apache Kafka {version}:\n{result.stdout[-3000:]}{result.stderr[-2000:]}"
        )
    shutil.rmtree(libs, ignore_errors=True)
    staging.rename(libs)
    marker.write_text(version)
    return libs


@dataclass
class KafkaBroker:
    """One combined broker+controller on 127.0.0.1, storage under `data_dir`."""

    libs: Path
    data_dir: Path
    port: int = field(default_factory=free_port)
    controller_port: int = field(default_factory=free_port)
    sasl: bool = False
    # TLS on the client listener: a PKCS#12 keystore (key + certificate) and the CA (PEM) the
    # broker trusts for its own inter-broker connection.
    tls_keystore: Path | None = None
    tls_password: str | None = None
    tls_truststore: Path | None = None
    heap: str = "512m"
    extra_config: dict[str, str] = field(default_factory=dict)
    java: str = "java"
    # One node of a cluster: its id and roles, the controller quorum ("id@host:port,..."), the
    # cluster id every node is formatted with, and the replication of the internal topics.
    node_id: int = 1
    roles: str = "broker,controller"
    quorum_voters: str | None = None
    cluster_id: str | None = None
    internal_replication: int = 1
    _process: BrokerProcess | None = field(default=None, init=False, repr=False)

    @property
    def is_broker(self) -> bool:
        return "broker" in self.roles.split(",")

    @property
    def is_controller(self) -> bool:
        return "controller" in self.roles.split(",")

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def listener(self) -> str:
        if self.tls_keystore is not None:
            return "SASL_SSL" if self.sasl else "SSL"
        return "SASL_PLAINTEXT" if self.sasl else "PLAINTEXT"

    def server_properties(self) -> dict[str, str]:
        listeners = []
        if self.is_broker:
            listeners.append(f"{self.listener}://127.0.0.1:{self.port}")
        if self.is_controller:
            listeners.append(f"CONTROLLER://127.0.0.1:{self.controller_port}")
        replicas = str(self.internal_replication)
        min_isr = str(min(2, self.internal_replication))
        props = {
            "process.roles": self.roles,
            "node.id": str(self.node_id),
            "controller.quorum.voters": self.quorum_voters or f"{self.node_id}@127.0.0.1:{self.controller_port}",
            "listeners": ",".join(listeners),
            "controller.listener.names": "CONTROLLER",
            "listener.security.protocol.map": ",".join(
                [
                    "CONTROLLER:PLAINTEXT",
                    "PLAINTEXT:PLAINTEXT",
                    "SASL_PLAINTEXT:SASL_PLAINTEXT",
                    "SSL:SSL",
                    "SASL_SSL:SASL_SSL",
                ]
            ),
            "log.dirs": str(self.data_dir / "log"),
            "num.partitions": "1",
            "auto.create.topics.enable": "false",
            # Internal topics (consumer offsets, transactions, share groups) as replicated as the
            # cluster allows: RF 3 and min ISR 2 on three brokers, 1/1 on one.
            "offsets.topic.replication.factor": replicas,
            "offsets.topic.num.partitions": "4",
            "transaction.state.log.replication.factor": replicas,
            "transaction.state.log.min.isr": min_isr,
            "transaction.state.log.num.partitions": "4",
            "share.coordinator.state.topic.replication.factor": replicas,
            "share.coordinator.state.topic.min.isr": min_isr,
            # Topics created without an explicit replication (Faust's, a client's) and the floor
            # of acks=all writes; an out-of-sync replica never becomes leader.
            "default.replication.factor": replicas,
            "min.insync.replicas": min_isr,
            "unclean.leader.election.enable": "false",
            "group.initial.rebalance.delay.ms": "0",
            "group.consumer.min.session.timeout.ms": "1000",
            "group.min.session.timeout.ms": "1000",
            # A local broker: look for compactable logs every second, not every 15 s, so an erased
            # enrollment leaves the compacted topic soon after its segment rolls.
            "log.cleaner.backoff.ms": "1000",
            # Likewise apply retention every second, not every 5 minutes: a topic given a short
            # retention.ms (tests of audit pruning) really loses its old segments soon after.
            "log.retention.check.interval.ms": "1000",
        }
        if self.is_broker:
            props["advertised.listeners"] = f"{self.listener}://127.0.0.1:{self.port}"
            props["inter.broker.listener.name"] = self.listener
        if self.tls_keystore is not None:
            props.update(
                {
                    "ssl.keystore.type": "PKCS12",
                    "ssl.keystore.location": str(self.tls_keystore),
                    "ssl.keystore.password": self.tls_password or "",
                    "ssl.key.password": self.tls_password or "",
                    "ssl.truststore.type": "PEM",
                    "ssl.truststore.location": str(self.tls_truststore),
                }
            )
        if self.sasl:
            props.update(
                {
                    "sasl.enabled.mechanisms": SCRAM_MECHANISM,
                    "sasl.mechanism.inter.broker.protocol": SCRAM_MECHANISM,
                    f"listener.name.{self.listener.lower()}.{SCRAM_MECHANISM.lower()}.sasl.jaas.config": (
                        "org.apache.kafka.common.security.scram.ScramLoginModule required "
                        f'username="{ADMIN_USER}" password="{ADMIN_PASSWORD}";'
                    ),
                    "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
                    # The controller listener is loopback PLAINTEXT: its principal is ANONYMOUS.
                    "super.users": f"User:{ADMIN_USER};User:ANONYMOUS",
                    "allow.everyone.if.no.acl.found": "false",
                }
            )
        props.update(self.extra_config)
        return props

    def _java(self, main: str, *args: str) -> list[str]:
        return [
            self.java, f"-Xms{self.heap}", f"-Xmx{self.heap}", "-XX:+UseG1GC",
            f"-Dlog4j2.configurationFile={self.data_dir / 'log4j2.properties'}",
            "-cp", f"{self.libs}/*", main, *args,
        ]  # fmt: skip

    def _write_config(self) -> Path:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        config = self.data_dir / "server.properties"
        config.write_text("".join(f"{k}={v}\n" for k, v in self.server_properties().items()))
        (self.data_dir / "log4j2.properties").write_text(_LOG4J2.format(log=self.data_dir / "server.log"))
        return config

    def format(self) -> None:
        config = self._write_config()
        cluster_id = self.cluster_id or random_cluster_id()
        args = ["format", "-t", cluster_id, "-c", str(config), "--ignore-formatted"]
        if self.sasl:
            # SCRAM credentials must exist before the first start: the broker itself logs in with them.
            args += ["--add-scram", f"{SCRAM_MECHANISM}=[name={ADMIN_USER},password={ADMIN_PASSWORD}]"]
        result = subprocess.run(
            self._java("kafka.tools.StorageTool", *args), capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            raise BrokerError(f"formatting KRaft storage failed:\n{result.stdout[-2000:]}{result.stderr[-2000:]}")

    def start(self, timeout: float = 120.0) -> None:
        """Format if needed, start, and wait until the broker answers metadata requests."""
        self.launch()
        self.wait_ready(timeout)

    def launch(self) -> None:
        """Format if needed and start the JVM, without waiting (a cluster starts its nodes together)."""
        if self.running():
            raise BrokerError(f"Kafka node {self.node_id} is already running")
        if (self.data_dir / "log" / "meta.properties").is_file():
            self._write_config()
        else:
            self.format()
        self._process = BrokerProcess(
            self._java("kafka.Kafka", str(self.data_dir / "server.properties")),
            self.data_dir / "stdout.log",
        )
        self._process.start()

    def wait_ready(self, timeout: float = 120.0) -> None:
        """A broker: until it answers metadata requests and lists itself; a controller: its port."""
        if self._process is None:
            raise BrokerError(f"Kafka node {self.node_id} was not started")
        if self.is_broker:
            ready = lambda: port_open(self.port) and self._answers()  # noqa: E731
        else:
            ready = lambda: port_open(self.controller_port)  # noqa: E731
        self._process.wait_until(ready, timeout, f"Apache Kafka node {self.node_id} ({self.roles})")

    def admin_config(self) -> dict[str, object]:
        """kafka-python client settings for the broker's super user."""
        config: dict[str, object] = {"bootstrap_servers": self.bootstrap_servers, "security_protocol": self.listener}
        if self.tls_truststore is not None:
            config["ssl_cafile"] = str(self.tls_truststore)
        if self.sasl:
            config.update(
                sasl_mechanism=SCRAM_MECHANISM,
                sasl_plain_username=ADMIN_USER,
                sasl_plain_password=ADMIN_PASSWORD,
            )
        return config

    def _answers(self) -> bool:
        from kafka.admin import KafkaAdminClient

        try:
            admin = KafkaAdminClient(request_timeout_ms=5000, **self.admin_config())
        except Exception:  # not yet accepting clients
            return False
        try:
            brokers = admin.describe_cluster()["brokers"]
            return any(b["broker_id"] == self.node_id for b in brokers)
        except Exception:
            return False
        finally:
            admin.close()

    def running(self) -> bool:
        return self._process is not None and self._process.running()

    def stop(self) -> int | None:
        return self._process.stop() if self._process else None

    def kill(self) -> None:
        """SIGKILL (kill -9): no controlled shutdown, the log is recovered at the next start."""
        if self._process:
            self._process.kill()

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process and self._process.running() else None

    def rss_bytes(self) -> int:
        """Resident memory of the JVM now (0 when not running)."""
        return process_rss(self.pid)

    def log_tail(self, lines: int = 60) -> str:
        try:
            return "\n".join((self.data_dir / "server.log").read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return self._process.log_tail(lines) if self._process else "(no log)"


CONTROLLER_ID = 100  # the dedicated controller's node id: never a broker id (brokers are 1..n)

# Every node of a local cluster: a killed broker is fenced (and loses its leaderships) within 6 s
# rather than the default 9 s; a follower that stops fetching leaves the ISR after 10 s, not 30 s.
# Two cores: fewer request threads than the defaults (3 network, 8 I/O), one replica fetcher.
CLUSTER_CONFIG = {
    "broker.heartbeat.interval.ms": "1000",
    "broker.session.timeout.ms": "6000",
    "replica.lag.time.max.ms": "10000",
    "num.network.threads": "2",
    "num.io.threads": "2",
    "num.replica.fetchers": "1",
    "background.threads": "2",
}


@dataclass
class KafkaCluster:
    """`brokers` Kafka brokers on 127.0.0.1 with ids 1..n, started and stopped together.

    Separate controller (the default): one controller-only node (id 100) and brokers that are only
    brokers, so losing brokers never loses the controller quorum: with two of three brokers down,
    the controller still fences them, shrinks the ISR to the survivor, and acks=all writes fail
    fast with NOT_ENOUGH_REPLICAS, and recover when a broker returns. `combined=True`: every node
    is broker and controller (a three-voter quorum), as small production clusters run; two nodes
    down then also lose the quorum, and writes hang instead of failing. docs/operations.md.

    Internal topics are replicated min(3, brokers) times with min ISR 2 (offsets, transactions,
    share groups; default.replication.factor and min.insync.replicas for everything created
    without explicit settings); unclean leader election is off.
    """

    libs: Path
    data_dir: Path
    brokers: int = 3
    combined: bool = False
    # Brokers listen on base_port, base_port+1, ...; controllers on the ports after them.
    base_port: int | None = None
    heap: str = "384m"
    controller_heap: str = "256m"
    extra_config: dict[str, str] = field(default_factory=dict)
    java: str = "java"
    nodes: dict[int, KafkaBroker] = field(init=False)
    controllers: list[KafkaBroker] = field(init=False)
    start_seconds: float = field(default=0.0, init=False)

    def __post_init__(self) -> None:
        if self.brokers < 1:
            raise ValueError("a cluster has at least one broker")
        ids = range(1, self.brokers + 1)

        def port_at(offset: int) -> int:
            return self.base_port + offset if self.base_port is not None else free_port()

        broker_ports = {i: port_at(i - 1) for i in ids}
        if self.combined:
            controller_ports = {i: port_at(self.brokers + i - 1) for i in ids}
        else:
            controller_ports = {CONTROLLER_ID: port_at(self.brokers)}
        voters = ",".join(f"{i}@127.0.0.1:{p}" for i, p in controller_ports.items())
        cluster_id = self._cluster_id()
        config = {**CLUSTER_CONFIG, **self.extra_config}

        def node(node_id: int, folder: str, port: int, controller_port: int, roles: str, heap: str) -> KafkaBroker:
            return KafkaBroker(
                self.libs, self.data_dir / folder, port=port, controller_port=controller_port, heap=heap,
                extra_config=config, java=self.java, node_id=node_id, roles=roles, quorum_voters=voters,
                cluster_id=cluster_id, internal_replication=min(3, self.brokers),
            )  # fmt: skip

        roles = "broker,controller" if self.combined else "broker"
        self.nodes = {
            i: node(i, f"node-{i}", broker_ports[i], controller_ports.get(i, 0), roles, self.heap) for i in ids
        }
        if self.combined:
            self.controllers = list(self.nodes.values())
        else:
            port_ = controller_ports[CONTROLLER_ID]
            self.controllers = [node(CONTROLLER_ID, "controller", 0, port_, "controller", self.controller_heap)]

    def _cluster_id(self) -> str:
        """One id for every node; kept with the storage so that a restart finds the same cluster."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        path = self.data_dir / "cluster.id"
        if path.is_file():
            return path.read_text().strip()
        cluster_id = random_cluster_id()
        path.write_text(cluster_id)
        return cluster_id

    @property
    def processes(self) -> list[KafkaBroker]:
        """Every JVM of the cluster: the dedicated controller (if any) and the brokers."""
        return [*(c for c in self.controllers if not c.is_broker), *self.nodes.values()]

    @property
    def bootstrap_servers(self) -> str:
        return ",".join(n.bootstrap_servers for n in self.nodes.values())

    def admin_config(self) -> dict[str, object]:
        return {"bootstrap_servers": self.bootstrap_servers, "security_protocol": "PLAINTEXT"}

    def start(self, timeout: float = 180.0) -> None:
        """Start every node together and wait until all brokers are registered and unfenced."""
        started = time.monotonic()
        deadline = started + timeout
        try:
            # Formatting runs a JVM per node too: launch the nodes side by side.
            with ThreadPoolExecutor(len(self.processes)) as pool:
                list(pool.map(KafkaBroker.launch, self.processes))
            for node in self.processes:
                node.wait_ready(max(1.0, deadline - time.monotonic()))
            self.wait_for(
                lambda: self.live_brokers() == set(self.nodes),
                deadline - time.monotonic(),
                f"all {self.brokers} brokers registered",
            )
        except BaseException:
            self.stop()
            raise
        self.start_seconds = time.monotonic() - started

    def stop(self) -> None:
        """Every broker together (one after the other, the last ones would wait for a controller
        quorum the first ones took away), then the dedicated controller."""
        with ThreadPoolExecutor(len(self.nodes)) as pool:
            list(pool.map(KafkaBroker.stop, self.nodes.values()))
        for node in self.controllers:
            node.stop()

    def running(self) -> bool:
        """Every node of the cluster is running."""
        return all(node.running() for node in self.processes)

    # -- one node -----------------------------------------------------------------------------
    def node(self, node_id: int) -> KafkaBroker:
        try:
            return self.nodes[node_id]
        except KeyError:
            raise BrokerError(f"no broker {node_id}: brokers are {sorted(self.nodes)}") from None

    def kill(self, node_id: int) -> None:
        """kill -9 one broker."""
        self.node(node_id).kill()

    def stop_node(self, node_id: int) -> int | None:
        """A clean (controlled) shutdown of one broker."""
        return self.node(node_id).stop()

    def start_node(self, node_id: int, timeout: float = 120.0) -> None:
        """Start a stopped or killed broker again on the same port and storage."""
        node = self.node(node_id)
        node.launch()
        node.wait_ready(timeout)

    def rss_bytes(self) -> dict[int, int]:
        """Resident memory per node id now (the dedicated controller under CONTROLLER_ID)."""
        return {node.node_id: node.rss_bytes() for node in self.processes}

    # -- what the cluster says ----------------------------------------------------------------
    def _admin(self) -> Any:
        from kafka.admin import KafkaAdminClient

        live = [n.bootstrap_servers for n in self.nodes.values() if n.running()]
        return KafkaAdminClient(
            bootstrap_servers=",".join(live) or self.bootstrap_servers,
            request_timeout_ms=5000,
            bootstrap_timeout_ms=5000,
        )

    def live_brokers(self) -> set[int]:
        """Broker ids the cluster metadata lists now (registered and not fenced)."""
        try:
            admin = self._admin()
        except Exception:  # no broker answers
            return set()
        try:
            return {b["broker_id"] for b in admin.describe_cluster()["brokers"]}
        except Exception:
            return set()
        finally:
            admin.close()

    def partitions(self, topic: str) -> dict[int, PartitionState]:
        """Leader, replicas and ISR of each partition of a topic, as the metadata says now."""
        admin = self._admin()
        try:
            [described] = admin.describe_topics([topic])
        finally:
            admin.close()
        if described.get("error_code"):
            raise BrokerError(f"cannot describe {topic}: error code {described['error_code']}")
        return {
            p["partition_index"]: PartitionState(p["leader_id"], tuple(p["replica_nodes"]), tuple(p["isr_nodes"]))
            for p in described["partitions"]
        }

    def leader(self, topic: str, partition: int) -> int:
        """The broker id that leads the partition (-1 while it has no leader)."""
        return self.partitions(topic)[partition].leader

    def wait_for(self, condition: Callable[[], bool], timeout: float, what: str) -> None:
        """Poll a condition on the cluster until it holds, or fail at the deadline."""
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise BrokerError(f"{what}: not reached within {timeout:.0f}s")
            time.sleep(0.2)  # polling interval

    def wait_for_leader(self, topic: str, partition: int, not_on: int | None = None, timeout: float = 60.0) -> int:
        """Wait until the partition has a leader (other than `not_on`); returns its id."""
        found: list[int] = []

        def elected() -> bool:
            try:
                leader = self.leader(topic, partition)
            except Exception:  # metadata briefly unavailable while leadership moves
                return False
            found[:] = [leader]
            return leader >= 0 and leader != not_on

        self.wait_for(elected, timeout, f"{topic}-{partition} led by a broker other than {not_on}")
        return found[0]

    def wait_in_sync(self, node_id: int, topics: list[str], timeout: float = 120.0) -> None:
        """Wait until `node_id` is in the ISR of every partition of `topics` it holds a replica of."""

        def in_sync() -> bool:
            try:
                states = [s for t in topics for s in self.partitions(t).values()]
            except Exception:
                return False
            return all(node_id in s.isr for s in states if node_id in s.replicas)

        self.wait_for(in_sync, timeout, f"broker {node_id} back in the ISR of {', '.join(topics)}")

    def log_tail(self, lines: int = 30) -> str:
        return "\n\n".join(f"== node {n.node_id} ==\n{n.log_tail(lines)}" for n in self.processes)


@dataclass(frozen=True)
class PartitionState:
    leader: int
    replicas: tuple[int, ...]
    isr: tuple[int, ...]
