{{- define "dutyledger.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "dutyledger.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* Selector labels of one component (api, worker). */}}
{{- define "dutyledger.selector" -}}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "dutyledger.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{- define "dutyledger.secretName" -}}
{{- .Values.secrets.existingSecret | default (printf "%s-secrets" (include "dutyledger.fullname" .)) -}}
{{- end -}}

{{/* The settings every container of the release reads: the ConfigMap, the secrets, the
Temporal connection and the audit key's path. */}}
{{- define "dutyledger.env" -}}
envFrom:
  - configMapRef:
      name: {{ include "dutyledger.fullname" . }}-config
env:
  - name: DUTYLEDGER_DATABASE_URL
    valueFrom: {secretKeyRef: {name: {{ include "dutyledger.secretName" . }}, key: database-url}}
  - name: DUTYLEDGER_CONSOLE_SECRET
    valueFrom: {secretKeyRef: {name: {{ include "dutyledger.secretName" . }}, key: console-secret}}
  - name: DUTYLEDGER_BOOTSTRAP_ADMIN_TOKEN
    valueFrom: {secretKeyRef: {name: {{ include "dutyledger.secretName" . }}, key: bootstrap-admin-token, optional: true}}
  - name: DUTYLEDGER_TEMPORAL_API_KEY
    valueFrom: {secretKeyRef: {name: {{ include "dutyledger.secretName" . }}, key: temporal-api-key, optional: true}}
  - name: DUTYLEDGER_METRICS_TOKEN
    valueFrom: {secretKeyRef: {name: {{ include "dutyledger.secretName" . }}, key: metrics-token, optional: true}}
{{- end -}}

{{/* The volumes of a pod: a writable /tmp (the root filesystem is read-only) and Temporal's
client certificate; for the API and the workers (.service) also the audit key and the evidence
files, which the hook jobs neither need nor could mount (a pre-install hook runs before the
evidence claim exists). Called with (dict "root" $ "service" true|false). */}}
{{- define "dutyledger.volumes" -}}
{{- $v := .root.Values -}}
volumes:
  - name: tmp
    emptyDir: {}
  {{- if $v.temporal.tls.secretName }}
  - name: temporal-tls
    secret: {secretName: {{ $v.temporal.tls.secretName }}}
  {{- end }}
  {{- if .service }}
  - name: audit-key
    secret: {secretName: {{ $v.auditKey.secretName }}, optional: {{ not $v.production }}}
  {{- if $v.persistence.enabled }}
  - name: evidence
    persistentVolumeClaim: {claimName: {{ $v.persistence.existingClaim | default (printf "%s-evidence" (include "dutyledger.fullname" .root)) }}}
  {{- else }}
  - name: evidence
    emptyDir: {}
  {{- end }}
  {{- end }}
{{- end -}}

{{- define "dutyledger.volumeMounts" -}}
volumeMounts:
  - {name: tmp, mountPath: /tmp}
  {{- if .root.Values.temporal.tls.secretName }}
  - {name: temporal-tls, mountPath: /run/secrets/temporal-tls, readOnly: true}
  {{- end }}
  {{- if .service }}
  - {name: audit-key, mountPath: /run/secrets/dutyledger-audit, readOnly: true}
  - {name: evidence, mountPath: /data}
  {{- end }}
{{- end -}}

{{/* One container of the image running `dutyledger <args>` (.service: the API or a worker). */}}
{{- define "dutyledger.container" -}}
name: {{ .name }}
image: {{ include "dutyledger.image" .root }}
imagePullPolicy: {{ .root.Values.image.pullPolicy }}
args: {{ toJson .args }}
securityContext: {{- toYaml .root.Values.securityContext | nindent 2 }}
{{ include "dutyledger.env" .root }}
{{ include "dutyledger.volumeMounts" . }}
{{- end -}}
