{{/* Labels every object of the chart carries. */}}
{{- define "zen-watcher.labels" -}}
app.kubernetes.io/name: {{ include "zen-watcher.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{/* Chart name, or nameOverride. */}}
{{- define "zen-watcher.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
Name of the release's objects: fullnameOverride, else the release name when it already contains
the chart name (`helm install zen-watcher ...` gives `zen-watcher`), else `<release>-zen-watcher`.
*/}}
{{- define "zen-watcher.fullname" -}}
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

{{/* Labels that select the release's Pods (never change them: Deployment selectors are immutable). */}}
{{- define "zen-watcher.selectorLabels" -}}
app.kubernetes.io/name: {{ include "zen-watcher.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* The ServiceAccount the Pods run as. */}}
{{- define "zen-watcher.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "zen-watcher.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The Secret holding the webhook bearer token (key `token`): existingSecret, else the generated one. */}}
{{- define "zen-watcher.webhookTokenSecretName" -}}
{{- if .Values.webhook.existingSecret -}}
{{- .Values.webhook.existingSecret -}}
{{- else -}}
{{- printf "%s-webhook-token" (include "zen-watcher.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* The Lease the binary elects its leader with (fixed by the binary, DESIGN §2). */}}
{{- define "zen-watcher.leaseName" -}}
zen-watcher-leader-election
{{- end -}}

{{/*
Refuses configurations that would run more than one active replica: without leader election
every replica would run the informers, Ingester orchestration and GC (duplicate work, racing
GC deletes). `autoscaling` is read defensively so the HPA values can be added later.
*/}}
{{- define "zen-watcher.validate" -}}
{{- $autoscaling := .Values.autoscaling | default dict -}}
{{- if not .Values.leaderElection.enabled -}}
{{- if gt (int .Values.replicaCount) 1 -}}
{{- fail (printf "replicaCount is %d but leaderElection.enabled is false: more than one replica without leader election would run informers, Ingester orchestration and GC on every replica. Set leaderElection.enabled=true (recommended) or replicaCount=1." (int .Values.replicaCount)) -}}
{{- end -}}
{{- if and $autoscaling.enabled (gt (int ($autoscaling.maxReplicas | default 1)) 1) -}}
{{- fail (printf "autoscaling.maxReplicas is %d but leaderElection.enabled is false: more than one replica without leader election would run informers, Ingester orchestration and GC on every replica. Set leaderElection.enabled=true (recommended) or autoscaling.maxReplicas=1." (int $autoscaling.maxReplicas)) -}}
{{- end -}}
{{- end -}}
{{- if and .Values.tls.clientCASecret (not .Values.tls.secretName) -}}
{{- fail "tls.clientCASecret (mTLS) needs tls.secretName: client certificates are only verified over TLS" -}}
{{- end -}}
{{- with .Values.tls.clientNames -}}
{{- if and (or .falco .audit .ingesters) (not $.Values.tls.clientCASecret) -}}
{{- fail "tls.clientNames needs tls.clientCASecret (mTLS): only verified client certificates have names" -}}
{{- end -}}
{{- end -}}
{{- range .Values.rbac.extraReadResources -}}
{{- $group := .apiGroup | default "" -}}
{{- $resources := .resources | default list -}}
{{- if and (has $group (list "" "*")) (or (has "secrets" $resources) (has "*" $resources)) -}}
{{- fail (printf "rbac.extraReadResources must not grant Secrets (apiGroup %q, resources %s): list the namespaces whose webhook auth Secrets zen-watcher reads in rbac.ingesterSecretNamespaces instead" $group (toJson $resources)) -}}
{{- end -}}
{{- end -}}
{{- end -}}
