{{/* The release's full name: "<release>-workerplane", or the release name when it says so. */}}
{{- define "workerplane.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "workerplane.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "workerplane.labels" -}}
{{ include "workerplane.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "workerplane.serviceAccountName" -}}
{{- .Values.serviceAccount.name | default (include "workerplane.fullname" .) -}}
{{- end -}}

{{- define "workerplane.secretName" -}}
{{- .Values.secret.name | default (include "workerplane.fullname" .) -}}
{{- end -}}

{{/* Where the Secret's keys are mounted as files (kept out of the environment and of ps). */}}
{{- define "workerplane.secretDir" -}}/var/run/secrets/workerplane{{- end -}}

{{/* The cluster policy file serve and `workerplane validate` read (WORKERPLANE_K8S_POLICY). */}}
{{- define "workerplane.policy" -}}
{{- if hasKey .Values.clusterPolicy "allowed_namespaces" -}}
{{- fail "set workerNamespaces, not clusterPolicy.allowed_namespaces: one list makes both the RBAC and the policy" -}}
{{- end -}}
{{- toYaml (merge (dict "allowed_namespaces" .Values.workerNamespaces) .Values.clusterPolicy) -}}
{{- end -}}
