{{/*
The two keys of the chart-managed Secret the chart may generate, as JSON {"callback-secret": ..., "page-key": ...}:
each the one given in values, else the one the Secret in the cluster holds (kept across upgrades: in-flight provider
callbacks were signed with the callback secret, every meeting-page link already e-mailed with the page key), else a
new random one. Worked out once per rendering and remembered in .Values (one map shared by every template of the
release), so that the Secret and the pods' checksum/secret annotation see the same keys.
*/}}
{{- define "zoomsymbl.secretKeys" -}}
{{- if not (hasKey .Values "zoomsymblSecretKeys") }}
{{- $existing := lookup "v1" "Secret" .Release.Namespace (include "zoomsymbl.secretName" .) }}
{{- $stored := dict }}
{{- if and $existing (index $existing "data") }}
{{- $stored = $existing.data }}
{{- end }}
{{- $keys := dict }}
{{- range $pair := list (list "callback-secret" .Values.secrets.callbackSecret) (list "page-key" .Values.secrets.pageKey) }}
{{- $key := index $pair 0 }}
{{- $value := index $pair 1 }}
{{- if not $value }}
{{- if hasKey $stored $key }}
{{- $value = index $stored $key | b64dec }}
{{- else }}
{{- $value = randAlphaNum 48 }}
{{- end }}
{{- end }}
{{- $_ := set $keys $key $value }}
{{- end }}
{{- $_ := set .Values "zoomsymblSecretKeys" $keys }}
{{- end }}
{{- toJson (index .Values "zoomsymblSecretKeys") }}
{{- end }}

{{/* The data of the chart-managed Secret (secrets.existingSecret empty): every credential, base64-encoded. */}}
{{- define "zoomsymbl.secretData" -}}
{{- $keys := include "zoomsymbl.secretKeys" . | fromJson -}}
mongo-uri: {{ .Values.secrets.mongoUri | b64enc | quote }}
s3-access-key: {{ .Values.secrets.s3AccessKey | b64enc | quote }}
s3-secret-key: {{ .Values.secrets.s3SecretKey | b64enc | quote }}
callback-secret: {{ index $keys "callback-secret" | b64enc | quote }}
smtp-password: {{ .Values.secrets.smtpPassword | b64enc | quote }}
page-key: {{ index $keys "page-key" | b64enc | quote }}
page-key-previous: {{ .Values.secrets.pageKeyPrevious | b64enc | quote }}
{{- range $c := list "ingest" "mixer" "submitter" "notifier" "transcriber" "web" }}
tenants-{{ $c }}.json: {{ include "zoomsymbl.tenantsJson" (dict "root" $ "component" $c) | b64enc | quote }}
{{- end }}
{{- end }}

{{/*
The pods' checksum/secret annotation, which rolls them when what they read from the Secret changes (env values are
read at start only). The chart-managed Secret: its data, generated keys included, so a Secret deleted by hand and
created again by `helm upgrade` with new keys rolls every pod (a checksum of the values alone stayed the same: old
pods kept the old keys, and pods restarted later took the new ones, so the notifier refused the callbacks the
submitter had signed and the web service the links the notifier had signed). An existingSecret: the values only
(its content is not the chart's to read; docs/operations.md, "Credentials").
*/}}
{{- define "zoomsymbl.secretChecksum" -}}
{{- if .Values.secrets.existingSecret }}
{{- toJson .Values.secrets | sha256sum }}
{{- else }}
{{- include "zoomsymbl.secretData" . | sha256sum }}
{{- end }}
{{- end }}
