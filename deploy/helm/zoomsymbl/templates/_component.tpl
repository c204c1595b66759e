{{/*
The objects every service has, each called with (dict "root" $ "component" "<service>").
templates/<service>.yaml picks the ones that service needs.
*/}}

{{/* Replicas the service runs with at least: the HPA's minimum when autoscaling, else replicaCount. */}}
{{- define "zoomsymbl.minReplicas" -}}
{{- $svc := index .root.Values .component -}}
{{- if and (hasKey $svc "autoscaling") $svc.autoscaling.enabled }}
{{- $svc.autoscaling.minReplicas }}
{{- else }}
{{- $svc.replicaCount }}
{{- end }}
{{- end }}

{{/*
The Deployment's replicas. Without autoscaling: replicaCount. With it: the HPA's minimum on install, so
`helm install --wait` waits for as many pods as the HPA will keep (without the field the Deployment
starts at 1 and --wait returns before the HPA scales it up); on upgrade the count the HPA has set now
(read with lookup, kept within minReplicas..maxReplicas), so an upgrade does not undo its scaling.
*/}}
{{- define "zoomsymbl.replicas" -}}
{{- $svc := index .root.Values .component -}}
{{- if and (hasKey $svc "autoscaling") $svc.autoscaling.enabled -}}
{{- $replicas := int $svc.autoscaling.minReplicas -}}
{{- $current := lookup "apps/v1" "Deployment" .root.Release.Namespace (include "zoomsymbl.componentName" .) -}}
{{- if and $current $current.spec $current.spec.replicas -}}
{{- $replicas = max $replicas (min (int $svc.autoscaling.maxReplicas) (int $current.spec.replicas)) -}}
{{- end -}}
{{- $replicas -}}
{{- else -}}
{{- $svc.replicaCount -}}
{{- end -}}
{{- end }}

{{- define "zoomsymbl.configmap" -}}
{{- $root := .root -}}
{{- $svc := index $root.Values .component -}}
{{- $prefix := include "zoomsymbl.envPrefix" .component -}}
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ include "zoomsymbl.componentName" . }}
  labels:
    {{- include "zoomsymbl.componentLabels" . | nindent 4 }}
data:
  {{ $prefix }}HTTP_HOST: {{ $root.Values.httpHost | quote }}
  {{ $prefix }}HTTP_PORT: {{ include "zoomsymbl.envValue" $svc.port | quote }}
  {{- with include "zoomsymbl.scratchSetting" .component }}
  {{ $prefix }}{{ . }}: {{ $svc.scratch.mountPath | quote }}
  {{- end }}
  {{- if has .component (list "mixer" "transcriber") }}
  {{- /* An emptyDir reports the node's disk: the space checks count the volume as scratch.size (space.py). */}}
  {{ $prefix }}SCRATCH_LIMIT_BYTES: {{ $svc.scratch.size | quote }}
  {{- end }}
  {{- if eq .component "notifier" }}
  {{ $prefix }}SMTP_CA_FILE: {{ include "zoomsymbl.smtpCaFile" $root | quote }}
  {{ $prefix }}PAGE_BASE_URL: {{ include "zoomsymbl.webPublicUrl" $root | quote }}
  {{- end }}
  {{- if eq .component "transcriber" }}
  {{ $prefix }}MODEL_DIR: {{ include "zoomsymbl.transcriberModelDir" $root | quote }}
  {{- end }}
  {{- range $key, $value := $svc.settings }}
  {{- if eq $key "notifier_public_url" }}
  {{- $value = include "zoomsymbl.notifierPublicUrl" $root }}
  {{- end }}
  {{- /* null = leave the service's own default (an empty string would not parse as a number or URL) */}}
  {{- if not (kindIs "invalid" $value) }}
  {{ $prefix }}{{ upper $key }}: {{ include "zoomsymbl.envValue" $value | quote }}
  {{- end }}
  {{- end }}
  OTEL_SERVICE_NAME: {{ printf "zoomsymbl-%s" .component | quote }}
{{- end }}

{{- define "zoomsymbl.service" -}}
{{- $svc := index .root.Values .component -}}
apiVersion: v1
kind: Service
metadata:
  name: {{ include "zoomsymbl.componentName" . }}
  labels:
    {{- include "zoomsymbl.componentLabels" . | nindent 4 }}
spec:
  type: ClusterIP
  selector:
    {{- include "zoomsymbl.componentSelectorLabels" . | nindent 4 }}
  ports:
    - name: http
      port: {{ $svc.port }}
      targetPort: http
      protocol: TCP
{{- end }}

{{- define "zoomsymbl.hpa" -}}
{{- $root := .root -}}
{{- $svc := index $root.Values .component -}}
{{- if $svc.autoscaling.enabled }}
{{- if gt (int $svc.autoscaling.minReplicas) (int $svc.autoscaling.maxReplicas) }}
{{- fail (printf "%s.autoscaling.minReplicas (%v) exceeds maxReplicas (%v)" .component $svc.autoscaling.minReplicas $svc.autoscaling.maxReplicas) }}
{{- end }}
{{- if and (not (has .component (list "ingest" "web"))) (gt (int $svc.autoscaling.maxReplicas) (int $root.Values.topics.partitions)) }}
{{- fail (printf "%s.autoscaling.maxReplicas (%v) exceeds topics.partitions (%v): the extra consumers would idle" .component $svc.autoscaling.maxReplicas $root.Values.topics.partitions) }}
{{- end }}
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: {{ include "zoomsymbl.componentName" . }}
  labels:
    {{- include "zoomsymbl.componentLabels" . | nindent 4 }}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: {{ include "zoomsymbl.componentName" . }}
  minReplicas: {{ $svc.autoscaling.minReplicas }}
  maxReplicas: {{ $svc.autoscaling.maxReplicas }}
  metrics:
    - type: Resource
      resource:
        name: cpu
        target:
          type: Utilization
          averageUtilization: {{ $svc.autoscaling.targetCPUUtilizationPercentage }}
  behavior:
    scaleDown:
      # Scaling a consumer group down rebalances its partitions; do it slowly.
      stabilizationWindowSeconds: 300
{{- end }}
{{- end }}

{{/* A PodDisruptionBudget (one pod evicted at a time) where the service may run more than one replica: more than one
at least, or an HPA that may scale it out from one (a drain of several nodes evicted every replica it had added). */}}
{{- define "zoomsymbl.pdb" -}}
{{- $svc := index .root.Values .component -}}
{{- $scales := and (hasKey $svc "autoscaling") $svc.autoscaling.enabled (gt (int $svc.autoscaling.maxReplicas) 1) -}}
{{- if or (gt (int (include "zoomsymbl.minReplicas" .)) 1) $scales }}
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ include "zoomsymbl.componentName" . }}
  labels:
    {{- include "zoomsymbl.componentLabels" . | nindent 4 }}
spec:
  maxUnavailable: 1
  # A pod that is not ready (Kafka or MongoDB away, a crash loop) does no work a budget protects: with the default
  # (IfHealthyBudget) such pods counted against it and a node drain during an outage waited on them for good.
  unhealthyPodEvictionPolicy: AlwaysAllow
  selector:
    matchLabels:
      {{- include "zoomsymbl.componentSelectorLabels" . | nindent 6 }}
{{- end }}
{{- end }}

{{/* The setting naming a service's scratch directory (services with a scratch volume only). */}}
{{- define "zoomsymbl.scratchSetting" -}}
{{- get (dict "mixer" "SCRATCH_DIR" "submitter" "WORK_DIR" "transcriber" "SCRATCH_DIR") . }}
{{- end }}

{{/* Base URL providers call back: submitter.settings.notifier_public_url, else https://<ingress.host>. */}}
{{- define "zoomsymbl.notifierPublicUrl" -}}
{{- default (printf "https://%s" .Values.ingress.host) .Values.submitter.settings.notifier_public_url | trimSuffix "/" }}
{{- end }}

{{/* Base URL of the meeting pages (the notifier's links): web.publicUrl, else https://<ingress.host>. */}}
{{- define "zoomsymbl.webPublicUrl" -}}
{{- default (printf "https://%s" .Values.ingress.host) .Values.web.publicUrl | trimSuffix "/" }}
{{- end }}

{{/*
The transcriber's ZOOMSYMBL_TRANSCRIBER_MODEL_DIR: "packaged" (tiny.en in the image) without transcriber.model.existingClaim,
else model.dir inside the claim's mount. Refuses a dir or subPath without a claim (they would be silently ignored) and a
mount path another volume of the pod already uses.
*/}}
{{- define "zoomsymbl.transcriberModelDir" -}}
{{- $t := .Values.transcriber -}}
{{- $model := $t.model -}}
{{- if $model.existingClaim }}
{{- $taken := list "/tmp" (clean $t.scratch.mountPath) (include "zoomsymbl.tenantsDir" .) -}}
{{- if has (clean $model.mountPath) $taken }}
{{- fail (printf "transcriber.model.mountPath (%s) is already used by another volume of the pod (/tmp, scratch.mountPath, the tenants file)" $model.mountPath) }}
{{- end }}
{{- clean (printf "%s/%s" $model.mountPath $model.dir) }}
{{- else if or $model.dir $model.subPath }}
{{- fail "transcriber.model.dir and model.subPath point into a volume: set transcriber.model.existingClaim too (or leave them empty for the packaged model)" }}
{{- else -}}
packaged
{{- end }}
{{- end }}

{{/* The SMTP CA bundle the notifier trusts: mounted from notifier.smtpCa.secretName, or "" (system CAs). */}}
{{- define "zoomsymbl.smtpCaFile" -}}
{{- if .Values.notifier.smtpCa.secretName }}/etc/zoomsymbl/smtp-ca/ca.crt{{ end }}
{{- end }}
