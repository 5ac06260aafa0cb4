"""The Helm chart: lint, render, strict Kubernetes schemas, checkov, and what a security review
asks of the rendered objects."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from gateway.contract.roles import Roles, acl_rules
from gateway.contract.topics import (
    DURABLE_KINDS,
    RETIRED,
    TopicKind,
    TopicNames,
    contract_topics,
    internal_topic_specs,
)
from gateway.files.calibrations import operator_calibrations
from gateway.settings import Settings
from tests.support.chart import CHART, KUBE_VERSION, VALUE_SETS, helm, of_kind, rendered, rendered_text, tool, values_of

BUILT_IN = {"ConfigMap", "Deployment", "Job", "NetworkPolicy", "PodDisruptionBudget", "Service", "ServiceAccount"}


def pod_specs(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [d["spec"]["template"]["spec"] for d in docs if d["kind"] in ("Deployment", "Job")]


def containers(spec: dict[str, Any]) -> list[dict[str, Any]]:
    return [*spec["containers"], *spec.get("initContainers", [])]


def worker_env(docs: list[dict[str, Any]]) -> dict[str, str]:
    [deployment] = of_kind(docs, "Deployment")
    [worker] = deployment["spec"]["template"]["spec"]["containers"]
    return {e["name"]: e["value"] for e in worker["env"] if "value" in e}


STRIMZI_SETS = [v for v in VALUE_SETS if values_of(v)["strimzi"]["enabled"]]


@pytest.mark.parametrize("value_set", VALUE_SETS)
def test_lint_is_clean(value_set: str) -> None:
    result = helm("lint", str(CHART), "--strict", "-f", str(CHART / "ci" / value_set))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("kube", ["1.29.0", "1.30.0", "1.31.0", "1.32.0", "1.33.0"])
@pytest.mark.parametrize("value_set", VALUE_SETS)
def test_objects_validate_strictly_against_kubernetes(value_set: str, kube: str) -> None:
    docs = rendered(value_set)
    built_in = [d for d in docs if d["kind"] in BUILT_IN]
    assert {d["kind"] for d in built_in} >= {"Deployment", "Service", "NetworkPolicy", "ConfigMap"}
    for doc in built_in:
        kubernetes_validate.validate(doc, kube, strict=True)
    unknown = {d["kind"] for d in docs} - BUILT_IN
    assert unknown <= {"ServiceMonitor", "PrometheusRule", "ScaledObject", "KafkaTopic", "KafkaUser"}


@pytest.mark.parametrize("value_set", VALUE_SETS)
def test_checkov_passes(value_set: str, tmp_path: Path) -> None:
    (tmp_path / "rendered.yaml").write_text(rendered_text(value_set))
    result = subprocess.run(
        [str(tool("checkov")), "-d", str(tmp_path), "--framework", "kubernetes", "-o", "json", "--quiet",
         "--skip-download", "--skip-check", "CKV_K8S_11"],  # CPU limits: see the chart README
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    report = json.loads(result.stdout)
    assert isinstance(report, dict) and report["summary"]["parsing_errors"] == 0, result.stdout[:500]
    failed = {c["check_id"] for c in report["results"]["failed_checks"]}
    values = values_of(value_set)
    allowed = set() if values["image"]["digest"] else {"CKV_K8S_43"}  # a tag, not a digest: reported, as it should be
    if values["openshift"]:
        allowed.add("CKV_K8S_40")  # no UID named: the SCC assigns one from the project's range (10^9 and up)
    assert failed <= allowed, failed
    assert report["summary"]["passed"] > 50 and report["summary"]["resource_count"] >= 8


@pytest.mark.parametrize("value_set", VALUE_SETS)
def test_every_pod_runs_restricted(value_set: str) -> None:
    specs = pod_specs(rendered(value_set))
    openshift = values_of(value_set)["openshift"]
    assert specs
    for spec in specs:
        assert spec["automountServiceAccountToken"] is False
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        ids = {k: spec["securityContext"].get(k) for k in ("runAsUser", "runAsGroup", "fsGroup")}
        assert ids == dict.fromkeys(ids) if openshift else dict.fromkeys(ids, 10001)
        for container in containers(spec):
            sc = container["securityContext"]
            assert sc["runAsNonRoot"] and sc["readOnlyRootFilesystem"] and not sc["allowPrivilegeEscalation"]
            assert sc["capabilities"] == {"drop": ["ALL"]} and sc["seccompProfile"]["type"] == "RuntimeDefault"
            assert sc.get("runAsUser") == (None if openshift else 10001)
            assert sc.get("runAsGroup") == (None if openshift else 10001)


HOOK = "helm.sh/hook"


def _hook(doc: dict[str, Any]) -> tuple[set[str], int] | None:
    """(events, weight) of a Helm hook; None for an ordinary release resource."""
    annotations = doc["metadata"].get("annotations") or {}
    if HOOK not in annotations:
        return None
    return set(annotations[HOOK].split(",")), int(annotations.get("helm.sh/hook-weight", "0"))


def _references(spec: dict[str, Any]) -> set[tuple[str, str]]:
    """(kind, name) of every object a pod spec names: its ServiceAccount, the ConfigMaps and
    Secrets of its volumes and of its containers' environment."""
    found = {("ServiceAccount", spec.get("serviceAccountName", "default"))}
    sources = [*spec.get("volumes", [])]
    sources += [s for v in spec.get("volumes", []) for s in v.get("projected", {}).get("sources", [])]
    for source in sources:
        if "configMap" in source:
            found.add(("ConfigMap", source["configMap"]["name"]))
        if "secret" in source:
            found.add(("Secret", source["secret"].get("secretName") or source["secret"]["name"]))
    for container in containers(spec):
        refs = [e.get("valueFrom", {}) for e in container.get("env", [])] + container.get("envFrom", [])
        for ref in refs:
            for key, kind in (("configMapKeyRef", "ConfigMap"), ("configMapRef", "ConfigMap"),
                              ("secretKeyRef", "Secret"), ("secretRef", "Secret")):  # fmt: skip
                if key in ref:
                    found.add((kind, ref[key]["name"]))
    found |= {("Secret", s["name"]) for s in spec.get("imagePullSecrets", [])}
    return found


@pytest.mark.parametrize("value_set", [v for v in VALUE_SETS if v not in STRIMZI_SETS])
@pytest.mark.parametrize("extra", [(), ("--set", "serviceAccount.name=mine")])
def test_what_a_hook_job_uses_exists_before_it_runs(value_set: str, extra: tuple[str, ...]) -> None:
    """Pre-install hooks run before any release resource exists (helm install would wait for a
    Job whose pods are refused): every object a hook Job names that the chart renders is a hook of
    the same events with a lower weight. The workers' ServiceAccount stays a release resource (a
    hook would be deleted and recreated on every upgrade, under the running workers)."""
    docs = rendered(value_set, *extra)
    by_name = {(d["kind"], d["metadata"]["name"]): d for d in docs}
    jobs = [j for j in of_kind(docs, "Job") if _hook(j)]
    assert jobs
    for job in jobs:
        events, weight = _hook(job) or (set(), 0)
        assert events >= {"pre-install", "pre-upgrade"}
        named = [by_name[r] for r in _references(job["spec"]["template"]["spec"]) if r in by_name]
        assert {d["kind"] for d in named} == {"ServiceAccount", "ConfigMap"}, "the Job's own and its roles"
        for doc in named:
            hook = _hook(doc)
            assert hook is not None, (doc["kind"], doc["metadata"]["name"])
            assert hook[0] >= events and hook[1] < weight, (doc["kind"], doc["metadata"]["name"])
    [deployment] = of_kind(docs, "Deployment")
    account = by_name["ServiceAccount", deployment["spec"]["template"]["spec"]["serviceAccountName"]]
    assert _hook(account) is None


def test_openshift_leaves_the_ids_to_the_scc_and_ids_can_be_chosen() -> None:
    """restricted-v2 refuses a UID outside the project's range: with openshift no id is named."""
    for value_set in VALUE_SETS:
        assert ("runAsUser" in rendered_text(value_set)) is not values_of(value_set)["openshift"]
    docs = rendered("minimal-values.yaml", "--set", "podSecurityContext.runAsUser=20000",
                    "--set", "podSecurityContext.fsGroup=20001")  # fmt: skip
    for spec in pod_specs(docs):
        assert spec["securityContext"]["runAsUser"] == 20000 and spec["securityContext"]["fsGroup"] == 20001
        assert all(c["securityContext"]["runAsUser"] == 20000 for c in containers(spec))


@pytest.mark.parametrize("value_set", VALUE_SETS)
def test_no_secret_is_inline_or_in_the_environment(value_set: str) -> None:
    docs = rendered(value_set)
    assert not of_kind(docs, "Secret")
    for spec in pod_specs(docs):
        for container in containers(spec):
            for env in container.get("env", []):
                assert "secretKeyRef" not in env.get("valueFrom", {}), env["name"]  # secrets are mounted files
                if not env["name"].endswith(("_FILE", "_DIR")):  # paths to mounted files are fine
                    assert not re.search(r"PASSWORD|SECRET|TOKEN|KEYRING", env["name"]), env["name"]
                assert not re.search(r"(?i)password|BEGIN .*PRIVATE", str(env.get("value", "")))
        secrets = [v["secret"]["secretName"] for v in spec["volumes"] if "secret" in v]
        assert all(v["secret"]["defaultMode"] in (0o400, 0o444) for v in spec["volumes"] if "secret" in v)
        assert secrets, "keys and credentials come from existing Secrets"


@pytest.mark.parametrize("value_set", VALUE_SETS)
def test_worker_probes_and_production_mode(value_set: str) -> None:
    [deployment] = of_kind(rendered(value_set), "Deployment")
    [worker] = deployment["spec"]["template"]["spec"]["containers"]
    assert worker["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert worker["livenessProbe"]["httpGet"]["path"] == "/healthz"
    # A large gallery's batch holds the event loop for up to ~1 s: no probe gives up on an answer sooner.
    assert all(worker[probe]["timeoutSeconds"] >= 5 for probe in ("startupProbe", "livenessProbe", "readinessProbe"))
    env = worker_env(rendered(value_set))
    assert env["FACEGATE_ENV"] == "production" and env["FACEGATE_POLICY_DIR"] == "/etc/facegate/policies"
    [policies] = [c for c in of_kind(rendered(value_set), "ConfigMap") if c["metadata"]["name"].endswith("-policies")]
    assert all(name.endswith(".yaml") and "tenant_id:" in text for name, text in policies["data"].items())


SECRETS_DIR = "FACEGATE_SECRETS_DIR"


@pytest.mark.parametrize(
    ("extra", "protocol"),
    [((), "SASL_SSL"),
     (("--set", "kafka.securityProtocol=SSL,kafka.sasl.existingSecret=,provisioning.adminSecret="), "SSL"),
     (("--set", "kafka.securityProtocol=PLAINTEXT,kafka.sasl.existingSecret=,provisioning.adminSecret="), "PLAINTEXT")],
)  # fmt: skip
def test_the_secrets_dir_is_set_only_where_credentials_are_mounted(extra: tuple[str, ...], protocol: str) -> None:
    """The settings refuse to load when FACEGATE_SECRETS_DIR names a missing folder: without a SASL
    Secret (SSL, PLAINTEXT) no container may name it, or every pod would crash-loop."""
    specs = pod_specs(rendered("minimal-values.yaml", *extra))
    assert len(specs) == 2  # the workers and the provisioning Job
    for spec in specs:
        for container in containers(spec):
            env = {e["name"]: e.get("value") for e in container["env"]}
            mounts = {m["mountPath"] for m in container["volumeMounts"]}
            assert (SECRETS_DIR in env) is protocol.startswith("SASL_"), container["name"]
            if SECRETS_DIR in env:
                assert env[SECRETS_DIR] in mounts


@pytest.mark.parametrize("value_set", VALUE_SETS)
def test_every_container_runs_in_production_mode(value_set: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The provisioning Job too: in production `topics create` refuses to create a topic with fewer
    replicas than configured (development creates it under-replicated, with a warning)."""
    from gateway.kafka.provisioning import strict

    specs = pod_specs(rendered(value_set))
    for spec in specs:
        for container in containers(spec):
            env = {e["name"]: e.get("value") for e in container["env"]}
            assert env.get("FACEGATE_ENV") == "production", container["name"]
            for name in list(os.environ):
                if name.startswith("FACEGATE_"):
                    monkeypatch.delenv(name)
            monkeypatch.setenv("FACEGATE_ENV", env["FACEGATE_ENV"])
            assert strict(Settings())


@pytest.mark.parametrize("value_set", VALUE_SETS)
def test_the_audit_log_is_named_by_the_values(value_set: str) -> None:
    """The log name signs every checkpoint regulators verify (docs/audit-format.md): chosen once per
    deployment as audit.logName, never the development default."""
    name = worker_env(rendered(value_set))["FACEGATE_AUDIT_LOG_NAME"]
    assert name == values_of(value_set)["audit"]["logName"]
    assert name != Settings.model_fields["audit_log_name"].default
    assert Settings(audit_log_name=name).audit_log_name == name


@pytest.mark.parametrize("value_set", VALUE_SETS)
def test_the_grace_period_outlasts_the_workers_drain(value_set: str) -> None:
    """Kubernetes kills a pod after its grace period: the batch in flight must finish before."""
    from gateway.shell.worker import DRAIN_SECONDS

    [deployment] = of_kind(rendered(value_set), "Deployment")
    assert deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] >= 2 * DRAIN_SECONDS


def test_keda_scales_on_the_workers_consumer_group_by_each_vendors_captures() -> None:
    """One kafka trigger per vendor capture topic (the scaler reads one topic per trigger), all on
    the workers' group; a vendor added by an upgrade gets its trigger in the same upgrade."""
    docs = rendered("production-values.yaml")
    [scaled] = of_kind(docs, "ScaledObject")
    [deployment] = of_kind(docs, "Deployment")
    env = worker_env(docs)
    names = TopicNames(env["FACEGATE_TOPIC_PREFIX"])
    triggers = scaled["spec"]["triggers"]
    vendors = json.loads(env["FACEGATE_VENDORS"])
    assert len(vendors) >= 2 and len(triggers) == len(vendors)
    assert [t["metadata"]["topic"] for t in triggers] == [names.captures(v) for v in vendors]
    for trigger in triggers:
        assert trigger["type"] == "kafka" and trigger["metadata"]["consumerGroup"] == env["FACEGATE_APP_ID"]
        assert trigger["authenticationRef"] == {"name": "kafka-sasl-auth"}
    assert "replicas" not in deployment["spec"], "KEDA owns the replica count"
    assert scaled["spec"]["maxReplicaCount"] <= int(env["FACEGATE_PARTITIONS"])
    added = of_kind(rendered("production-values.yaml", "--set-json", f"vendors={json.dumps([*vendors, 'axis'])}"),
                    "ScaledObject")  # fmt: skip
    assert added[0]["spec"]["triggers"][-1]["metadata"]["topic"] == names.captures("axis")


def test_network_policy_denies_all_but_dns_and_the_brokers() -> None:
    [policy] = of_kind(rendered("production-values.yaml"), "NetworkPolicy")
    spec = policy["spec"]
    assert set(spec["policyTypes"]) == {"Ingress", "Egress"}
    ports = {(p["port"], p["protocol"]) for rule in spec["egress"] for p in rule["ports"]}
    assert ports == {(53, "UDP"), (53, "TCP"), (9093, "TCP")}
    assert all(rule.get("to") for rule in spec["egress"]), "no rule may allow every destination"
    [ingress] = spec["ingress"]
    assert ingress["ports"] == [{"port": "http", "protocol": "TCP"}] and ingress["from"]


def _dns_rule(*args: str) -> tuple[list[dict[str, Any]], set[tuple[int, str]]]:
    [policy] = of_kind(rendered(*args), "NetworkPolicy")
    rule = policy["spec"]["egress"][0]
    return rule["to"], {(p["port"], p["protocol"]) for p in rule["ports"]}


def test_dns_egress_follows_the_platform_and_the_values() -> None:
    """kube-system's kube-dns on 53 by default; OpenShift's DNS pods are in openshift-dns and listen
    on 5353 behind the Service's 53 (a policy sees the pod's port); NodeLocal DNSCache's host-network
    pods match no selector: a CIDR of its address."""
    both = {"UDP", "TCP"}
    to, ports = _dns_rule("minimal-values.yaml")
    assert to == [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
                   "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}]  # fmt: skip
    assert ports == {(53, p) for p in both}
    assert values_of("openshift-values.yaml")["openshift"]
    to, ports = _dns_rule("openshift-values.yaml")
    assert to == [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "openshift-dns"}},
                   "podSelector": {"matchLabels": {"dns.operator.openshift.io/daemonset-dns": "default"}}}]  # fmt: skip
    assert ports == {(port, p) for port in (5353, 53) for p in both}
    given = {"namespaceSelector": {"name": "dns"}, "podSelector": {"app": "unbound"}, "ports": [5300],
             "cidrs": ["169.254.20.10/32"]}  # fmt: skip
    to, ports = _dns_rule("openshift-values.yaml", "--set-json", f"networkPolicy.dnsEgress={json.dumps(given)}")
    assert to == [{"namespaceSelector": {"matchLabels": {"name": "dns"}}, "podSelector": {"matchLabels": {"app": "unbound"}}},
                  {"ipBlock": {"cidr": "169.254.20.10/32"}}]  # fmt: skip
    assert ports == {(5300, p) for p in both}


def test_no_scraper_named_lets_nothing_reach_the_web_port() -> None:
    for value_set in ("minimal-values.yaml", "strimzi-values.yaml"):
        values = values_of(value_set)
        if values["networkPolicy"]["metricsFrom"].get("namespaceSelector") or values["networkPolicy"][
            "metricsFrom"
        ].get("podSelector"):
            continue
        [policy] = of_kind(rendered(value_set), "NetworkPolicy")
        assert policy["spec"]["ingress"] == [], "an ingress rule without `from` would admit every source"


def kafka_user_acls(docs: list[dict[str, Any]]) -> set[tuple[str, str, str, str, str]]:
    """(user, resource type, name, pattern type, operation) of every ACL the KafkaUsers carry."""
    found = set()
    users = of_kind(docs, "KafkaUser")
    assert len({u["metadata"]["name"] for u in users}) == len(users), "one KafkaUser per principal"
    for user in users:
        assert user["spec"]["authentication"] == {"type": "scram-sha-512"}
        for acl in user["spec"]["authorization"]["acls"]:
            res = acl["resource"]
            for op in acl["operations"]:
                found.add((user["metadata"]["name"], res["type"], res["name"], res["patternType"], op))
    return found


def roles_acls(values: dict[str, Any]) -> set[tuple[str, str, str, str, str]]:
    """What gateway/contract/roles.py grants the value set's roles, in KafkaUser terms."""
    roles = Roles.model_validate(values["provisioning"]["roles"])
    return {
        (r.principal.removeprefix("User:"), r.resource.lower(), r.name,
         "prefix" if r.pattern == "PREFIXED" else "literal", _strimzi_op(r.operation))
        for r in acl_rules(roles, values["kafka"]["topicPrefix"], values["appId"])
    }  # fmt: skip


@pytest.mark.parametrize("value_set", STRIMZI_SETS)
def test_strimzi_users_carry_exactly_the_roles_acls(value_set: str) -> None:
    assert kafka_user_acls(rendered(value_set)) == roles_acls(values_of(value_set))


@pytest.mark.parametrize("value_set", VALUE_SETS)
def test_the_sasl_username_comes_from_the_secret_or_a_value(value_set: str) -> None:
    """A Strimzi KafkaUser's Secret holds the password only (the username is the KafkaUser's name,
    and a missing key would keep the pod from starting): with kafka.sasl.username the username is a
    plain value and the Secret gives the password alone; the Strimzi examples name the gateway's
    KafkaUser so."""
    values = values_of(value_set)
    sasl = values["kafka"]["sasl"]
    docs = rendered(value_set)
    [deployment] = of_kind(docs, "Deployment")
    [volume] = [v for v in deployment["spec"]["template"]["spec"]["volumes"] if v["name"] == "kafka-credentials"]
    items = {i["path"]: i["key"] for i in volume["secret"]["items"]}
    username = worker_env(docs).get("FACEGATE_SASL_USERNAME")
    if values["strimzi"]["enabled"]:
        gateway = values["provisioning"]["roles"]["gateway"].removeprefix("User:")
        assert username == sasl["username"] == gateway
        assert gateway in {u["metadata"]["name"] for u in of_kind(docs, "KafkaUser")}
    if sasl.get("username"):
        assert items == {"facegate_sasl_password": sasl["passwordKey"]}
    else:
        assert username is None
        assert items == {"facegate_sasl_username": sasl["usernameKey"], "facegate_sasl_password": sasl["passwordKey"]}


def test_a_principal_in_two_roles_is_one_kafka_user_with_both() -> None:
    """A vendor that is also a tenant: one KafkaUser (a second of the same name would replace the
    first), carrying what roles.py grants the principal in each role."""
    extra = ("--set", "provisioning.roles.vendors.vendor-a=User:acme")
    values = values_of("strimzi-values.yaml")
    values["provisioning"]["roles"]["vendors"] = {"vendor-a": "User:acme"}
    found = kafka_user_acls(rendered("strimzi-values.yaml", *extra))
    assert found == roles_acls(values)
    assert ("acme", "topic", "facegate.faces.raw.vendor-a", "literal", "Write") in found
    assert ("acme", "topic", "facegate.consent.acme", "literal", "Write") in found


def test_each_tenant_and_vendor_writes_exactly_its_own_topics() -> None:
    """The topic is the writer's identity: a tenant's KafkaUser writes its four input topics and
    reads its governed and erasure topics, none of another tenant's and no shared one; a vendor's
    writes its own capture topic and nothing else. Every topic an ACL names is a KafkaTopic."""
    value_set = "openshift-values.yaml"
    values = values_of(value_set)
    docs = rendered(value_set)
    names = TopicNames(values["kafka"]["topicPrefix"])
    roles = values["provisioning"]["roles"]
    assert len(roles["tenants"]) >= 2 and len(roles["vendors"]) >= 2
    acls = kafka_user_acls(docs)

    def topics(user: str, op: str) -> set[str]:
        return {name for u, kind, name, pattern, o in acls if u == user and kind == "topic" and o == op}

    def literal(user: str) -> bool:
        return all(pattern == "literal" for u, kind, _, pattern, _ in acls if u == user and kind == "topic")

    for tenant, principal in roles["tenants"].items():
        user = principal.removeprefix("User:")
        own = {names.cameras(tenant), names.consent(tenant), names.enroll(tenant), names.share_requests(tenant)}
        assert topics(user, "Write") == own == set(names.tenant_inputs(tenant))
        assert topics(user, "Read") == {names.governed(tenant), names.erasure(tenant)}
        assert topics(user, "Describe") == own | topics(user, "Read") and literal(user)
        assert not topics(user, "Write") & set(names.retired)
    for vendor, principal in roles["vendors"].items():
        user = principal.removeprefix("User:")
        assert topics(user, "Write") == topics(user, "Describe") == {names.captures(vendor)} and literal(user)
        assert {o for u, *_, o in acls if u == user} == {"Write", "Describe"}
    gateway = roles["gateway"].removeprefix("User:")
    named = {name for u, kind, name, _, _ in acls if kind == "topic" and u != gateway}
    assert named <= {t["spec"]["topicName"] for t in of_kind(docs, "KafkaTopic")}


def _strimzi_op(operation: str) -> str:
    return "".join(part.capitalize() for part in operation.split("_"))


def test_strimzi_value_sets_are_the_ones_rendering_kafka_topics() -> None:
    assert len(STRIMZI_SETS) >= 2, "the contract comparison below needs value sets with their own topic settings"
    for value_set in VALUE_SETS:
        docs = rendered(value_set)
        assert bool(of_kind(docs, "KafkaTopic")) is (value_set in STRIMZI_SETS)
        assert bool(of_kind(docs, "Job")) is (value_set not in STRIMZI_SETS), "Strimzi provisions; no Job"


TOPIC_FIELDS = ("topic_prefix", "tenants", "vendors", "partitions", "replication_factor", "durable_replication_factor",
                "min_insync_replicas", "erased_bound_ms", *(
    f"{kind}_retention_ms" for kind in ("raw", "enroll", "governed", "rejected", "audit")))  # fmt: skip


def settings_of(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The worker's Settings as it builds them from the environment the chart gives it (the topic
    settings only: the other variables name files that exist only in the pod)."""
    for name in list(os.environ):
        if name.startswith("FACEGATE_"):
            monkeypatch.delenv(name)
    for field in TOPIC_FIELDS:
        monkeypatch.setenv(f"FACEGATE_{field.upper()}", env[f"FACEGATE_{field.upper()}"])
    return Settings()


DURABILITY = [(), ("--set", "kafka.replicationFactor=1"),
              ("--set", "kafka.replicationFactor=2,kafka.durableReplicationFactor=4,kafka.minInsyncReplicas=3")]  # fmt: skip


@pytest.mark.parametrize("durability", DURABILITY)
@pytest.mark.parametrize("value_set", STRIMZI_SETS)
def test_strimzi_topics_are_the_contract_topics(
    value_set: str, durability: tuple[str, ...], monkeypatch: pytest.MonkeyPatch
) -> None:
    """One source: the KafkaTopics are what `facegate topics create` (the Job) creates for the
    Settings the worker builds from the same values: names, partitions, each kind's replicas and
    every config (retentions, min.insync.replicas and unclean leader election included)."""
    docs = rendered(value_set, *durability)
    settings = settings_of(worker_env(docs), monkeypatch)
    expected = {
        s.name: (s.partitions, s.replication_factor, s.topic_config)
        for s in [*contract_topics(settings), *internal_topic_specs(settings)]
    }
    assert {s[1] for s in expected.values()} == (
        {3} if not durability else {settings.replication_factor, settings.durable_replication_factor}
    ), "the durable topics get more replicas than the inputs"
    topics = of_kind(docs, "KafkaTopic")
    found = {
        t["spec"]["topicName"]: (t["spec"]["partitions"], t["spec"]["replicas"], t["spec"]["config"]) for t in topics
    }
    assert found == expected
    strimzi = values_of(value_set)["strimzi"]
    for topic in topics:
        assert topic["metadata"]["namespace"] == strimzi["namespace"]
        assert topic["metadata"]["labels"]["strimzi.io/cluster"] == strimzi["cluster"]


def test_strimzi_topics_for_two_tenants_and_two_vendors(monkeypatch: pytest.MonkeyPatch) -> None:
    """Per-tenant input and output topics for each tenant, a capture topic for each vendor, the
    shared audit, rejected and internal topics, and none of the retired shared input topics:
    named independently here, and equal to the contract for the worker's Settings."""
    docs = rendered("strimzi-values.yaml", "--set-json", 'tenants=["acme","beta"]',
                    "--set-json", 'vendors=["vendor-a","vendor-b"]')  # fmt: skip
    settings = settings_of(worker_env(docs), monkeypatch)
    assert settings.tenants == ["acme", "beta"] and settings.vendors == ["vendor-a", "vendor-b"]
    found = {t["spec"]["topicName"]: t for t in of_kind(docs, "KafkaTopic")}
    per_tenant = ("cameras", "consent", "enroll", "share.requests", "governed", "erasure")
    assert set(found) == {
        *(f"facegate.{kind}.{tenant}" for kind in per_tenant for tenant in ("acme", "beta")),
        "facegate.faces.raw.vendor-a", "facegate.faces.raw.vendor-b",
        "facegate.audit", "facegate.rejected", "facegate.enrolled", "facegate.withdrawals",
    }  # fmt: skip
    assert not set(found) & set(TopicNames("facegate.").retired)
    specs = [*contract_topics(settings), *internal_topic_specs(settings)]
    assert {s.name: (s.partitions, s.replication_factor, s.topic_config) for s in specs} == {
        name: (t["spec"]["partitions"], t["spec"]["replicas"], t["spec"]["config"]) for name, t in found.items()
    }


@pytest.mark.parametrize("value_set", VALUE_SETS)
def test_every_policys_tenant_gets_its_topics(value_set: str) -> None:
    """A worker reads the input topics of every tenant it has a policy for: FACEGATE_TENANTS (the
    Job's topics, the KafkaTopics) is `tenants` and every policy's tenant_id."""
    values = values_of(value_set)
    policies = {yaml.safe_load(text)["tenant_id"] for text in values["policies"].values()}
    env = worker_env(rendered(value_set))
    assert json.loads(env["FACEGATE_TENANTS"]) == sorted(policies | set(values["tenants"]))
    assert json.loads(env["FACEGATE_VENDORS"]) == values["vendors"]


def test_a_policy_alone_brings_its_tenants_topics() -> None:
    docs = rendered("minimal-values.yaml", "--set", "policies.extra\\.yaml=tenant_id: extra")
    assert json.loads(worker_env(docs)["FACEGATE_TENANTS"]) == ["acme", "extra"]


LOOKUP = 'lookup "kafka.strimzi.io/v1beta2" "KafkaTopic" $ns $name'


@pytest.mark.parametrize("owner", ["rel", "another-release"])
def test_a_retired_shared_topic_is_left_to_the_operator(owner: str, tmp_path: Path) -> None:
    """Helm deletes a KafkaTopic it no longer renders, and Strimzi then deletes the topic: the
    chart renders this release's existing KafkaTopic of each retired shared input topic on,
    unmanaged and kept. helm template has no cluster to look up, so the lookup is replaced by one
    that finds each of them, made by `owner`."""
    chart = tmp_path / "facegate"
    shutil.copytree(CHART, chart)
    template = chart / "templates" / "strimzi.yaml"
    text = template.read_text()
    assert text.count(LOOKUP) == 2  # the retired topics' and the contract topics' partitions
    found = (
        '(dict "metadata" (dict "annotations" (dict "meta.helm.sh/release-name" "%s")) "spec" (dict '
        '"topicName" (printf "old:%%s" $name) "partitions" 12 "replicas" 3 "config" (dict "retention.ms" "1")))'
    )
    template.write_text(text.replace(LOOKUP, found % owner))
    result = helm(
        "template", "rel", str(chart), "--kube-version", "1.31.0", "-f", str(CHART / "ci" / "strimzi-values.yaml")
    )
    assert result.returncode == 0, result.stderr
    docs = of_kind([d for d in yaml.safe_load_all(result.stdout) if d], "KafkaTopic")
    kept = [t for t in docs if t["spec"]["topicName"].startswith("old:")]
    if owner != "rel":
        assert not kept, "another release's KafkaTopics are not this chart's to take"
        return
    assert [t["metadata"]["name"] for t in kept] == [f"facegate-{kind.replace('.', '-')}" for kind in RETIRED]
    for topic in kept:
        assert topic["metadata"]["annotations"] == {"strimzi.io/managed": "false", "helm.sh/resource-policy": "keep"}
        assert topic["spec"] == {"topicName": f"old:{topic['metadata']['name']}", "partitions": 12, "replicas": 3,
                                 "config": {"retention.ms": "1"}}  # fmt: skip
    managed = [t for t in docs if t not in kept]
    assert not {t["metadata"]["name"] for t in managed} & {t["metadata"]["name"] for t in kept}
    assert all("strimzi.io/managed" not in t["metadata"].get("annotations", {}) for t in managed)


@pytest.mark.parametrize("value_set", STRIMZI_SETS)
def test_uninstall_leaves_the_topics_that_cannot_be_recomputed(value_set: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Helm deletes the KafkaTopics of an uninstall or of a removed tenant, and Strimzi the topics
    with them: those of the durable kinds (audit, erasure notices, registries, outputs, dead letters,
    the gateway's state) are kept; the inputs (raw biometrics, an hour) go."""
    docs = rendered(value_set)
    settings = settings_of(worker_env(docs), monkeypatch)
    kinds = {s.name: s.kind for s in [*contract_topics(settings), *internal_topic_specs(settings)]}
    topics = of_kind(docs, "KafkaTopic")
    assert {kinds[t["spec"]["topicName"]] for t in topics} == set(TopicKind)
    for topic in topics:
        kept = topic["metadata"].get("annotations", {}).get("helm.sh/resource-policy") == "keep"
        assert kept is (kinds[topic["spec"]["topicName"]] in DURABLE_KINDS), topic["spec"]["topicName"]


def _existing_topics(tmp_path: Path, pattern: str, partitions: int) -> subprocess.CompletedProcess[str]:
    """A render of strimzi-values.yaml (12 partitions) on a cluster where the KafkaTopics whose
    names match `pattern` exist with `partitions`: helm template has no cluster, so the lookup is
    replaced by one that finds them."""
    chart = tmp_path / "facegate"
    shutil.copytree(CHART, chart)
    template = chart / "templates" / "strimzi.yaml"
    found = f'(ternary (dict "spec" (dict "partitions" {partitions})) (dict) (regexMatch "{pattern}" $name))'
    template.write_text(template.read_text().replace(LOOKUP, found))
    return helm(
        "template", "rel", str(chart), "--kube-version", "1.31.0", "-f", str(CHART / "ci" / "strimzi-values.yaml")
    )


@pytest.mark.parametrize("partitions", [6, 24])
def test_a_changed_partition_count_of_existing_co_partitioned_topics_is_refused(
    partitions: int, tmp_path: Path
) -> None:
    """Strimzi would grow a KafkaTopic to a changed kafka.partitions, and a key's records would land
    on two partitions (docs/operations.md, "Partitions"): the chart refuses, as topics create does."""
    result = _existing_topics(tmp_path, "^facegate-consent-acme$", partitions)
    assert result.returncode != 0
    assert (
        f"kafka.partitions is 12 but KafkaTopic facegate-consent-acme (facegate.consent.acme) has {partitions} "
        "partitions" in result.stderr
    ), result.stderr
    assert _existing_topics(tmp_path / "same", ".*", 12).returncode == 0


@pytest.mark.parametrize("partitions", [6, 24])
def test_outputs_and_dead_letters_may_grow_but_never_shrink(partitions: int, tmp_path: Path) -> None:
    result = _existing_topics(tmp_path, "^facegate-(rejected|governed-acme|erasure-acme)$", partitions)
    assert result.returncode == 0, result.stderr
    counts = {t["spec"]["topicName"]: t["spec"]["partitions"]
              for t in of_kind([d for d in yaml.safe_load_all(result.stdout) if d], "KafkaTopic")}  # fmt: skip
    grown = {"facegate.rejected", "facegate.governed.acme", "facegate.erasure.acme"}
    assert {name: counts[name] for name in grown} == dict.fromkeys(grown, max(12, partitions))
    assert all(count == 12 for name, count in counts.items() if name not in grown)


@pytest.mark.parametrize(
    ("overrides", "changes"),
    [(("--set-json", 'tenants=["acme","beta"]'), True), (("--set-json", 'vendors=["hik","axis"]'), True),
     (("--set", "replicaCount=3"), False)],
)  # fmt: skip
def test_a_new_tenant_or_vendor_rolls_the_workers(overrides: tuple[str, str], changes: bool) -> None:
    """Workers subscribe to their tenants' and vendors' topics at start: both are in the pod
    template (FACEGATE_TENANTS, FACEGATE_VENDORS), so an upgrade that adds one rolls them."""

    def template(*extra: str) -> dict[str, Any]:
        [deployment] = of_kind(rendered("minimal-values.yaml", *extra), "Deployment")
        return dict(deployment["spec"]["template"])

    assert (template(*overrides) != template()) is changes


@pytest.mark.parametrize("value_set", VALUE_SETS)
def test_the_retentions_reach_the_worker_and_the_job(value_set: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """kafka.retentionMs is what `facegate topics create` (the Job) and the worker are configured with."""
    docs = rendered(value_set)
    env = worker_env(docs)
    retention = values_of(value_set)["kafka"]["retentionMs"]
    settings = settings_of(env, monkeypatch)
    assert {k: getattr(settings, f"{k}_retention_ms") for k in retention} == retention
    for job in of_kind(docs, "Job"):
        for container in containers(job["spec"]["template"]["spec"]):
            job_env = {e["name"]: e.get("value") for e in container["env"]}
            assert {f"FACEGATE_{f.upper()}" for f in TOPIC_FIELDS} <= job_env.keys()
            assert all(job_env[f"FACEGATE_{f.upper()}"] == env[f"FACEGATE_{f.upper()}"] for f in TOPIC_FIELDS)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("keyring.existingSecret=", "keyring.existingSecret is required"),
        ("audit.logName=", "audit.logName is required"),
        ("audit.logName=a b", "audit/logName"),
        ("strimzi.enabled=true", "are exclusive"),
        ("kafka.egress.cidrs=null", "empty egress target would allow everything"),
        ("kafka.sasl.existingSecret=", "kafka.sasl.existingSecret is required"),
        ("provisioning.adminSecret=", "provisioning.adminSecret is required with provisioning.enabled and a SASL"),
        ("kafka.nonsense=1", "additional properties 'nonsense' not allowed"),
        ("image.digest=sha256:short", "image/digest"),
        ("kafka.retentionMs.audit=86400000", "kafka/retentionMs/audit"),  # R19: at least 3 years
        ("kafka.retentionMs.raw=1000", "kafka/retentionMs/raw"),
        ("podSecurityContext.runAsUser=0", "podSecurityContext/runAsUser"),
        # Secrets are mounted 0400 and readable only through the fsGroup (OpenShift's SCC assigns one)
        ("podSecurityContext.fsGroup=null", "podSecurityContext.fsGroup is required"),
        ("extraEnv[0].name=FACEGATE_ENV,extraEnv[0].value=development", "FACEGATE_ENV is set by the chart"),
        ("extraEnv[0].name=FACEGATE_TOPIC_PREFIX,extraEnv[0].value=x.", "FACEGATE_TOPIC_PREFIX is set by the chart"),
        (
            "extraEnv[0].name=X,extraEnv[0].valueFrom.secretKeyRef.name=s,extraEnv[0].valueFrom.secretKeyRef.key=k",
            "additional properties 'secretKeyRef' not allowed",
        ),
        ("extraEnv[0].name=FACEGATE_SASL_PASSWORD,extraEnv[0].value=x", "extraEnv/0/name"),
        # the settings read FACEGATE_* names in any case (test_the_settings_read_a_variables_name_in_any_case)
        ("extraEnv[0].name=facegate_env,extraEnv[0].value=development", "extraEnv: facegate_env is set by the chart"),
        ("extraEnv[0].name=Facegate_Topic_Prefix,extraEnv[0].value=x.", "Facegate_Topic_Prefix is set by the chart"),
        ("extraEnv[0].name=facegate_sasl_password,extraEnv[0].value=x", "extraEnv/0/name"),
        ("extraEnv[0].name=Facegate_Sasl_Token,extraEnv[0].value=x", "extraEnv/0/name"),
        ("fullnameOverride=Not_A_Name", "fullnameOverride"),
        (
            "calibrations.configMap=mine,calibrations.files.m\\.json=xy",
            "calibrations.configMap and calibrations.files are exclusive",
        ),
        ("calibrations.files.m\\.yaml=xy", "'m.yaml' does not match pattern"),  # calibration files are *.json
        ("vendors=null", "vendors must name at least one camera vendor"),
        ("vendors[0]=a.b", "vendors/0"),  # vendor ids name topics
        ("provisioning.roles.vendors.axis=User:axis", "provisioning.roles.vendors names axis, which is not in vendors"),
        ("provisioning.roles.vendors={User:hik}", "provisioning/roles/vendors"),  # 0.2's list: now id -> principal
        (
            "strimzi.enabled=true,provisioning.enabled=false,provisioning.roles.regulators[0]=User:Regulator_EU",
            "User:Regulator_EU cannot be a KafkaUser",
        ),
        (
            "strimzi.enabled=true,provisioning.enabled=false,kafka.sasl.username=other",
            "kafka.sasl.username other is not the gateway's KafkaUser facegate",
        ),
        ("provisioning.roles.tenants.beta=User:beta", "provisioning.roles.tenants names beta, which is neither"),
        ("policies.b\\.yaml=pack: gdpr-eu", "policies: b.yaml has no valid tenant_id"),
        ("policies.b\\.yaml=tenant_id: [", "policies: b.yaml is not YAML"),
        (
            "calibrations.configMap=mine,extraEnv[0].name=FACEGATE_CALIBRATION_DIR,extraEnv[0].value=/x",
            "FACEGATE_CALIBRATION_DIR is set by the chart",
        ),
        ("serviceMonitor.enabled=true", "needs networkPolicy.metricsFrom to name the Prometheus pods"),
        (
            "provisioning.roles.tenants.acme=User:a,provisioning.roles.tenants.acme-eu=User:b",
            "User:a's consumer groups (acme-...) include User:b's (acme-eu-",
        ),
    ],
)
def test_unsafe_or_unknown_values_are_refused(override: str, message: str) -> None:
    result = helm("template", "rel", str(CHART), "--kube-version", "1.31.0", "-f", str(CHART / "ci" / "minimal-values.yaml"),
                  "--set", override)  # fmt: skip
    assert result.returncode != 0 and message in result.stderr, result.stderr


def test_the_settings_read_a_variables_name_in_any_case(monkeypatch: pytest.MonkeyPatch) -> None:
    """Why extraEnv's names are compared with the chart's upper-cased: facegate_env would set the mode."""
    for name in list(os.environ):
        if name.upper().startswith("FACEGATE_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("facegate_env", "production")  # the default is development
    monkeypatch.setenv("Facegate_Topic_Prefix", "b.")
    assert Settings().env == "production" and Settings().topic_prefix == "b."


def test_two_topics_never_share_a_kafka_topic_name() -> None:
    """KafkaTopic names are lower case with '-' for '.' and '_': ids that differ only there would
    make two topics one resource; the chart refuses them."""
    result = helm("template", "rel", str(CHART), "--kube-version", "1.31.0", "-f", str(CHART / "ci" / "strimzi-values.yaml"),
                  "--set-json", 'tenants=["acme_eu","acme-eu"]')  # fmt: skip
    assert result.returncode != 0 and "would both be KafkaTopic facegate-cameras-acme-eu" in result.stderr


NAMED_BY_THE_CLUSTER = {"KafkaTopic", "KafkaUser"}  # named by topic and by principal, not by release


@pytest.mark.parametrize("value_set", VALUE_SETS)
def test_every_object_is_named_by_the_release_and_the_overrides(value_set: str) -> None:
    values = values_of(value_set)
    name = values["nameOverride"] or "facegate"
    fullname = values["fullnameOverride"] or f"rel-{name}"
    for doc in rendered(value_set):
        if doc["kind"] in NAMED_BY_THE_CLUSTER:
            continue
        meta = doc["metadata"]
        assert meta["name"] == fullname or meta["name"].startswith(f"{fullname}-"), (doc["kind"], meta["name"])
        labels = meta["labels"]
        assert labels["app.kubernetes.io/name"] == name and labels["app.kubernetes.io/instance"] == "rel"


def test_long_overrides_stay_within_the_label_limit() -> None:
    long = "a" * 63
    docs = rendered("minimal-values.yaml", "--set", f"fullnameOverride={long}")
    for name in (doc["metadata"]["name"] for doc in docs):
        assert len(name) <= 63 and name.startswith("a" * 40), name
    [job] = of_kind(docs, "Job")
    assert job["metadata"]["name"].endswith("-provision")  # the Job's name is its pods' job-name label
    [deployment] = of_kind(docs, "Deployment")
    volumes = deployment["spec"]["template"]["spec"]["volumes"]
    [policies] = [v["configMap"]["name"] for v in volumes if "configMap" in v]
    assert policies in {c["metadata"]["name"] for c in of_kind(docs, "ConfigMap")}


def test_extra_env_follows_the_charts_own_in_every_container() -> None:
    extra = [
        {"name": "TZ", "value": "UTC"},
        {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
    ]
    docs = rendered("minimal-values.yaml", "--set-json", f"extraEnv={json.dumps(extra)}")
    specs = pod_specs(docs)
    assert {d["kind"] for d in docs if d["kind"] in ("Deployment", "Job")} == {"Deployment", "Job"}
    for spec in specs:
        for container in containers(spec):
            assert container["env"][-2:] == extra, container["name"]
            names = [e["name"] for e in container["env"]]
            assert len(names) == len(set(names))
    kube = "1.33.0"
    for doc in docs:
        if doc["kind"] in BUILT_IN:
            kubernetes_validate.validate(doc, kube, strict=True)


def test_the_job_is_scheduled_where_the_workers_may_be() -> None:
    placement = {"nodeSelector": {"pool": "facegate"}, "tolerations": [{"key": "dedicated", "operator": "Exists"}],
                 "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                     {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}]}}},
                 "priorityClassName": "facegate-critical"}  # fmt: skip
    extra = [arg for key, value in placement.items() for arg in ("--set-json", f"{key}={json.dumps(value)}")]
    docs = rendered("minimal-values.yaml", *extra)
    [job] = of_kind(docs, "Job")
    [deployment] = of_kind(docs, "Deployment")
    for spec in (job["spec"]["template"]["spec"], deployment["spec"]["template"]["spec"]):
        assert {key: spec.get(key) for key in placement} == placement
    kubernetes_validate.validate(job, "1.33.0", strict=True)


def test_a_spread_constraint_without_a_selector_spreads_this_releases_workers() -> None:
    """The name label alone would count the provisioning Job's pods and another release's workers."""
    docs = rendered("production-values.yaml")
    [deployment] = of_kind(docs, "Deployment")
    spec = deployment["spec"]["template"]["spec"]
    [constraint] = spec["topologySpreadConstraints"]
    assert "labelSelector" not in values_of("production-values.yaml")["topologySpreadConstraints"][0]
    assert constraint["labelSelector"] == deployment["spec"]["selector"]
    assert set(constraint["labelSelector"]["matchLabels"]) == {
        "app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/component"}  # fmt: skip
    given = [{"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule",
              "labelSelector": {"matchExpressions": [{"key": "tier", "operator": "Exists"}]}}]  # fmt: skip
    [deployment] = of_kind(rendered("production-values.yaml", "--set-json", f"topologySpreadConstraints={json.dumps(given)}"),
                           "Deployment")  # fmt: skip
    assert deployment["spec"]["template"]["spec"]["topologySpreadConstraints"] == given


def _notes(tmp_path: Path, *extra: str) -> str:
    """NOTES.txt as helm install prints it (helm template leaves it out: rendered here as a ConfigMap)."""
    chart = tmp_path / "facegate"
    shutil.copytree(CHART, chart)
    notes = (chart / "templates" / "NOTES.txt").read_text()
    (chart / "templates" / "notes-as-configmap.yaml").write_text(
        '{{- define "test.notes" }}' + notes + "{{- end }}\n"
        'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: notes}\ndata:\n  notes: {{ include "test.notes" . | quote }}\n'
    )
    result = helm("template", "rel", str(chart), "--kube-version", "1.31.0", "-s", "templates/notes-as-configmap.yaml",
                  "-f", str(CHART / "ci" / "production-values.yaml"), *extra)  # fmt: skip
    assert result.returncode == 0, result.stderr
    return str(yaml.safe_load(result.stdout)["data"]["notes"])


def test_notes_warn_of_more_workers_than_partitions(tmp_path: Path) -> None:
    """A worker decides whole partitions: more workers than partitions leaves some idle."""
    values = values_of("production-values.yaml")
    assert values["keda"]["maxReplicas"] == values["kafka"]["partitions"] == 12
    assert "WARNING" not in _notes(tmp_path / "a")
    assert "WARNING: up to 16 workers (keda.maxReplicas) for 12 partitions" in _notes(
        tmp_path / "b", "--set", "keda.maxReplicas=16"
    )
    assert "WARNING: up to 13 workers (replicaCount) for 12 partitions" in _notes(
        tmp_path / "c", "--set", "keda.enabled=false,replicaCount=13"
    )
    assert "WARNING" not in _notes(tmp_path / "d", "--set", "keda.enabled=false,replicaCount=12")


def _search_threads(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every OMP_NUM_THREADS entry of every container, with the container's name."""
    return [
        {"container": c["name"], **e}
        for spec in pod_specs(docs)
        for c in containers(spec)
        for e in c.get("env", [])
        if e["name"] == "OMP_NUM_THREADS"
    ]


def test_a_large_gallerys_search_uses_the_cpus_the_worker_requested() -> None:
    """Without a CPU limit (the default) a pod sees every CPU of its node: the worker's search
    threads come from its CPU request instead (the downward API rounds 500m up to 1), unless the
    operator sets them, and are not set when no CPU is requested."""
    docs = rendered("minimal-values.yaml")
    [deployment] = of_kind(docs, "Deployment")
    [worker] = deployment["spec"]["template"]["spec"]["containers"]
    field = {"containerName": worker["name"], "resource": "requests.cpu", "divisor": "1"}
    assert values_of("minimal-values.yaml")["resources"]["requests"]["cpu"]
    assert _search_threads(docs) == [
        {"container": worker["name"], "name": "OMP_NUM_THREADS", "valueFrom": {"resourceFieldRef": field}}
    ]

    given = [{"name": "OMP_NUM_THREADS", "value": "2"}]
    docs = rendered("minimal-values.yaml", "--set-json", f"extraEnv={json.dumps(given)}")
    assert {e["container"] for e in _search_threads(docs)} == {
        c["name"] for s in pod_specs(docs) for c in containers(s)
    }
    assert all(e["value"] == "2" and "valueFrom" not in e for e in _search_threads(docs))
    for doc in docs:
        if doc["kind"] in BUILT_IN:
            kubernetes_validate.validate(doc, "1.33.0", strict=True)

    assert _search_threads(rendered("minimal-values.yaml", "--set", "resources.requests.cpu=null")) == []
    assert _search_threads(rendered("minimal-values.yaml", "--set", "resources=null")) == []
    for zero in ("0", "0m", "0.0", "0k", "0Ki", "0n", "0e3", "+0"):  # would give 0, which OpenMP ignores
        assert _search_threads(rendered("minimal-values.yaml", "--set-string", f"resources.requests.cpu={zero}")) == []
    for some in ("0.5", "2", "500m", "1e0", "0.001"):
        assert _search_threads(rendered("minimal-values.yaml", "--set-string", f"resources.requests.cpu={some}"))


def _annotations(docs: list[dict[str, Any]]) -> dict[str, str]:
    [deployment] = of_kind(docs, "Deployment")
    return dict(deployment["spec"]["template"]["metadata"]["annotations"])


def test_a_changed_policy_restarts_the_workers() -> None:
    """The pod template carries the policies' checksum: a changed policy rolls the Deployment,
    an unrelated value does not touch it."""
    before = _annotations(rendered("minimal-values.yaml"))["checksum/policies"]
    changed = _annotations(rendered("minimal-values.yaml", "--set", "policies.extra\\.yaml=tenant_id: extra"))
    unrelated = _annotations(rendered("minimal-values.yaml", "--set", "replicaCount=3"))
    assert changed["checksum/policies"] != before and unrelated["checksum/policies"] == before


def test_a_changed_inline_calibration_restarts_the_workers() -> None:
    before = _annotations(rendered("production-values.yaml"))["checksum/calibrations"]
    changed = _annotations(
        rendered("production-values.yaml", "--set-string", "calibrations.files.other\\.json=changed")
    )["checksum/calibrations"]
    assert changed != before


@pytest.mark.parametrize("value_set", VALUE_SETS)
def test_operator_calibrations_are_mounted_as_the_calibration_dir(value_set: str, tmp_path: Path) -> None:
    """calibrations.configMap or .files: the worker's FACEGATE_CALIBRATION_DIR is that ConfigMap,
    mounted read-only, and the files the chart renders load as the worker loads them; none: no
    folder (the worker knows the shipped models only)."""
    docs = rendered(value_set)
    calibrations = values_of(value_set)["calibrations"]
    [deployment] = of_kind(docs, "Deployment")
    spec = deployment["spec"]["template"]["spec"]
    [worker] = spec["containers"]
    mounts = {m["name"]: m for m in worker["volumeMounts"]}
    volumes = {v["name"]: v for v in spec["volumes"]}
    folder = worker_env(docs).get("FACEGATE_CALIBRATION_DIR")
    if not calibrations["configMap"] and not calibrations["files"]:
        assert folder is None and "calibrations" not in mounts and "calibrations" not in volumes
        return
    assert mounts["calibrations"] == {"name": "calibrations", "mountPath": folder, "readOnly": True}
    name = volumes["calibrations"]["configMap"]["name"]
    if calibrations["configMap"]:
        assert name == calibrations["configMap"]
        assert not [c for c in of_kind(docs, "ConfigMap") if c["metadata"]["name"].endswith("-calibrations")]
        if values_of(value_set)["reloader"]["enabled"]:
            assert deployment["metadata"]["annotations"]["configmap.reloader.stakater.com/reload"] == name
        return
    [configmap] = [c for c in of_kind(docs, "ConfigMap") if c["metadata"]["name"] == name]
    assert set(configmap["data"]) == set(calibrations["files"])
    for file, text in configmap["data"].items():
        (tmp_path / file).write_text(text)
    loaded = operator_calibrations(tmp_path)
    assert {c.template_model for c in loaded.values()} == {
        json.loads(text)["template_model"] for text in calibrations["files"].values()
    }


@pytest.mark.parametrize("value_set", VALUE_SETS)
def test_reloader_names_exactly_the_mounted_secrets(value_set: str) -> None:
    docs = rendered(value_set)
    [deployment] = of_kind(docs, "Deployment")
    annotations = deployment["metadata"].get("annotations", {})
    if not values_of(value_set)["reloader"]["enabled"]:
        assert "secret.reloader.stakater.com/reload" not in annotations
        return
    mounted = {v["secret"]["secretName"] for v in deployment["spec"]["template"]["spec"]["volumes"] if "secret" in v}
    assert set(annotations["secret.reloader.stakater.com/reload"].split(",")) == mounted


def test_the_chart_readme_lists_every_value() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    readme = (CHART / "README.md").read_text()

    def leaves(node: Any, path: str = "") -> list[str]:
        if isinstance(node, dict) and node:
            return [leaf for k, v in node.items() for leaf in leaves(v, f"{path}{k}.")]
        return [path.rstrip(".")]

    missing = [key for key in leaves(values) if f"`{key}`" not in readme]
    assert not missing


def test_the_chart_is_versioned_with_the_gateway_and_deploys_its_release_by_default() -> None:
    # A chart made for one release's topic contract, deploying another release's image, fails on
    # the first record; so the default tag is the appVersion, which names this release.
    from gateway import __version__

    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["version"] == chart["appVersion"] == __version__
    images = {c["image"] for spec in pod_specs(rendered("minimal-values.yaml")) for c in containers(spec)}
    assert images == {f"{values_of('minimal-values.yaml')['image']['repository']}:{__version__}"}
    pinned = {
        c["image"]
        for spec in pod_specs(rendered("minimal-values.yaml", "--set", "image.tag=9.9.9"))
        for c in containers(spec)
    }
    assert {image.rsplit(":", 1)[1] for image in pinned} == {"9.9.9"}


def test_kafka_users_carry_the_quotas_of_their_roles_and_none_by_default() -> None:
    """Review s47: docs/operations.md asks for a client quota per tenant and vendor, "or spec.quotas
    of a Strimzi KafkaUser", but the chart owns those KafkaUsers and set none (an upgrade would undo
    a hand edit). `strimzi.quotas` sets them per role, and `strimzi.userQuotas` per principal."""
    assert all("quotas" not in u["spec"] for u in of_kind(rendered("strimzi-values.yaml"), "KafkaUser"))
    extra = (
        "--set", "provisioning.roles.tenants.beta=User:beta", "--set", "tenants[0]=beta",
        "--set", "strimzi.quotas.tenants.producerByteRate=102400",
        "--set", "strimzi.quotas.tenants.requestPercentage=25",
        "--set", "strimzi.quotas.vendors.producerByteRate=2048000",
        "--set", "strimzi.quotas.regulators.consumerByteRate=10485760",
        "--set", "strimzi.userQuotas.acme.producerByteRate=51200",
    )  # fmt: skip
    users = of_kind(rendered("strimzi-values.yaml", *extra), "KafkaUser")
    quotas = {u["metadata"]["name"]: u["spec"].get("quotas") for u in users}
    assert quotas == {
        "acme": {"producerByteRate": 51200, "requestPercentage": 25},  # its own, over the tenants'
        "beta": {"producerByteRate": 102400, "requestPercentage": 25},
        "vendor-a": {"producerByteRate": 2048000},
        "regulator": {"consumerByteRate": 10485760},
        "facegate": None,  # the gateway is never throttled: lag would only grow
    }


@pytest.mark.parametrize(
    ("user", "problem"),
    [("User:acme", "names no KafkaUser"), ("acmee", "names no KafkaUser"), ("facegate", "gets no quota")],
)
def test_quotas_for_a_user_the_release_does_not_have_are_refused(user: str, problem: str) -> None:
    result = helm(
        "template", "rel", str(CHART), "-n", "facegate", "--kube-version", KUBE_VERSION,
        "-f", str(CHART / "ci" / "strimzi-values.yaml"), "--set-json", f'strimzi.userQuotas={{"{user}": {{"producerByteRate": 1}}}}',
    )  # fmt: skip
    assert result.returncode != 0 and problem in result.stderr, result.stderr
