{{- define "zoomsymbl.commonConfigmap" -}}
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ include "zoomsymbl.fullname" . }}-config
  labels:
    {{- include "zoomsymbl.labels" . | nindent 4 }}
data:
  ZOOMSYMBL_KAFKA_BOOTSTRAP: {{ .Values.kafka.bootstrap | quote }}
  ZOOMSYMBL_KAFKA_TOPIC_PREFIX: {{ .Values.kafka.topicPrefix | quote }}
  ZOOMSYMBL_KAFKA_REQUEST_TIMEOUT_MS: {{ include "zoomsymbl.envValue" .Values.kafka.requestTimeoutMs | quote }}
  ZOOMSYMBL_MONGO_DATABASE: {{ .Values.mongo.database | quote }}
  ZOOMSYMBL_MONGO_TIMEOUT_MS: {{ include "zoomsymbl.envValue" .Values.mongo.timeoutMs | quote }}
  ZOOMSYMBL_MONGO_CA_FILE: {{ include "zoomsymbl.caFile" (dict "root" . "store" "mongo") | quote }}
  ZOOMSYMBL_S3_ENDPOINT: {{ .Values.s3.endpoint | quote }}
  ZOOMSYMBL_S3_SECURE: {{ .Values.s3.secure | toString | quote }}
  ZOOMSYMBL_S3_CA_FILE: {{ include "zoomsymbl.caFile" (dict "root" . "store" "s3") | quote }}
  ZOOMSYMBL_S3_REGION: {{ .Values.s3.region | quote }}
  ZOOMSYMBL_S3_BUCKET: {{ .Values.s3.bucket | quote }}
  ZOOMSYMBL_LOG_LEVEL: {{ .Values.logLevel | quote }}
  ZOOMSYMBL_TENANTS_FILE: {{ printf "%s/tenants.json" (include "zoomsymbl.tenantsDir" .) | quote }}
  {{- with .Values.otel.endpoint }}
  OTEL_EXPORTER_OTLP_ENDPOINT: {{ . | quote }}
  {{- end }}
  {{- /* Only when set: no empty path for the SDK to interpret (the system CAs are its default). */}}
  {{- with include "zoomsymbl.caFile" (dict "root" . "store" "otel") }}
  OTEL_EXPORTER_OTLP_CERTIFICATE: {{ . | quote }}
  {{- end }}
{{- end }}

{{/* The tenant secrets each component uses; every other secret field is blanked in its copy of the file. */}}
{{- define "zoomsymbl.tenantSecretsUsed" -}}
{{- $used := dict
  "ingest" (list "zoom_webhook_secret" "zoom_client_secret")
  "mixer" (list "zoom_client_secret")
  "submitter" (list "symbl_app_secret" "assemblyai_api_key")
  "notifier" (list "symbl_app_secret" "assemblyai_api_key" "llm_api_key")
  "transcriber" (list)
  "web" (list) -}}
{{- index $used . | join " " -}}
{{- end }}

{{/* The tenants file one component mounts: {"default_tenant": ..., "tenants": [...]}, empty default_tenant
left out, and the tenant secrets the component does not use blanked, so one pod holds only its own
(a leaked notifier pod has no Zoom credentials; no pod but ingest can sign a webhook). */}}
{{- define "zoomsymbl.tenantsJson" -}}
{{- $root := .root -}}
{{- $used := splitList " " (include "zoomsymbl.tenantSecretsUsed" .component) -}}
{{- $tenants := list -}}
{{- range $t := $root.Values.secrets.tenants.tenants }}
{{- $copy := deepCopy $t -}}
{{- range $field := list "zoom_webhook_secret" "zoom_client_secret" "symbl_app_secret" "assemblyai_api_key" "llm_api_key" }}
{{- if and (hasKey $copy $field) (not (has $field $used)) }}
{{- $_ := set $copy $field "" -}}
{{- end }}
{{- end }}
{{- $tenants = append $tenants $copy -}}
{{- end }}
{{- $doc := dict "tenants" $tenants -}}
{{- with $root.Values.secrets.tenants.default_tenant }}
{{- $_ := set $doc "default_tenant" . -}}
{{- end }}
{{- toPrettyJson $doc }}
{{- end }}

{{/* JSON list of every service's in-cluster /readyz URL (for the helm test pod). */}}
{{- define "zoomsymbl.readyzUrls" -}}
{{- $urls := list -}}
{{- range $c := splitList " " (include "zoomsymbl.components" $) }}
{{- $name := include "zoomsymbl.componentName" (dict "root" $ "component" $c) }}
{{- $urls = append $urls (printf "http://%s.%s.svc:%v/readyz" $name $.Release.Namespace (index $.Values $c).port) -}}
{{- end }}
{{- toJson $urls }}
{{- end }}
