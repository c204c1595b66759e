{{/*
Names and labels (podinfo's pattern) plus app.kubernetes.io/component per service.
*/}}
{{- define "zoomsymbl.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "zoomsymbl.fullname" -}}
{{- $full := "" }}
{{- if .Values.fullnameOverride }}
{{- $full = .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- $full = .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $full = printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- /* Every Service is named <full name>-<component>: a DNS label starting with a letter (RFC 1035), which Helm's
release names need not be (a leading digit, a dot). Refused here, before anything is installed, instead of by the
API server after the pre-install topics Job ran. */}}
{{- if not (regexMatch "^[a-z]([-a-z0-9]*[a-z0-9])?$" $full) }}
{{- fail (printf "the full name %q (from the release name %q, nameOverride or fullnameOverride) is not a DNS label starting with a letter, so Kubernetes would refuse the chart's Service names: install under a name such as zoomsymbl, or set fullnameOverride" $full .Release.Name) }}
{{- end }}
{{- $full }}
{{- end }}

{{- define "zoomsymbl.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "zoomsymbl.selectorLabels" -}}
app.kubernetes.io/name: {{ include "zoomsymbl.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "zoomsymbl.labels" -}}
helm.sh/chart: {{ include "zoomsymbl.chart" . }}
{{ include "zoomsymbl.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: zoomsymbl
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Labels of one component: (dict "root" $ "component" "ingest") */}}
{{- define "zoomsymbl.componentLabels" -}}
{{ include "zoomsymbl.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "zoomsymbl.componentSelectorLabels" -}}
{{ include "zoomsymbl.selectorLabels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* The CronJobs whose pods run in the notifier's image with its configuration, as rendered: "retention",
"ops", both, or nothing (space-separated); each has its own NetworkPolicy. */}}
{{- define "zoomsymbl.notifierJobs" -}}
{{- $jobs := list -}}
{{- if .Values.retention.enabled }}{{ $jobs = append $jobs "retention" }}{{ end -}}
{{- if .Values.ops.enabled }}{{ $jobs = append $jobs "ops" }}{{ end -}}
{{- join " " $jobs }}
{{- end }}

{{/* The operator pod's CronJob (ops-cronjob.yaml): at most 52 characters, as any CronJob's name. */}}
{{- define "zoomsymbl.opsName" -}}
{{- printf "%s-ops" (include "zoomsymbl.fullname" . | trunc 48 | trimSuffix "-") }}
{{- end }}

{{/* The services this release runs, space-separated: five always, the transcriber when transcriber.enabled. */}}
{{- define "zoomsymbl.components" -}}
{{- $components := list "ingest" "mixer" "submitter" "notifier" -}}
{{- if .Values.transcriber.enabled }}
{{- $components = append $components "transcriber" -}}
{{- end }}
{{- $components = append $components "web" -}}
{{- join " " $components }}
{{- end }}

{{/* Resource name of one component, e.g. "<fullname>-ingest": at most 63 characters, as a Service name (a DNS label)
must be. The full name is cut to 52 characters (every name the chart gave so far), or shorter where the component's
suffix needs it ("-transcriber": a 64-character Service name failed the install of a long release name). */}}
{{- define "zoomsymbl.componentName" -}}
{{- $keep := int (min 52 (sub 62 (len .component))) -}}
{{- printf "%s-%s" (include "zoomsymbl.fullname" .root | trunc $keep | trimSuffix "-") .component }}
{{- end }}

{{- define "zoomsymbl.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "zoomsymbl.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "zoomsymbl.secretName" -}}
{{- default (printf "%s-secrets" (include "zoomsymbl.fullname" .)) .Values.secrets.existingSecret }}
{{- end }}

{{/* Image reference of an image block: digest wins over tag; the tag defaults to appVersion. */}}
{{- define "zoomsymbl.image" -}}
{{- $image := .image -}}
{{- if $image.digest }}
{{- printf "%s@%s" $image.repository $image.digest }}
{{- else }}
{{- printf "%s:%s" $image.repository (default .root.Chart.AppVersion $image.tag) }}
{{- end }}
{{- end }}

{{/*
An environment value as a string. Helm reads every YAML number as float64, which would print
14400000 as "1.44e+07": whole numbers are printed as integers instead.
*/}}
{{- define "zoomsymbl.envValue" -}}
{{- if and (kindIs "float64" .) (eq (floor .) .) }}
{{- printf "%d" (int64 .) }}
{{- else }}
{{- toString . }}
{{- end }}
{{- end }}

{{/* The uppercase env prefix of a component: ZOOMSYMBL_INGEST_ */}}
{{- define "zoomsymbl.envPrefix" -}}
{{- printf "ZOOMSYMBL_%s_" (upper .) }}
{{- end }}

{{/*
Seconds from SIGTERM to SIGKILL: preStop drain + the service's own shutdown timeout (aiohttp's drain of requests in
flight) + what its cleanup waits for after that + margin. A service that consumes Kafka (mixer, submitter, notifier,
transcriber) then stops its broker, which waits shutdown_timeout_seconds again for the messages its consumers have in
hand (service_broker in libs/common service.py; a fixed 30 s before, which cut the mixer's meeting in hand half-way
through the 60 s its setting promised). The notifier's cleanup waits once more before that, for its sweeper's round
(shutdown_timeout_seconds); without these waits the notifier was killed mid-message (docs/operations.md, "Upgrades").
*/}}
{{- define "zoomsymbl.terminationGrace" -}}
{{- $svc := index .root.Values .component -}}
{{- $shutdown := int (ceil (index $svc.settings "shutdown_timeout_seconds")) -}}
{{- $cleanup := 0 -}}
{{- if has .component (list "mixer" "submitter" "notifier" "transcriber") -}}
{{- $cleanup = $shutdown -}}
{{- end -}}
{{- if eq .component "notifier" -}}
{{- $cleanup = add $cleanup $shutdown -}}
{{- end -}}
{{- add $svc.preStopSleepSeconds $shutdown $cleanup $svc.terminationMarginSeconds }}
{{- end }}

{{/*
Env vars read from the Secret, per component: (list ENV_NAME secret-key) pairs.
MongoDB for every service; S3 for every service but ingest (it never reads or writes an object, and it is
the one that faces the internet); the callback key for submitter and notifier; SMTP for the notifier;
the meeting-page key for the notifier (signs the links) and the web service (checks them).
*/}}
{{- define "zoomsymbl.secretEnv" -}}
{{- $pairs := list (list "ZOOMSYMBL_MONGO_URI" "mongo-uri") -}}
{{- if ne .component "ingest" }}
{{- $pairs = concat $pairs (list (list "ZOOMSYMBL_S3_ACCESS_KEY" "s3-access-key") (list "ZOOMSYMBL_S3_SECRET_KEY" "s3-secret-key")) -}}
{{- end }}
{{- if not .storeOnly }}{{/* the retention CronJob: MongoDB and S3 only, none of the service's own secrets */}}
{{- if has .component (list "submitter" "notifier") }}
{{- $pairs = append $pairs (list (printf "%sCALLBACK_SECRET" (include "zoomsymbl.envPrefix" .component)) "callback-secret") -}}
{{- end }}
{{- if eq .component "notifier" }}
{{- $pairs = append $pairs (list "ZOOMSYMBL_NOTIFIER_SMTP_PASSWORD" "smtp-password") -}}
{{- end }}
{{- if has .component (list "notifier" "web") }}
{{- $pairs = append $pairs (list (printf "%sPAGE_KEY" (include "zoomsymbl.envPrefix" .component)) "page-key") -}}
{{- /* Only while the page key is replaced (docs/operations.md, "Replacing the page key"); an existingSecret may lack it. */}}
{{- $pairs = append $pairs (list (printf "%sPAGE_KEY_PREVIOUS" (include "zoomsymbl.envPrefix" .component)) "page-key-previous" true) -}}
{{- end }}
{{- end }}
{{- $secret := include "zoomsymbl.secretName" .root -}}
{{- range $pairs }}
- name: {{ index . 0 }}
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ index . 1 }}
      {{- if gt (len .) 2 }}
      optional: true
      {{- end }}
{{- end }}
{{- end }}

{{/* Where the tenants file is mounted. */}}
{{- define "zoomsymbl.tenantsDir" -}}/etc/zoomsymbl/tenants{{- end }}

{{/* The Secret key a component's tenants file comes from: its own copy (tenants-<component>.json), or, in
an existing Secret that keeps one shared file, tenants.json. (dict "root" $ "component" "<service>") */}}
{{- define "zoomsymbl.tenantsKey" -}}
{{- if and .root.Values.secrets.existingSecret (not .root.Values.secrets.tenantsPerComponent) -}}
tenants.json
{{- else -}}
tenants-{{ .component }}.json
{{- end -}}
{{- end }}

{{/* Pod-level settings shared by every pod of the chart (Deployments, Jobs, the CronJob, the test pod). */}}
{{- define "zoomsymbl.podSecurity" -}}
automountServiceAccountToken: false
{{- /* No ZOOMSYMBL_<X>_* variables from Services named zoomsymbl-<x>: the settings' env prefixes could read them. */}}
enableServiceLinks: false
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/* The /tmp volume every container mounts (the root filesystem is read-only). */}}
{{- define "zoomsymbl.tmpVolume" -}}
- name: tmp
  emptyDir:
    sizeLimit: {{ .Values.tmpVolume.sizeLimit }}
    {{- with .Values.tmpVolume.medium }}
    medium: {{ . }}
    {{- end }}
{{- end }}

{{- /*
Where a Job's pod may run: priorityClassName, nodeSelector, tolerations and affinity, each the Job's own value when
set, else the value of the service whose image it runs ("fallback"): a cluster whose nodes need a selector or a
toleration for that service's pods needs them for the Job's pod too. Pod-spec level; call with
(dict "own" .Values.retention "fallback" .Values.notifier).
*/ -}}
{{- define "zoomsymbl.jobScheduling" -}}
{{- $own := .own }}
{{- $fallback := .fallback }}
{{- with ($own.priorityClassName | default $fallback.priorityClassName) }}
priorityClassName: {{ . }}
{{- end }}
{{- with ($own.nodeSelector | default $fallback.nodeSelector) }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with ($own.tolerations | default $fallback.tolerations) }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with ($own.affinity | default $fallback.affinity) }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}
