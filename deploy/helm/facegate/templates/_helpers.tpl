{{/* Names as `helm create` makes them: nameOverride replaces the chart's name, fullnameOverride
the whole release-and-chart prefix of every object the chart names. */}}
{{- define "facegate.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "facegate.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* The full name with a suffix, within the 63 characters a label value (e.g. job-name) allows. */}}
{{- define "facegate.suffixed" -}}
{{- $suffix := index . 1 -}}
{{- printf "%s-%s" (include "facegate.fullname" (index . 0) | trunc (int (sub 62 (len $suffix))) | trimSuffix "-") $suffix -}}
{{- end -}}

{{- define "facegate.selectorLabels" -}}
app.kubernetes.io/name: {{ include "facegate.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "facegate.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "facegate.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "facegate.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "facegate.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The provisioning Job's ServiceAccount: its own hook (templates/provisioning.yaml) when the
chart creates ServiceAccounts, else the one named, which exists before the release. */}}
{{- define "facegate.jobServiceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- include "facegate.suffixed" (list . "provision") -}}
{{- else -}}
{{- include "facegate.serviceAccountName" . -}}
{{- end -}}
{{- end -}}

{{- define "facegate.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) -}}
{{- end -}}
{{- end -}}

{{/* The tenants whose topics are provisioned and read, as JSON: `tenants` and the tenant_id of
every policy, sorted. A worker reads the input topics of every tenant it has a policy for, so a
policy's tenant gets its topics (Job and KafkaTopics) without being listed twice. */}}
{{- define "facegate.tenants" -}}
{{- $tenants := list -}}
{{- range .Values.tenants -}}
{{- $tenants = append $tenants . -}}
{{- end -}}
{{- range $file, $text := .Values.policies -}}
{{- $policy := fromYaml $text -}}
{{- with $policy.Error -}}
{{- fail (printf "policies: %s is not YAML: %s" $file .) -}}
{{- end -}}
{{- $tenant := $policy.tenant_id | default "" | toString -}}
{{- if not (regexMatch "^[A-Za-z0-9_-]{1,64}$" $tenant) -}}
{{- fail (printf "policies: %s has no valid tenant_id (1-64 letters, digits, '_' or '-'; it names topics)" $file) -}}
{{- end -}}
{{- $tenants = append $tenants $tenant -}}
{{- end -}}
{{- $tenants | uniq | sortAlpha | toJson -}}
{{- end -}}

{{/* A topic's KafkaTopic name: lower case, '.' and '_' as '-', at most 63 characters. */}}
{{- define "facegate.kafkaTopicName" -}}
{{- . | lower | replace "_" "-" | replace "." "-" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Settings shared by the worker and the provisioning Job (FACEGATE_* variables): production mode
(for the Job: `topics create` refuses to create a topic with fewer replicas than configured, where
development would create it under-replicated with a warning) and the Kafka client's. */}}
{{- define "facegate.kafkaEnv" -}}
- name: FACEGATE_ENV
  value: production
- name: FACEGATE_BOOTSTRAP_SERVERS
  value: {{ .Values.kafka.bootstrapServers | quote }}
- name: FACEGATE_TOPIC_PREFIX
  value: {{ .Values.kafka.topicPrefix | quote }}
- name: FACEGATE_PARTITIONS
  value: {{ .Values.kafka.partitions | quote }}
- name: FACEGATE_REPLICATION_FACTOR
  value: {{ .Values.kafka.replicationFactor | quote }}
- name: FACEGATE_DURABLE_REPLICATION_FACTOR
  value: {{ .Values.kafka.durableReplicationFactor | quote }}
- name: FACEGATE_MIN_INSYNC_REPLICAS
  value: {{ .Values.kafka.minInsyncReplicas | quote }}
{{- /* The tenants and vendors whose topics the Job creates and the workers read. They are in the
pod template, so changing either rolls the Deployment: a worker subscribes to its topics at start. */}}
- name: FACEGATE_TENANTS
  value: {{ include "facegate.tenants" . | quote }}
- name: FACEGATE_VENDORS
  value: {{ .Values.vendors | toJson | quote }}
{{- range $kind, $ms := .Values.kafka.retentionMs }}
- name: FACEGATE_{{ upper $kind }}_RETENTION_MS
  value: {{ $ms | int64 | quote }}
{{- end }}
- name: FACEGATE_ERASED_BOUND_MS
  value: {{ .Values.kafka.erasedBoundMs | int64 | quote }}
- name: FACEGATE_APP_ID
  value: {{ .Values.appId | quote }}
- name: FACEGATE_SECURITY_PROTOCOL
  value: {{ .Values.kafka.securityProtocol | quote }}
- name: FACEGATE_SASL_MECHANISM
  value: {{ .Values.kafka.saslMechanism | quote }}
{{- if .Values.kafka.tls.existingSecret }}
- name: FACEGATE_SSL_CAFILE
  value: /etc/facegate/kafka-ca/{{ .Values.kafka.tls.caKey }}
{{- end }}
- name: FACEGATE_CACHE_DIR
  value: /var/cache/facegate
{{- end -}}

{{/* FACEGATE_SECRETS_DIR where the SASL Secret (given as the argument) is mounted, and only there:
the settings refuse to load when the folder it names is missing. */}}
{{- define "facegate.secretsDirEnv" -}}
{{- if . }}
- name: FACEGATE_SECRETS_DIR
  value: /etc/facegate/kafka-credentials
{{- end }}
{{- end -}}

{{/* The worker's environment: the Kafka settings, production mode, the mounted files and its tuning. */}}
{{- define "facegate.workerEnv" -}}
{{ include "facegate.kafkaEnv" . }}
{{- include "facegate.secretsDirEnv" .Values.kafka.sasl.existingSecret }}
{{- with .Values.kafka.sasl.username }}
- name: FACEGATE_SASL_USERNAME
  value: {{ . | quote }}
{{- end }}
- name: FACEGATE_POLICY_DIR
  value: /etc/facegate/policies
- name: FACEGATE_KEYRING_FILE
  value: /etc/facegate/keyring/{{ .Values.keyring.key }}
- name: FACEGATE_AUDIT_LOG_NAME
  value: {{ .Values.audit.logName | quote }}
{{- if .Values.auditSigning.existingSecret }}
- name: FACEGATE_AUDIT_SIGNING_FILE
  value: /etc/facegate/audit-signing/{{ .Values.auditSigning.key }}
{{- end }}
- name: FACEGATE_WEB_PORT
  value: {{ .Values.worker.webPort | quote }}
- name: FACEGATE_BATCH_SIZE
  value: {{ .Values.worker.batchSize | quote }}
- name: FACEGATE_BATCH_WAIT_MS
  value: {{ .Values.worker.batchWaitMs | quote }}
- name: FACEGATE_SWEEP_INTERVAL_MS
  value: {{ .Values.worker.sweepIntervalMs | quote }}
- name: FACEGATE_SESSION_TIMEOUT_MS
  value: {{ .Values.worker.sessionTimeoutMs | quote }}
{{- if include "facegate.calibrationsConfigMap" . }}
- name: FACEGATE_CALIBRATION_DIR
  value: /etc/facegate/calibrations
{{- end }}
{{- end -}}

{{/* The ConfigMap of the operator's calibrations: the one named, the chart's own for inline files, or none. */}}
{{- define "facegate.calibrationsConfigMap" -}}
{{- if .Values.calibrations.configMap -}}
{{- .Values.calibrations.configMap -}}
{{- else if .Values.calibrations.files -}}
{{- include "facegate.suffixed" (list . "calibrations") -}}
{{- end -}}
{{- end -}}

{{/* The Secrets the workers mount, comma-separated (for stakater Reloader). */}}
{{- define "facegate.secretNames" -}}
{{- $names := list .Values.keyring.existingSecret .Values.auditSigning.existingSecret .Values.kafka.sasl.existingSecret .Values.kafka.tls.existingSecret -}}
{{- without $names "" | uniq | join "," -}}
{{- end -}}

{{/* SASL credentials as files (FACEGATE_SECRETS_DIR), never as environment variables; the username
from the Secret unless given as a value (.username: FACEGATE_SASL_USERNAME, not a secret). */}}
{{- define "facegate.saslVolume" -}}
{{- if .secret }}
- name: kafka-credentials
  secret:
    secretName: {{ .secret | quote }}
    defaultMode: 0400
    items:
      {{- if not .username }}
      - {key: {{ .usernameKey | quote }}, path: facegate_sasl_username}
      {{- end }}
      - {key: {{ .passwordKey | quote }}, path: facegate_sasl_password}
{{- end }}
{{- end -}}

{{- define "facegate.saslMount" -}}
{{- if .secret }}
- {name: kafka-credentials, mountPath: /etc/facegate/kafka-credentials, readOnly: true}
{{- end }}
{{- end -}}

{{/* The pods' user, group and volume group: podSecurityContext's ids (the image's USER 10001 by
default), none with openshift, where the namespace's restricted-v2 SCC assigns them from the
project's range. */}}
{{- define "facegate.ids" -}}
{{- if not .root.Values.openshift -}}
{{- $ids := .root.Values.podSecurityContext -}}
{{- range $key := .keys -}}
{{- with index $ids . }}
{{ $key }}: {{ . | int64 }}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Restricted Pod Security Standard: the same for every container of the chart. */}}
{{- define "facegate.podSecurityContext" -}}
runAsNonRoot: true
{{- include "facegate.ids" (dict "root" . "keys" (list "runAsUser" "runAsGroup" "fsGroup")) }}
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "facegate.containerSecurityContext" -}}
runAsNonRoot: true
{{- include "facegate.ids" (dict "root" . "keys" (list "runAsUser" "runAsGroup")) }}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
privileged: false
capabilities:
  drop: [ALL]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/*
Threads of a search over a large gallery (OpenMP's variable, which faiss and the cascade read): the
CPUs the worker requested, rounded up by the downward API (500m: 1). A pod without a CPU limit
sees every CPU of its node and would split a search between them all. Not set when extraEnv sets
it or no CPU (or 0) is requested.
*/}}
{{- define "facegate.searchThreads" -}}
{{- $given := false -}}
{{- range .Values.extraEnv -}}
{{- if eq .name "OMP_NUM_THREADS" -}}{{- $given = true -}}{{- end -}}
{{- end -}}
{{- $cpu := dig "requests" "cpu" "" (.Values.resources | default dict) -}}
{{- /* a zero request ("0", "0m", "0Ki") would give 0, which OpenMP ignores: nothing is set instead */ -}}
{{- $zero := regexMatch "^\\+?0*\\.?0*([eE][+-]?[0-9]+)?([numkMGTPE]|[KMGTPE]i)?$" (toString $cpu) -}}
{{- if and (not $given) $cpu (not $zero) -}}
- name: OMP_NUM_THREADS
  valueFrom:
    resourceFieldRef: {containerName: worker, resource: requests.cpu, divisor: "1"}
{{- end -}}
{{- end -}}

{{/* Environment variables the user adds (extraEnv), after the chart's own: a name the chart sets
is refused rather than silently overriding it (FACEGATE_ENV=development would undo production mode).
Compared upper-cased: the settings read FACEGATE_* variables whatever their case (facegate_env too). */}}
{{- define "facegate.extraEnv" -}}
{{- $own := dict -}}
{{- range (.own | fromYamlArray) -}}
{{- $_ := set $own (upper .name) true -}}
{{- end -}}
{{- range .extra -}}
{{- if hasKey $own (upper .name) -}}
{{- fail (printf "extraEnv: %s is set by the chart (use its value instead)" .name) -}}
{{- end -}}
{{- end -}}
{{- with .extra }}
{{ toYaml . }}
{{- end -}}
{{- end -}}

{{- define "facegate.validate" -}}
{{- /* Consumer-group namespaces must not overlap (gateway/contract/roles.py group_overlaps): READ
on a group is all Kafka asks to join it, and ids may hold '-' (tenant acme would read acme-eu-...). */ -}}
{{- $r := .Values.provisioning.roles -}}
{{- $groups := list (list $r.gateway .Values.appId "literal") -}}
{{- range $tenant, $principal := $r.tenants -}}
{{- $groups = append $groups (list $principal (printf "%s-" $tenant) "prefix") -}}
{{- end -}}
{{- range $r.regulators -}}
{{- $groups = append $groups (list . (printf "%s-" (trimPrefix "User:" .)) "prefix") -}}
{{- end -}}
{{- range $a := $groups -}}
{{- range $b := $groups -}}
{{- if and (ne (index $a 0) (index $b 0)) (eq (index $a 2) "prefix") (hasPrefix (index $a 1) (index $b 1)) -}}
{{- fail (printf "provisioning.roles: %s's consumer groups (%s...) include %s's (%s): ids must not extend another's with '-'" (index $a 0) (index $a 1) (index $b 0) (index $b 1)) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if and .Values.strimzi.enabled .Values.provisioning.enabled -}}
{{- fail "strimzi.enabled and provisioning.enabled are exclusive: Strimzi's operators provision topics and users" -}}
{{- end -}}
{{- if and (ne .Values.kafka.securityProtocol "PLAINTEXT") (ne .Values.kafka.securityProtocol "SSL") (not .Values.kafka.sasl.existingSecret) -}}
{{- fail "kafka.sasl.existingSecret is required for SASL security protocols" -}}
{{- end -}}
{{- if and .Values.provisioning.enabled (hasPrefix "SASL_" .Values.kafka.securityProtocol) (not .Values.provisioning.adminSecret) -}}
{{- fail "provisioning.adminSecret is required with provisioning.enabled and a SASL security protocol: the Job creates topics and ACLs as a Kafka admin (or set provisioning.enabled=false and provision them otherwise)" -}}
{{- end -}}
{{- if not .Values.audit.logName -}}
{{- fail "audit.logName is required: the audit log's name (e.g. facegate.example/audit) names its signing keys and the origin of every checkpoint regulators verify (docs/audit-format.md); choose it once per deployment" -}}
{{- end -}}
{{- /* Secret volumes are root's files at 0400: the kubelet lets the pod's fsGroup read them, and
without one UID 10001 cannot read the keyring or the credentials. 0440 would not help (the group is
root's too); only 0444 would, readable by every user of the container: an fsGroup is required
instead (on OpenShift the SCC assigns one). */ -}}
{{- if and (not .Values.openshift) (not (dig "fsGroup" nil (.Values.podSecurityContext | default dict))) -}}
{{- fail "podSecurityContext.fsGroup is required (or openshift: true): without it the Secrets' files, mode 0400 and root's, are unreadable for the pods' user" -}}
{{- end -}}
{{- if not .Values.keyring.existingSecret -}}
{{- fail "keyring.existingSecret is required: the worker runs in production mode and refuses to start without keys" -}}
{{- end -}}
{{- if and .Values.networkPolicy.enabled (not .Values.kafka.egress.cidrs) (not .Values.kafka.egress.namespaceSelector) (not .Values.kafka.egress.podSelector) -}}
{{- fail "networkPolicy.enabled needs kafka.egress.cidrs or a broker selector: an empty egress target would allow everything" -}}
{{- end -}}
{{- $scrapers := .Values.networkPolicy.metricsFrom | default dict -}}
{{- if and .Values.networkPolicy.enabled .Values.serviceMonitor.enabled (not $scrapers.namespaceSelector) (not $scrapers.podSelector) -}}
{{- fail "serviceMonitor.enabled with networkPolicy.enabled needs networkPolicy.metricsFrom to name the Prometheus pods: with none named, nothing may reach the web port" -}}
{{- end -}}
{{- if not .Values.policies -}}
{{- fail "policies must hold at least one tenant policy (file name -> YAML)" -}}
{{- end -}}
{{- if not .Values.vendors -}}
{{- fail "vendors must name at least one camera vendor: the workers read captures from faces.raw.<vendor> and refuse to start without one" -}}
{{- end -}}
{{- range $vendor, $_ := .Values.provisioning.roles.vendors -}}
{{- if not (has $vendor $.Values.vendors) -}}
{{- fail (printf "provisioning.roles.vendors names %s, which is not in vendors: its capture topic would be neither created nor read" $vendor) -}}
{{- end -}}
{{- end -}}
{{- $tenants := include "facegate.tenants" . | fromJsonArray -}}
{{- range $tenant, $_ := .Values.provisioning.roles.tenants -}}
{{- if not (has $tenant $tenants) -}}
{{- fail (printf "provisioning.roles.tenants names %s, which is neither in tenants nor has a policy: its topics would be neither created nor read" $tenant) -}}
{{- end -}}
{{- end -}}
{{- if and .Values.calibrations.configMap .Values.calibrations.files -}}
{{- fail "calibrations.configMap and calibrations.files are exclusive: name a ConfigMap or give the files inline" -}}
{{- end -}}
{{- end -}}
