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
{{- include "zen-watcher.validateTimings" . -}}
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

{{/*
A duration value (already matched against the schema's pattern, the binary's grammar: numbers
with ms, s, m, h or d, concatenated) in milliseconds, so the template can check the floors and
orderings the binary checks at start and `helm install` fails instead of the pod.
*/}}
{{- define "zen-watcher.milliseconds" -}}
{{- $total := 0 -}}
{{- range regexFindAll "[0-9]+(ms|s|m|h|d)" (toString .) -1 -}}
{{- $number := regexFind "^[0-9]+" . | atoi -}}
{{- $unit := regexFind "(ms|s|m|h|d)$" . -}}
{{- $scale := get (dict "ms" 1 "s" 1000 "m" 60000 "h" 3600000 "d" 86400000) $unit -}}
{{- $total = add $total (mul $number $scale) -}}
{{- end -}}
{{- $total -}}
{{- end -}}

{{/*
A size value (an integer, or a string the schema matched: digits and an optional B, Ki, KiB,
Mi, MiB, Gi, GiB, K, KB, k, kB, M, MB, G or GB suffix) in bytes.
*/}}
{{- define "zen-watcher.bytes" -}}
{{- if kindIs "string" . -}}
{{- $text := trim . -}}
{{- $number := regexFind "^[0-9]+" $text | atoi -}}
{{- $suffix := trimPrefix (regexFind "^[0-9]+" $text) $text -}}
{{- $scales := dict "" 1 "B" 1 "Ki" 1024 "KiB" 1024 "Mi" 1048576 "MiB" 1048576 "Gi" 1073741824 "GiB" 1073741824 "K" 1000 "KB" 1000 "k" 1000 "kB" 1000 "M" 1000000 "MB" 1000000 "G" 1000000000 "GB" 1000000000 -}}
{{- mul $number (get $scales $suffix) -}}
{{- else -}}
{{- int64 . -}}
{{- end -}}
{{- end -}}

{{/*
A number as the binary reads it: values.yaml and --set-json numbers reach templates as float64,
which `toString` would print as 1.048576e+06.
*/}}
{{- define "zen-watcher.number" -}}
{{- if kindIs "string" . -}}{{ . }}{{- else -}}{{ int64 . }}{{- end -}}
{{- end -}}

{{/*
The floors and orderings of durations and sizes that the binary refuses at start (its
`timer_floors`, `at_least` and Lease checks), checked at install time with the same messages.
*/}}
{{- define "zen-watcher.validateTimings" -}}
{{- $floors := list
  (list "limits.requestTimeout" .Values.limits.requestTimeout 100 "100ms")
  (list "limits.apiserverRequestTimeout" .Values.limits.apiserverRequestTimeout 100 "100ms")
  (list "dedup.occurrenceFlushInterval" .Values.dedup.occurrenceFlushInterval 100 "100ms")
  (list "limits.headerReadTimeout" .Values.limits.headerReadTimeout 100 "100ms")
  (list "limits.bodyReadTimeout" .Values.limits.bodyReadTimeout 100 "100ms")
  (list "limits.idleTimeout" .Values.limits.idleTimeout 100 "100ms")
  (list "limits.http2KeepAliveInterval" .Values.limits.http2KeepAliveInterval 100 "100ms")
  (list "gc.interval" .Values.gc.interval 1000 "1s")
  (list "gc.timeout" .Values.gc.timeout 1000 "1s") -}}
{{- range $floors -}}
{{- $ms := include "zen-watcher.milliseconds" (index . 1) | atoi -}}
{{- if lt $ms (index . 2) -}}
{{- fail (printf "%s is %q, too short: at least %s" (index . 0) (index . 1) (index . 3)) -}}
{{- end -}}
{{- end -}}
{{- $sizes := list
  (list "limits.maxRequestBytes" .Values.limits.maxRequestBytes 1)
  (list "limits.auditMaxRequestBytes" .Values.limits.auditMaxRequestBytes 1)
  (list "limits.detailsMaxBytes" .Values.limits.detailsMaxBytes 1024) -}}
{{- range $sizes -}}
{{- if lt (include "zen-watcher.bytes" (index . 1) | atoi) (index . 2) -}}
{{- fail (printf "%s is %v, too small: the minimum is %d bytes" (index . 0) (index . 1) (index . 2)) -}}
{{- end -}}
{{- end -}}
{{- with .Values.leaderElection -}}
{{- if .enabled -}}
{{- $lease := include "zen-watcher.milliseconds" .leaseDuration | atoi -}}
{{- $renew := include "zen-watcher.milliseconds" .renewDeadline | atoi -}}
{{- $retry := include "zen-watcher.milliseconds" .retryPeriod | atoi -}}
{{- if eq $retry 0 -}}
{{- fail (printf "leaderElection.retryPeriod is %q: it must be greater than 0" .retryPeriod) -}}
{{- end -}}
{{- if le $renew $retry -}}
{{- fail (printf "leaderElection.renewDeadline (%s) must be longer than leaderElection.retryPeriod (%s)" .renewDeadline .retryPeriod) -}}
{{- end -}}
{{- if le $lease $renew -}}
{{- fail (printf "leaderElection.leaseDuration (%s) must be longer than leaderElection.renewDeadline (%s)" .leaseDuration .renewDeadline) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
The container image: repository@digest when image.digest is set (the tag is then ignored),
else repository:tag (tag defaulting to the chart's appVersion).
*/}}
{{- define "zen-watcher.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) -}}
{{- end -}}
{{- end -}}
