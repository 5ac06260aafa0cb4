{{- define "facegate.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "facegate.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
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

{{- define "facegate.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository .Values.image.tag -}}
{{- end -}}
{{- end -}}

{{/* Kafka client settings shared by the worker and the provisioning Job (FACEGATE_* variables). */}}
{{- define "facegate.kafkaEnv" -}}
- name: FACEGATE_BOOTSTRAP_SERVERS
  value: {{ .Values.kafka.bootstrapServers | quote }}
- name: FACEGATE_TOPIC_PREFIX
  value: {{ .Values.kafka.topicPrefix | quote }}
- name: FACEGATE_PARTITIONS
  value: {{ .Values.kafka.partitions | quote }}
- name: FACEGATE_REPLICATION_FACTOR
  value: {{ .Values.kafka.replicationFactor | quote }}
- name: FACEGATE_TENANTS
  value: {{ .Values.tenants | toJson | quote }}
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
- name: FACEGATE_SECRETS_DIR
  value: /etc/facegate/kafka-credentials
{{- end -}}

{{/* SASL credentials as files (FACEGATE_SECRETS_DIR), never as environment variables. */}}
{{- define "facegate.saslVolume" -}}
{{- if .secret }}
- name: kafka-credentials
  secret:
    secretName: {{ .secret | quote }}
    defaultMode: 0400
    items:
      - {key: {{ .usernameKey | quote }}, path: facegate_sasl_username}
      - {key: {{ .passwordKey | quote }}, path: facegate_sasl_password}
{{- end }}
{{- end -}}

{{- define "facegate.saslMount" -}}
{{- if .secret }}
- {name: kafka-credentials, mountPath: /etc/facegate/kafka-credentials, readOnly: true}
{{- end }}
{{- end -}}

{{/* Restricted Pod Security Standard: the same for every container of the chart. */}}
{{- define "facegate.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
fsGroup: 10001
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "facegate.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
privileged: false
capabilities:
  drop: [ALL]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "facegate.validate" -}}
{{- if and .Values.strimzi.enabled .Values.provisioning.enabled -}}
{{- fail "strimzi.enabled and provisioning.enabled are exclusive: Strimzi's operators provision topics and users" -}}
{{- end -}}
{{- if and (ne .Values.kafka.securityProtocol "PLAINTEXT") (ne .Values.kafka.securityProtocol "SSL") (not .Values.kafka.sasl.existingSecret) -}}
{{- fail "kafka.sasl.existingSecret is required for SASL security protocols" -}}
{{- end -}}
{{- if not .Values.keyring.existingSecret -}}
{{- fail "keyring.existingSecret is required: the worker runs in production mode and refuses to start without keys" -}}
{{- end -}}
{{- if and .Values.networkPolicy.enabled (not .Values.kafka.egress.cidrs) (not .Values.kafka.egress.namespaceSelector) (not .Values.kafka.egress.podSelector) -}}
{{- fail "networkPolicy.enabled needs kafka.egress.cidrs or a broker selector: an empty egress target would allow everything" -}}
{{- end -}}
{{- if not .Values.policies -}}
{{- fail "policies must hold at least one tenant policy (file name -> YAML)" -}}
{{- end -}}
{{- end -}}
